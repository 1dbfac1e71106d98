// Row-wise elementwise ops: residual add and layer norm.
#include <cmath>

#include "backends/cpu/cpu_ops.h"
#include "backends/cpu/parallel.h"

namespace tusk::backends::cpu {

void add_scaled(MatrixView x, float alpha, MutableMatrixView y, int threads) {
  const int64_t rows = y.rows, cols = y.cols;
#pragma omp parallel for num_threads(threads) if (worth_parallel(threads, rows * cols))
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x.data + r * x.ld;
    float* yr = y.data + r * y.ld;
    for (int64_t c = 0; c < cols; ++c) yr[c] += xr[c] * alpha;
  }
}

// Two passes (mean, then variance of the centred values) like PyTorch, which avoids the
// cancellation of the one-pass E[x^2] - E[x]^2 formula. x and y may be the same matrix.
void layer_norm(MatrixView x, const float* gamma, const float* beta, float eps,
                MutableMatrixView y, int threads) {
  const int64_t rows = y.rows, cols = y.cols;
  const float inv_cols = 1.0f / static_cast<float>(cols);
#pragma omp parallel for num_threads(threads) if (worth_parallel(threads, rows * cols))
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x.data + r * x.ld;
    float* yr = y.data + r * y.ld;
    float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
    for (int64_t c = 0; c < cols; ++c) sum += xr[c];
    const float mean = sum * inv_cols;
    float sq = 0.0f;
#pragma omp simd reduction(+ : sq)
    for (int64_t c = 0; c < cols; ++c) {
      const float d = xr[c] - mean;
      sq += d * d;
    }
    const float rstd = 1.0f / std::sqrt(sq * inv_cols + eps);
    for (int64_t c = 0; c < cols; ++c) yr[c] = (xr[c] - mean) * rstd * gamma[c] + beta[c];
  }
}

}  // namespace tusk::backends::cpu
