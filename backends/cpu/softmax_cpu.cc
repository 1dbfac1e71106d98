// Row-wise softmax and log-softmax, numerically stable (shifted by the row max).
#include <cmath>
#include <cstring>

#include "backends/cpu/cpu_ops.h"
#include "backends/cpu/exp_cpu.h"
#include "backends/cpu/parallel.h"
#include "backends/cpu/vector_clones.h"

namespace tusk::backends::cpu {
namespace {

float row_max(const float* x, int64_t n) {
  float m = x[0];
#pragma omp simd reduction(max : m)
  for (int64_t i = 1; i < n; ++i) m = x[i] > m ? x[i] : m;
  return m;
}

// Sum of e^(row[c] - max), 16 lanes at a time, built for AVX-512, AVX2 and the baseline
// (the loader picks): greedy search runs it over a 256k-entry vocabulary row every step.
typedef float F16 __attribute__((vector_size(64)));
typedef int32_t I16 __attribute__((vector_size(64)));
TUSK_VECTOR_CLONES float sum_exp_shifted(const float* row, int64_t n,
                                                                                   float max) {
  F16 sum = F16{};
  int64_t c = 0;
  for (; c + 16 <= n; c += 16) {
    F16 v, e;
    std::memcpy(&v, row + c, sizeof v);
    v -= max;
    exp_nonpositive_lanes<F16, I16>(v, e);
    sum += e;
  }
  float total = exp_shifted(const_cast<float*>(row) + c, n - c, max, /*store=*/false);
  for (int l = 0; l < 16; ++l) total += sum[l];
  return total;
}

}  // namespace

float log_softmax_shift(const float* row, int64_t n, float max) { return max + std::log(sum_exp_shifted(row, n, max)); }

void softmax_rows(MutableMatrixView x, int threads) {
  const int64_t rows = x.rows, cols = x.cols;
  if (cols == 0) return;
#pragma omp parallel for num_threads(threads) if (worth_parallel(threads, rows * cols))
  for (int64_t r = 0; r < rows; ++r) {
    float* xr = x.data + r * x.ld;
    const float m = row_max(xr, cols);
    const float sum = exp_shifted(xr, cols, m, /*store=*/true);
    const float inv = 1.0f / sum;
    for (int64_t c = 0; c < cols; ++c) xr[c] *= inv;
  }
}

void log_softmax_rows(MutableMatrixView x, int threads) {
  const int64_t rows = x.rows, cols = x.cols;
  if (cols == 0) return;
#pragma omp parallel for num_threads(threads) if (worth_parallel(threads, rows * cols))
  for (int64_t r = 0; r < rows; ++r) {
    float* xr = x.data + r * x.ld;
    const float shift = log_softmax_shift(xr, cols, row_max(xr, cols));
    for (int64_t c = 0; c < cols; ++c) xr[c] -= shift;
  }
}

}  // namespace tusk::backends::cpu
