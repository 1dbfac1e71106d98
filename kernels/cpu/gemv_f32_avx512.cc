// gemv_f32 on AVX-512: four weight rows at a time, one 16-float chunk of each per step, each
// multiplied into every row of x (m <= 4, so 16 accumulators at most); masked loads for the
// tail of k. Memory-bound: a step reads 256 bytes of weights for 4*m FMAs.
#include "kernels/cpu/immintrin_avx512.h"  // first: see there

#include <omp.h>

#include <algorithm>

#include "kernels/cpu/gemv_f32.h"

namespace tusk::kernels {
namespace {

constexpr int64_t kRowsPerTask = 64;                  // weight rows a thread takes at a time
constexpr int64_t kMinParallelWeights = int64_t{1} << 18;  // below: one thread

template <int M, int R>
void dot_rows(const float* const* x, const float* w, int64_t k, float out[M][R]) {
  __m512 acc[M][R];
  for (int i = 0; i < M; ++i)
    for (int r = 0; r < R; ++r) acc[i][r] = _mm512_setzero_ps();
  int64_t c = 0;
  for (; c + 16 <= k; c += 16) {
    __m512 wv[R];
    for (int r = 0; r < R; ++r) wv[r] = _mm512_loadu_ps(w + r * k + c);
    for (int i = 0; i < M; ++i) {
      const __m512 xv = _mm512_loadu_ps(x[i] + c);
      for (int r = 0; r < R; ++r) acc[i][r] = _mm512_fmadd_ps(xv, wv[r], acc[i][r]);
    }
  }
  if (c < k) {
    const __mmask16 mask = static_cast<__mmask16>((1u << (k - c)) - 1u);
    __m512 wv[R];
    for (int r = 0; r < R; ++r) wv[r] = _mm512_maskz_loadu_ps(mask, w + r * k + c);
    for (int i = 0; i < M; ++i) {
      const __m512 xv = _mm512_maskz_loadu_ps(mask, x[i] + c);
      for (int r = 0; r < R; ++r) acc[i][r] = _mm512_fmadd_ps(xv, wv[r], acc[i][r]);
    }
  }
  for (int i = 0; i < M; ++i)
    for (int r = 0; r < R; ++r) out[i][r] = _mm512_reduce_add_ps(acc[i][r]);
}

template <int M>
void rows(const float* x, int64_t ld_x, const float* w, int64_t k, const float* bias, bool relu,
          float* y, int64_t ld_y, int64_t j0, int64_t j1) {
  const float* xs[M];
  for (int i = 0; i < M; ++i) xs[i] = x + i * ld_x;
  auto store = [&](int64_t j, int i, float v) {
    if (bias) v += bias[j];
    y[i * ld_y + j] = relu ? std::max(v, 0.0f) : v;
  };
  int64_t j = j0;
  for (; j + 4 <= j1; j += 4) {
    float out[M][4];
    dot_rows<M, 4>(xs, w + j * k, k, out);
    for (int i = 0; i < M; ++i)
      for (int r = 0; r < 4; ++r) store(j + r, i, out[i][r]);
  }
  for (; j < j1; ++j) {
    float out[M][1];
    dot_rows<M, 1>(xs, w + j * k, k, out);
    for (int i = 0; i < M; ++i) store(j, i, out[i][0]);
  }
}

template <int M>
void run(const float* x, int64_t ld_x, const float* w, int64_t n, int64_t k, const float* bias,
         bool relu, float* y, int64_t ld_y, int threads) {
  const int64_t tasks = (n + kRowsPerTask - 1) / kRowsPerTask;
  const bool parallel = threads > 1 && n * k >= kMinParallelWeights;
#pragma omp parallel for num_threads(threads) schedule(static) if (parallel)
  for (int64_t t = 0; t < tasks; ++t)
    rows<M>(x, ld_x, w, k, bias, relu, y, ld_y, t * kRowsPerTask, std::min(n, (t + 1) * kRowsPerTask));
}

}  // namespace

bool gemv_f32_avx512(const float* x, int64_t m, int64_t ld_x, const float* w, int64_t n,
                     int64_t k, const float* bias, bool relu, float* y, int64_t ld_y, int threads) {
  switch (m) {
    case 1: run<1>(x, ld_x, w, n, k, bias, relu, y, ld_y, threads); return true;
    case 2: run<2>(x, ld_x, w, n, k, bias, relu, y, ld_y, threads); return true;
    case 3: run<3>(x, ld_x, w, n, k, bias, relu, y, ld_y, threads); return true;
    case 4: run<4>(x, ld_x, w, n, k, bias, relu, y, ld_y, threads); return true;
    default: return false;
  }
}

}  // namespace tusk::kernels
