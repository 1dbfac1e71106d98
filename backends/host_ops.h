// Work every backend does on the host, on values the host reads back anyway: top-2 routing
// (paging decides on the host, so the router's logits come back) and the merge of each row's
// best tokens into beam candidates per sentence.
#pragma once

#include <cmath>
#include <cstdint>

#include "backends/backend.h"
#include "common/host_device.h"

namespace tusk::backends::host {

// Backend::route_top2's contract over host logits.
void route_top2(MatrixView logits, ExpertRoute* routes);

// Backend::edit_scores's rule on host memory (the CPU backend's, and the reference for others).
void edit_scores(MutableMatrixView x, const ScoreEdit* edits, int64_t count);
// One entry's edit; host/device, so the CUDA kernel applies the same rule.
TUSK_HOST_DEVICE float edited_score(float value, float penalty) {
  if (penalty == 0.0f) return -INFINITY;
  return value > 0.0f ? value / penalty : value * penalty;
}

// Beam candidates from each row's own best entries: row r (of `rows`) offers row_counts[r]
// pairs (row_values, row_columns)[r * row_k ...], best first. For each group (rows
// [group_begin[g], group_begin[g + 1])), the min(k, offered) best base[row] + value, in
// descending score, into out[g * k ...], their number into counts[g]. A group's best k are
// among its rows' best k each, so row_k = min(k, cols) gives Backend::top_k's answer.
void merge_row_top_k(const float* row_values, const int32_t* row_columns, const int32_t* row_counts,
                     int row_k, const double* base, const int64_t* group_begin, int64_t groups, int k,
                     BeamCandidate* out, int64_t* counts);

}  // namespace tusk::backends::host
