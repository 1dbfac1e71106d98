// CUDA kernels for linear layers: y = act(x @ w^T + bias) with weights in a stored layout
// (int8, int4, fp16: kernels/cuda/packed_math.h) or fp32, fp32 activations and accumulation,
// dequantized in the kernel (never a full fp32 copy of w). Decode-sized row counts run a
// GEMV-shaped kernel (a warp per output column, reading w once for all rows); larger ones a
// tiled GEMM. The grouped form runs many weight matrices in one launch, each on its own rows
// (a MoE layer's experts, tokens sorted by expert), reading and writing rows through index
// maps. Work is enqueued on `stream`; pointers are device memory.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

namespace tusk::kernels::cuda {

struct WeightsView {
  int layout;  // kLayoutInt8, kLayoutInt4, kLayoutF16 or kLayoutF32 (packed_math.h)
  const void* data;
  const float* scales;  // [n, k / group]; null for F16 and F32
  int64_t n, k, group;
};

// One weight matrix of a grouped call and its positions [begin, begin + rows).
struct LinearGroup {
  WeightsView w;
  const float* bias;  // [w.n] or null
  int64_t begin, rows;
};

// Position p reads x row (in ? in[p] : p) and writes y row (out ? out[p] : p).
struct RowMaps {
  const int64_t* in;
  const int64_t* out;
};

// Rows up to which the GEMV-shaped kernel runs (each warp keeps one sum per row).
constexpr int64_t kGemvMaxRows = 8;

// One launch's limits (grid dimensions y and z): groups, and rows of one group. Callers check.
constexpr int64_t kMaxGroups = 65535;
constexpr int64_t kMaxGroupRows = 65535 * 64;

// The arithmetic of the GEMM-shaped products: fp32 FMAs, or activations and dequantized
// weights rounded to fp16 / bf16 and multiplied on tensor cores (fp32 accumulation). The
// GEMV-shaped kernel (memory-bound) always computes in fp32. fp16 holds magnitudes up to
// 65504 (larger activations become infinite); bf16 has fp32's range with 8 bits of mantissa.
enum class Precision { F32, F16, BF16 };

// y[m, w.n] = act(x[m, w.k] @ w^T + bias).
void linear(cudaStream_t stream, const WeightsView& w, const float* x, int64_t m, int64_t ldx,
            const float* bias, bool relu, float* y, int64_t ldy, Precision precision = Precision::F32);

// Every group in one launch. groups: a device array of count groups; host_groups: the same on
// the host (for the launch shape).
void grouped_linear(cudaStream_t stream, const LinearGroup* groups, const LinearGroup* host_groups, int64_t count,
                    RowMaps maps, const float* x, int64_t ldx, bool relu, float* y, int64_t ldy,
                    Precision precision = Precision::F32);

// out[k] = row `row` of w in fp32.
void dequantize_row(cudaStream_t stream, const WeightsView& w, int64_t row, float* out);

}  // namespace tusk::kernels::cuda
