#include "kernels/cuda/quantized_linear.h"

#include "kernels/cuda/packed_math.h"

namespace tusk::kernels::cuda {
namespace {

constexpr int kWarp = 32;
constexpr int kGemvWarps = 8;  // output columns per GEMV block

__device__ __forceinline__ float warp_sum(float v) {
  for (int offset = kWarp / 2; offset > 0; offset /= 2) v += __shfl_down_sync(0xffffffffu, v, offset);
  return v;
}

// One warp per output column: its lanes walk the weight row in 32-bit words (a warp reads
// 128 contiguous bytes at a time), dequantize in registers and keep one sum per row of x.
template <int kLayout, int kRows>
__global__ void gemv_kernel(PackedWeightsView w, const float* __restrict__ x, int64_t m, int64_t ldx,
                            const float* __restrict__ bias, bool relu, float* __restrict__ y, int64_t ldy) {
  const int lane = threadIdx.x % kWarp;
  const int64_t col = static_cast<int64_t>(blockIdx.x) * kGemvWarps + threadIdx.x / kWarp;
  if (col >= w.n) return;
  float acc[kRows];
#pragma unroll
  for (int r = 0; r < kRows; ++r) acc[r] = 0.0f;
  const int64_t k = w.k;
  if (kLayout == 2) {  // F16: any k, one column per lane step
    const uint16_t* row = static_cast<const uint16_t*>(w.data) + col * k;
    for (int64_t c = lane; c < k; c += kWarp) {
      const float v = half_bits_to_float(row[c]);
#pragma unroll
      for (int r = 0; r < kRows; ++r)
        if (r < m) acc[r] += v * x[r * ldx + c];
    }
  } else {
    const int cols_per_word = kLayout == 1 ? kInt4ColsPerWord : kInt8ColsPerWord;
    const int64_t words = k / cols_per_word;
    const uint32_t* row = static_cast<const uint32_t*>(w.data) + col * words;
    const float* scales = w.scales + col * (k / w.group);
    for (int64_t wi = lane; wi < words; wi += kWarp) {
      const uint32_t word = row[wi];
      if (kLayout == 1) {
        const int64_t c0 = int4_word_column(wi, 0);  // the word's columns share a group
        const float s = scales[c0 / w.group];
        float q[8];
#pragma unroll
        for (int t = 0; t < 8; ++t) q[t] = static_cast<float>(int4_word_value(word, t)) * s;
#pragma unroll
        for (int r = 0; r < kRows; ++r) {
          if (r >= m) break;
          const float* xr = x + r * ldx + c0;
          float sum = 0.0f;
#pragma unroll
          for (int t = 0; t < 8; ++t) sum += q[t] * xr[8 * t];
          acc[r] += sum;
        }
      } else {
        const int64_t c0 = wi * kInt8ColsPerWord;
        const float s = scales[c0 / w.group];
        float q[4];
#pragma unroll
        for (int l = 0; l < 4; ++l) q[l] = static_cast<float>(int8_word_value(word, l)) * s;
#pragma unroll
        for (int r = 0; r < kRows; ++r) {
          if (r >= m) break;
          const float* xr = x + r * ldx + c0;
          acc[r] += q[0] * xr[0] + q[1] * xr[1] + q[2] * xr[2] + q[3] * xr[3];
        }
      }
    }
  }
#pragma unroll
  for (int r = 0; r < kRows; ++r) {
    const float total = warp_sum(acc[r]);
    if (lane == 0 && r < m) {
      float v = total + (bias ? bias[col] : 0.0f);
      y[r * ldy + col] = relu ? fmaxf(v, 0.0f) : v;
    }
  }
}

// Tiled GEMM: a 64x64 tile of y per block, 256 threads with 4x4 outputs each; x and the
// dequantized weights pass through shared memory 32 columns of k at a time.
constexpr int kTileM = 64, kTileN = 64, kTileK = 32, kGemmThreads = 256;

__global__ void gemm_kernel(PackedWeightsView w, const float* __restrict__ x, int64_t m, int64_t ldx,
                            const float* __restrict__ bias, bool relu, float* __restrict__ y, int64_t ldy) {
  __shared__ float xs[kTileK][kTileM + 1];
  __shared__ float ws[kTileK][kTileN + 1];
  const int tid = threadIdx.x;
  const int tx = tid % 16, ty = tid / 16;
  const int64_t row0 = static_cast<int64_t>(blockIdx.y) * kTileM;
  const int64_t col0 = static_cast<int64_t>(blockIdx.x) * kTileN;
  float acc[4][4] = {};
  for (int64_t k0 = 0; k0 < w.k; k0 += kTileK) {
    for (int e = tid; e < kTileM * kTileK; e += kGemmThreads) {
      const int i = e / kTileK, kk = e % kTileK;
      const int64_t r = row0 + i, c = k0 + kk;
      xs[kk][i] = r < m && c < w.k ? x[r * ldx + c] : 0.0f;
      const int64_t n = col0 + i;
      ws[kk][i] = n < w.n && c < w.k ? packed_value(w.layout, w.data, w.scales, w.k, w.group, n, c) : 0.0f;
    }
    __syncthreads();
#pragma unroll 8
    for (int kk = 0; kk < kTileK; ++kk) {
      float a[4], b[4];
#pragma unroll
      for (int i = 0; i < 4; ++i) a[i] = xs[kk][ty + 16 * i];
#pragma unroll
      for (int j = 0; j < 4; ++j) b[j] = ws[kk][tx + 16 * j];
#pragma unroll
      for (int i = 0; i < 4; ++i)
#pragma unroll
        for (int j = 0; j < 4; ++j) acc[i][j] += a[i] * b[j];
    }
    __syncthreads();
  }
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    const int64_t r = row0 + ty + 16 * i;
    if (r >= m) continue;
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      const int64_t n = col0 + tx + 16 * j;
      if (n >= w.n) continue;
      const float v = acc[i][j] + (bias ? bias[n] : 0.0f);
      y[r * ldy + n] = relu ? fmaxf(v, 0.0f) : v;
    }
  }
}

template <int kLayout>
void launch_gemv(cudaStream_t stream, const PackedWeightsView& w, const float* x, int64_t m,
                 int64_t ldx, const float* bias, bool relu, float* y, int64_t ldy) {
  const dim3 grid(static_cast<unsigned>((w.n + kGemvWarps - 1) / kGemvWarps));
  const dim3 block(kGemvWarps * kWarp);
  if (m <= 1)
    gemv_kernel<kLayout, 1><<<grid, block, 0, stream>>>(w, x, m, ldx, bias, relu, y, ldy);
  else if (m <= 4)
    gemv_kernel<kLayout, 4><<<grid, block, 0, stream>>>(w, x, m, ldx, bias, relu, y, ldy);
  else
    gemv_kernel<kLayout, kGemvMaxRows><<<grid, block, 0, stream>>>(w, x, m, ldx, bias, relu, y, ldy);
}

__global__ void dequantize_row_kernel(PackedWeightsView w, int64_t row, float* out) {
  for (int64_t c = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; c < w.k;
       c += static_cast<int64_t>(gridDim.x) * blockDim.x)
    out[c] = packed_value(w.layout, w.data, w.scales, w.k, w.group, row, c);
}

}  // namespace

void packed_linear(cudaStream_t stream, const PackedWeightsView& w, const float* x, int64_t m,
                   int64_t ldx, const float* bias, bool relu, float* y, int64_t ldy) {
  if (m <= 0 || w.n <= 0) return;
  if (m <= kGemvMaxRows) {
    switch (w.layout) {
      case 0: return launch_gemv<0>(stream, w, x, m, ldx, bias, relu, y, ldy);
      case 1: return launch_gemv<1>(stream, w, x, m, ldx, bias, relu, y, ldy);
      default: return launch_gemv<2>(stream, w, x, m, ldx, bias, relu, y, ldy);
    }
  }
  const dim3 grid(static_cast<unsigned>((w.n + kTileN - 1) / kTileN),
                  static_cast<unsigned>((m + kTileM - 1) / kTileM));
  gemm_kernel<<<grid, kGemmThreads, 0, stream>>>(w, x, m, ldx, bias, relu, y, ldy);
}

void dequantize_row(cudaStream_t stream, const PackedWeightsView& w, int64_t row, float* out) {
  const unsigned blocks = static_cast<unsigned>((w.k + 255) / 256);
  dequantize_row_kernel<<<blocks, 256, 0, stream>>>(w, row, out);
}

}  // namespace tusk::kernels::cuda
