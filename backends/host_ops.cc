#include "backends/host_ops.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "backends/routing.h"

namespace tusk::backends::host {

void route_top2(MatrixView logits, ExpertRoute* routes) {
  for (int64_t t = 0; t < logits.rows; ++t) routes[t] = route_top2_row(logits.data + t * logits.ld, logits.cols);
}

void edit_scores(MutableMatrixView x, const ScoreEdit* edits, int64_t count) {
  for (int64_t i = 0; i < count; ++i) {
    float& v = x.data[edits[i].row * x.ld + edits[i].column];
    v = edited_score(v, edits[i].penalty);
  }
}

void merge_row_top_k(const float* row_values, const int32_t* row_columns, const int32_t* row_counts,
                     int row_k, const double* base, const int64_t* group_begin, int64_t groups, int k,
                     BeamCandidate* out, int64_t* counts) {
  std::vector<BeamCandidate> candidates;
  for (int64_t g = 0; g < groups; ++g) {
    candidates.clear();
    for (int64_t r = group_begin[g]; r < group_begin[g + 1]; ++r)
      for (int32_t i = 0; i < row_counts[r]; ++i) {
        const float value = row_values[r * row_k + i];
        candidates.push_back({base[r] + value, static_cast<int32_t>(r), row_columns[r * row_k + i], value});
      }
    const size_t keep = std::min(candidates.size(), static_cast<size_t>(k));
    std::partial_sort(candidates.begin(), candidates.begin() + keep, candidates.end(),
                      [](const BeamCandidate& a, const BeamCandidate& b) { return a.score > b.score; });
    std::copy(candidates.begin(), candidates.begin() + keep, out + g * k);
    counts[g] = static_cast<int64_t>(keep);
  }
}

}  // namespace tusk::backends::host
