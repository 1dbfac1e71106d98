#include "backends/host_ops.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

namespace tusk::backends::host {

void route_top2(MatrixView logits, ExpertRoute* routes) {
  const int64_t E = logits.cols;
  for (int64_t t = 0; t < logits.rows; ++t) {
    const float* l = logits.data + t * logits.ld;
    int64_t e1 = 0;
    for (int64_t e = 1; e < E; ++e)
      if (l[e] > l[e1]) e1 = e;
    int64_t e2 = -1;
    for (int64_t e = 0; e < E; ++e)
      if (e != e1 && (e2 < 0 || l[e] > l[e2])) e2 = e;
    // softmax's denominator relative to the first pick, so p1 = 1 / sum.
    float sum = 0.0f;
    for (int64_t e = 0; e < E; ++e) sum += std::exp(l[e] - l[e1]);
    const float p1 = 1.0f / sum, p2 = std::exp(l[e2] - l[e1]) / sum;
    const float den = std::max(p1 + p2, std::numeric_limits<float>::epsilon());
    routes[t] = {{static_cast<int32_t>(e1), static_cast<int32_t>(e2)}, {p1 / den, p2 / den}};
  }
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
