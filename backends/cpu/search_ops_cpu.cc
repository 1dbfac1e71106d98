// What search reads from the log-probabilities: each row's best token (greedy) and each
// sentence's best extensions (beam).
#include <algorithm>
#include <limits>

#include "backends/cpu/cpu_ops.h"

namespace tusk::backends::cpu {

// Why lanes: greedy search runs this over a vocabulary row at every step, and one running
// best chains each compare on the load of row[best] (~7 cycles a value, 5% of a batch-1
// translation). kLanes independent running bests, each keeping its first maximum, then the
// best lane (ties: the lower index) give the same index without that chain.
int32_t first_argmax(const float* row, int64_t n) {
  constexpr int kLanes = 16;
  float value[kLanes];
  int32_t index[kLanes];
  for (int l = 0; l < kLanes; ++l) {
    value[l] = -std::numeric_limits<float>::infinity();
    index[l] = -1;
  }
  int64_t v = 0;
  for (; v + kLanes <= n; v += kLanes)
    for (int l = 0; l < kLanes; ++l)
      if (row[v + l] > value[l]) {
        value[l] = row[v + l];
        index[l] = static_cast<int32_t>(v + l);
      }
  int32_t best = -1;
  float best_value = -std::numeric_limits<float>::infinity();
  for (int l = 0; l < kLanes; ++l)
    if (index[l] >= 0 && (value[l] > best_value || (value[l] == best_value && index[l] < best))) {
      best_value = value[l];
      best = index[l];
    }
  for (; v < n; ++v)  // the tail comes after every lane's candidates
    if (row[v] > best_value) {
      best_value = row[v];
      best = static_cast<int32_t>(v);
    }
  return best < 0 ? 0 : best;  // all -inf: the first
}

void top_k(MatrixView x, const double* base, const int64_t* group_begin, int64_t groups, int k,
           BeamCandidate* out, int64_t* counts, std::vector<Candidate>& cands) {
  for (int64_t g = 0; g < groups; ++g) {
    cands.clear();
    for (int64_t r = group_begin[g]; r < group_begin[g + 1]; ++r) {
      const float* row = x.data + r * x.ld;
      for (int64_t v = 0; v < x.cols; ++v)
        cands.push_back({base[r] + row[v], static_cast<int32_t>(r), static_cast<int32_t>(v)});
    }
    const size_t keep = std::min(cands.size(), static_cast<size_t>(k));
    std::partial_sort(cands.begin(), cands.begin() + keep, cands.end(),
                      [](const Candidate& a, const Candidate& b) { return a.score > b.score; });
    for (size_t c = 0; c < keep; ++c)
      out[g * k + c] = {cands[c].score, cands[c].row, cands[c].token,
                        x.data[cands[c].row * x.ld + cands[c].token]};
    counts[g] = static_cast<int64_t>(keep);
  }
}

}  // namespace tusk::backends::cpu
