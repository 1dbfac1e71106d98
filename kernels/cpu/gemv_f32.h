// Decode-sized products with fp32 weights: y[m, n] = act(x[m, k] @ w^T + bias) for m <= 4,
// w [n, k] row-major (rows k floats apart), each weight row streamed once for all m rows of x.
// Why: at m = 1 a general GEMM library reads transposed fp32 weights well below memory speed
// (oneDNN 2.6: ~0.8x of CTranslate2 on NLLB-200's 256k-row output projection, bench/peers.py),
// and at batch 1 the weights' bytes are the whole cost.
#pragma once

#include <cstdint>

#include "kernels/cpu/quantized_linear.h"

namespace tusk::kernels {

// Computes the product and returns true when `isa` has this kernel (Avx512 and up) and
// 1 <= m <= 4; otherwise returns false without touching y, and the caller takes its general
// path. bias may be null; only y[i][0..n) is written. The summation order differs from a
// GEMM library's: results agree to fp32 rounding, not bit for bit. Uses up to `threads`
// OpenMP threads when the product is large enough. Reentrant.
bool gemv_f32(Isa isa, const float* x, int64_t m, int64_t ld_x, const float* w, int64_t n,
              int64_t k, const float* bias, bool relu, float* y, int64_t ld_y, int threads);

}  // namespace tusk::kernels
