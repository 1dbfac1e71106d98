// What search reads from the log-probabilities: each row's best token (greedy) and each
// sentence's best extensions (beam).
#include <algorithm>
#include <cstring>
#include <limits>

#include "backends/cpu/cpu_ops.h"
#include "backends/cpu/vector_clones.h"

namespace tusk::backends::cpu {

// Why lanes: greedy search runs this over a vocabulary row at every step, and one running
// best chains each compare on the load of row[best] (~7 cycles a value, 5% of a batch-1
// translation). kLanes independent running bests, each keeping its first maximum, then the
// best lane (ties: the lower index) give the same index without that chain. The lanes are one
// vector (GCC/Clang vector extensions, built for AVX-512, AVX2 and the baseline): as 16
// scalars the compiler kept a compare and branch per value.
TUSK_VECTOR_CLONES int32_t first_argmax(const float* row, int64_t n) {
  constexpr int kLanes = 16;
  typedef float F16 __attribute__((vector_size(64)));
  typedef int32_t I16 __attribute__((vector_size(64)));
  F16 lanes_value = F16{} - std::numeric_limits<float>::infinity();
  I16 lanes_index = I16{} - 1;
  I16 at = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};
  int64_t v = 0;
  for (; v + kLanes <= n; v += kLanes, at += kLanes) {
    F16 x;
    std::memcpy(&x, row + v, sizeof x);
    const I16 better = x > lanes_value;
    lanes_value = better ? x : lanes_value;
    lanes_index = better ? at : lanes_index;
  }
  float value[kLanes];
  int32_t index[kLanes];
  std::memcpy(value, &lanes_value, sizeof value);
  std::memcpy(index, &lanes_index, sizeof index);
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

// Two read-only passes a row (the best token and the row max, then the sum of exponentials)
// instead of log_softmax's three plus a write and argmax's fourth: at a 256k vocabulary each
// pass streams 1 MB a row.
void argmax_log_softmax(MatrixView logits, int64_t excluded, int32_t* ids, float* logprobs, int threads) {
  const int64_t cols = logits.cols;
  const float kNegInf = -std::numeric_limits<float>::infinity();
#pragma omp parallel for num_threads(threads) if (threads > 1 && logits.rows > 1 && cols >= 4096)
  for (int64_t r = 0; r < logits.rows; ++r) {
    const float* row = logits.data + r * logits.ld;
    // The first maximum left of `excluded`, then right of it; the left one wins ties.
    int32_t best = -1;
    float best_value = kNegInf;
    const int64_t left = excluded >= 0 && excluded < cols ? excluded : cols;
    if (left > 0) {
      const int32_t id = first_argmax(row, left);
      if (row[id] > kNegInf) best = id, best_value = row[id];
    }
    if (left + 1 < cols) {
      const int32_t id = static_cast<int32_t>(left + 1 + first_argmax(row + left + 1, cols - left - 1));
      if (row[id] > best_value) best = id, best_value = row[id];
    }
    ids[r] = best < 0 ? 0 : best;
    if (cols == 0) {
      logprobs[r] = kNegInf;
      continue;
    }
    const float max = left < cols && row[left] > best_value ? row[left] : best_value;
    logprobs[r] = row[ids[r]] - log_softmax_shift(row, cols, max);
  }
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
