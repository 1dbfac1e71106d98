#include "kernels/cuda/quantized_linear.h"

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <mma.h>

#include "kernels/cuda/packed_math.h"

namespace tusk::kernels::cuda {
namespace {

constexpr int kWarp = 32;
constexpr int kGemvWarps = 8;  // output columns per GEMV block

__device__ __forceinline__ float warp_sum(float v) {
  for (int offset = kWarp / 2; offset > 0; offset /= 2) v += __shfl_down_sync(0xffffffffu, v, offset);
  return v;
}

// Where a block finds its group: one group passed by value (a plain linear), or a device
// array indexed by blockIdx.z (a grouped call).
struct OneGroup {
  LinearGroup group;
  __device__ const LinearGroup& get() const { return group; }
};
struct GroupArray {
  const LinearGroup* groups;
  __device__ const LinearGroup& get() const { return groups[blockIdx.z]; }
};

__device__ __forceinline__ int64_t map_row(const int64_t* map, int64_t p) { return map ? map[p] : p; }

__device__ __forceinline__ void store(float* y, int64_t ldy, const int64_t* out_map, int64_t p, int64_t col,
                                      float v, const float* bias, bool relu) {
  v += bias ? bias[col] : 0.0f;
  y[map_row(out_map, p) * ldy + col] = relu ? fmaxf(v, 0.0f) : v;
}

// One warp per output column: its lanes walk the weight row in 32-bit words (a warp reads
// 128 contiguous bytes at a time), dequantize in registers and keep one sum per row.
template <int kLayout, int kRows, class Groups>
__global__ void gemv_kernel(Groups groups, RowMaps maps, const float* __restrict__ x, int64_t ldx, bool relu,
                            float* __restrict__ y, int64_t ldy) {
  const LinearGroup& g = groups.get();
  const WeightsView& w = g.w;
  const int lane = threadIdx.x % kWarp;
  const int64_t col = static_cast<int64_t>(blockIdx.x) * kGemvWarps + threadIdx.x / kWarp;
  if (col >= w.n || g.rows == 0) return;
  const int64_t m = g.rows;
  const float* xr[kRows];
#pragma unroll
  for (int r = 0; r < kRows; ++r) xr[r] = r < m ? x + map_row(maps.in, g.begin + r) * ldx : x;
  float acc[kRows];
#pragma unroll
  for (int r = 0; r < kRows; ++r) acc[r] = 0.0f;
  const int64_t k = w.k;
  if (kLayout == kLayoutF16 || kLayout == kLayoutF32) {  // any k, one column per lane step
    for (int64_t c = lane; c < k; c += kWarp) {
      const float v = kLayout == kLayoutF32 ? static_cast<const float*>(w.data)[col * k + c]
                                            : half_bits_to_float(static_cast<const uint16_t*>(w.data)[col * k + c]);
#pragma unroll
      for (int r = 0; r < kRows; ++r)
        if (r < m) acc[r] += v * xr[r][c];
    }
  } else {
    const int64_t words = k / (kLayout == kLayoutInt4 ? kInt4ColsPerWord : kInt8ColsPerWord);
    const uint32_t* row = static_cast<const uint32_t*>(w.data) + col * words;
    const float* scales = w.scales + col * (k / w.group);
    for (int64_t wi = lane; wi < words; wi += kWarp) {
      const uint32_t word = row[wi];
      if (kLayout == kLayoutInt4) {
        const int64_t c0 = int4_word_column(wi, 0);  // the word's 8 columns share a group
        const float s = scales[c0 / w.group];
        float q[8];
#pragma unroll
        for (int t = 0; t < 8; ++t) q[t] = static_cast<float>(int4_word_value(word, t)) * s;
#pragma unroll
        for (int r = 0; r < kRows; ++r) {
          if (r >= m) break;
          float sum = 0.0f;
#pragma unroll
          for (int t = 0; t < 8; ++t) sum += q[t] * xr[r][c0 + 8 * t];
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
          const float* xc = xr[r] + c0;
          acc[r] += q[0] * xc[0] + q[1] * xc[1] + q[2] * xc[2] + q[3] * xc[3];
        }
      }
    }
  }
#pragma unroll
  for (int r = 0; r < kRows; ++r) {
    const float total = warp_sum(acc[r]);
    if (lane == 0 && r < m) store(y, ldy, maps.out, g.begin + r, col, total, g.bias, relu);
  }
}

// Tiled GEMM: a 64x64 tile of y per block (blockIdx.y: which 64 rows of the group), 256
// threads with 4x4 outputs each; x and the dequantized weights pass through shared memory 32
// columns of k at a time.
constexpr int kTileM = 64, kTileN = 64, kTileK = 32, kGemmThreads = 256;

template <class Groups>
__global__ void gemm_kernel(Groups groups, RowMaps maps, const float* __restrict__ x, int64_t ldx, bool relu,
                            float* __restrict__ y, int64_t ldy) {
  __shared__ float xs[kTileK][kTileM + 1];
  __shared__ float ws[kTileK][kTileN + 1];
  const LinearGroup& g = groups.get();
  const WeightsView& w = g.w;
  const int64_t row0 = static_cast<int64_t>(blockIdx.y) * kTileM;
  const int64_t col0 = static_cast<int64_t>(blockIdx.x) * kTileN;
  if (row0 >= g.rows || col0 >= w.n) return;  // the whole block: no barrier is skipped by some
  const int tid = threadIdx.x;
  const int tx = tid % 16, ty = tid / 16;
  float acc[4][4] = {};
  for (int64_t k0 = 0; k0 < w.k; k0 += kTileK) {
    const TileReader tile = tile_reader(w.layout, w.data, w.scales, w.k, w.group, k0);
    for (int e = tid; e < kTileM * kTileK; e += kGemmThreads) {
      const int i = e / kTileK, kk = e % kTileK;
      const int64_t r = row0 + i, c = k0 + kk;
      xs[kk][i] = r < g.rows && c < w.k ? x[map_row(maps.in, g.begin + r) * ldx + c] : 0.0f;
      const int64_t n = col0 + i;
      ws[kk][i] = n < w.n && c < w.k ? tile.value(n, c, tile.scale(n)) : 0.0f;
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
    if (r >= g.rows) continue;
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      const int64_t n = col0 + tx + 16 * j;
      if (n < w.n) store(y, ldy, maps.out, g.begin + r, n, acc[i][j], g.bias, relu);
    }
  }
}

// Tensor-core GEMM (fp16 or bf16 inputs, fp32 accumulation): a 64x64 tile of y per block,
// four warps with 32x32 each (2x2 WMMA 16x16x16 fragments); x and the dequantized weights are
// rounded to T on their way into shared memory, 32 columns of k at a time; the tile goes back
// through shared memory for the bias, ReLU and the row map.
constexpr int kTcTile = 64, kTcK = 32, kTcThreads = 128;
constexpr int kTcLd = kTcK + 8;       // T elements: rows 80 bytes apart, fragments 32-byte aligned
constexpr int kTcOutLd = kTcTile + 4;  // floats

template <typename T>
__device__ __forceinline__ T round_to(float v);
template <>
__device__ __forceinline__ half round_to<half>(float v) { return __float2half_rn(v); }
template <>
__device__ __forceinline__ __nv_bfloat16 round_to<__nv_bfloat16>(float v) { return __float2bfloat16_rn(v); }

template <typename T, class Groups>
__global__ void tensor_core_gemm_kernel(Groups groups, RowMaps maps, const float* __restrict__ x, int64_t ldx,
                                        bool relu, float* __restrict__ y, int64_t ldy) {
  using namespace nvcuda;
  __shared__ __align__(32) T xs[kTcTile][kTcLd];
  __shared__ __align__(32) T ws[kTcTile][kTcLd];
  __shared__ __align__(32) float out[kTcTile][kTcOutLd];
  const LinearGroup& g = groups.get();
  const WeightsView& w = g.w;
  const int64_t row0 = static_cast<int64_t>(blockIdx.y) * kTcTile;
  const int64_t col0 = static_cast<int64_t>(blockIdx.x) * kTcTile;
  if (row0 >= g.rows || col0 >= w.n) return;  // the whole block
  const int tid = threadIdx.x, warp = tid / kWarp;
  const int wm = (warp / 2) * 32, wn = (warp % 2) * 32;
  wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc[2][2];
#pragma unroll
  for (int i = 0; i < 2; ++i)
#pragma unroll
    for (int j = 0; j < 2; ++j) wmma::fill_fragment(acc[i][j], 0.0f);
  for (int64_t k0 = 0; k0 < w.k; k0 += kTcK) {
    const TileReader tile = tile_reader(w.layout, w.data, w.scales, w.k, w.group, k0);
    for (int e = tid; e < kTcTile * kTcK; e += kTcThreads) {
      const int i = e / kTcK, kk = e % kTcK;
      const int64_t r = row0 + i, c = k0 + kk, n = col0 + i;
      xs[i][kk] = round_to<T>(r < g.rows && c < w.k ? x[map_row(maps.in, g.begin + r) * ldx + c] : 0.0f);
      ws[i][kk] = round_to<T>(n < w.n && c < w.k ? tile.value(n, c, tile.scale(n)) : 0.0f);
    }
    __syncthreads();
#pragma unroll
    for (int kk = 0; kk < kTcK; kk += 16) {
      wmma::fragment<wmma::matrix_a, 16, 16, 16, T, wmma::row_major> a[2];
      wmma::fragment<wmma::matrix_b, 16, 16, 16, T, wmma::col_major> b[2];  // b(k, n) = ws[n][k]
#pragma unroll
      for (int i = 0; i < 2; ++i) wmma::load_matrix_sync(a[i], &xs[wm + 16 * i][kk], kTcLd);
#pragma unroll
      for (int j = 0; j < 2; ++j) wmma::load_matrix_sync(b[j], &ws[wn + 16 * j][kk], kTcLd);
#pragma unroll
      for (int i = 0; i < 2; ++i)
#pragma unroll
        for (int j = 0; j < 2; ++j) wmma::mma_sync(acc[i][j], a[i], b[j], acc[i][j]);
    }
    __syncthreads();
  }
#pragma unroll
  for (int i = 0; i < 2; ++i)
#pragma unroll
    for (int j = 0; j < 2; ++j)
      wmma::store_matrix_sync(&out[wm + 16 * i][wn + 16 * j], acc[i][j], kTcOutLd, wmma::mem_row_major);
  __syncthreads();
  for (int e = tid; e < kTcTile * kTcTile; e += kTcThreads) {
    const int i = e / kTcTile, j = e % kTcTile;
    const int64_t r = row0 + i, n = col0 + j;
    if (r < g.rows && n < w.n) store(y, ldy, maps.out, g.begin + r, n, out[i][j], g.bias, relu);
  }
}

template <int kLayout, class Groups>
void launch_gemv(cudaStream_t stream, dim3 grid, int64_t max_rows, Groups groups, RowMaps maps, const float* x,
                 int64_t ldx, bool relu, float* y, int64_t ldy) {
  const dim3 block(kGemvWarps * kWarp);
  if (max_rows <= 1)
    gemv_kernel<kLayout, 1><<<grid, block, 0, stream>>>(groups, maps, x, ldx, relu, y, ldy);
  else if (max_rows <= 4)
    gemv_kernel<kLayout, 4><<<grid, block, 0, stream>>>(groups, maps, x, ldx, relu, y, ldy);
  else
    gemv_kernel<kLayout, kGemvMaxRows><<<grid, block, 0, stream>>>(groups, maps, x, ldx, relu, y, ldy);
}

// One launch over `count` groups whose largest has max_rows rows and max_n columns. The GEMV
// kernel is built per layout, so a grouped call with mixed layouts takes the GEMM kernel.
template <class Groups>
void launch(cudaStream_t stream, Groups groups, int64_t count, int layout, int64_t max_rows, int64_t max_n,
            RowMaps maps, const float* x, int64_t ldx, bool relu, float* y, int64_t ldy, Precision precision) {
  if (count == 0 || max_rows == 0 || max_n == 0) return;
  if (max_rows <= kGemvMaxRows && layout >= 0) {
    const dim3 grid(static_cast<unsigned>((max_n + kGemvWarps - 1) / kGemvWarps), 1, static_cast<unsigned>(count));
    switch (layout) {
      case kLayoutInt8: return launch_gemv<kLayoutInt8>(stream, grid, max_rows, groups, maps, x, ldx, relu, y, ldy);
      case kLayoutInt4: return launch_gemv<kLayoutInt4>(stream, grid, max_rows, groups, maps, x, ldx, relu, y, ldy);
      case kLayoutF16: return launch_gemv<kLayoutF16>(stream, grid, max_rows, groups, maps, x, ldx, relu, y, ldy);
      default: return launch_gemv<kLayoutF32>(stream, grid, max_rows, groups, maps, x, ldx, relu, y, ldy);
    }
  }
  const dim3 grid(static_cast<unsigned>((max_n + kTileN - 1) / kTileN),
                  static_cast<unsigned>((max_rows + kTileM - 1) / kTileM), static_cast<unsigned>(count));
  static_assert(kTileM == kTcTile && kTileN == kTcTile, "both GEMMs tile y alike");
  static_assert(kMaxGroupRows == 65535 * kTileM, "gridDim.y covers kMaxGroupRows");
  switch (precision) {
    case Precision::F16:
      return tensor_core_gemm_kernel<half><<<grid, kTcThreads, 0, stream>>>(groups, maps, x, ldx, relu, y, ldy);
    case Precision::BF16:
      return tensor_core_gemm_kernel<__nv_bfloat16>
          <<<grid, kTcThreads, 0, stream>>>(groups, maps, x, ldx, relu, y, ldy);
    case Precision::F32:
      break;
  }
  gemm_kernel<<<grid, kGemmThreads, 0, stream>>>(groups, maps, x, ldx, relu, y, ldy);
}

__global__ void dequantize_row_kernel(WeightsView w, int64_t row, float* out) {
  for (int64_t c = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; c < w.k;
       c += static_cast<int64_t>(gridDim.x) * blockDim.x)
    out[c] = packed_value(w.layout, w.data, w.scales, w.k, w.group, row, c);
}

}  // namespace

void linear(cudaStream_t stream, const WeightsView& w, const float* x, int64_t m, int64_t ldx, const float* bias,
            bool relu, float* y, int64_t ldy, Precision precision) {
  launch(stream, OneGroup{{w, bias, 0, m}}, 1, w.layout, m, w.n, RowMaps{nullptr, nullptr}, x, ldx, relu, y, ldy,
         precision);
}

void grouped_linear(cudaStream_t stream, const LinearGroup* groups, const LinearGroup* host_groups, int64_t count,
                    RowMaps maps, const float* x, int64_t ldx, bool relu, float* y, int64_t ldy,
                    Precision precision) {
  int64_t max_rows = 0, max_n = 0;
  int layout = count > 0 ? host_groups[0].w.layout : -1;
  for (int64_t g = 0; g < count; ++g) {
    max_rows = host_groups[g].rows > max_rows ? host_groups[g].rows : max_rows;
    max_n = host_groups[g].w.n > max_n ? host_groups[g].w.n : max_n;
    if (host_groups[g].w.layout != layout) layout = -1;
  }
  launch(stream, GroupArray{groups}, count, layout, max_rows, max_n, maps, x, ldx, relu, y, ldy, precision);
}

void dequantize_row(cudaStream_t stream, const WeightsView& w, int64_t row, float* out) {
  const unsigned blocks = static_cast<unsigned>((w.k + 255) / 256);
  dequantize_row_kernel<<<blocks, 256, 0, stream>>>(w, row, out);
}

}  // namespace tusk::kernels::cuda
