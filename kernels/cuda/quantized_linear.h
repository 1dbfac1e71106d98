// CUDA kernels for linear layers with packed weights (int8, int4, fp16 in their stored
// layouts, kernels/cuda/packed_math.h): y[m, n] = act(x[m, k] @ dequant(w)^T + bias), fp32
// activations and accumulation, dequantized in the kernel (never a full fp32 copy of w).
// Decode-sized m runs a GEMV-shaped kernel (a warp per output column, reading w once for
// every row of x); larger m a tiled GEMM. Enqueued on `stream`; pointers are device memory.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

namespace tusk::kernels::cuda {

struct PackedWeightsView {
  int layout;  // weight_layout::Layout's value: 0 Int8, 1 Int4, 2 F16
  const void* data;
  const float* scales;  // [n, k / group]; null for F16
  int64_t n, k, group;
};

// Rows of x up to which the GEMV-shaped kernel runs (each warp keeps one sum per row).
constexpr int64_t kGemvMaxRows = 8;

void packed_linear(cudaStream_t stream, const PackedWeightsView& w, const float* x, int64_t m,
                   int64_t ldx, const float* bias, bool relu, float* y, int64_t ldy);

// out[k] = row `row` of w in fp32.
void dequantize_row(cudaStream_t stream, const PackedWeightsView& w, int64_t row, float* out);

}  // namespace tusk::kernels::cuda
