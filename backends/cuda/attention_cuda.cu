// Scaled dot-product attention of the CUDA backend: one block per (query row, head); the
// row's scores live in shared memory, sized by the longest key range of the call.
#include <cmath>

#include "backends/cuda/block_reduce.cuh"
#include "backends/cuda/cuda_ops.h"

namespace tusk::backends::cuda {
namespace {

constexpr int kThreads = 128;

__global__ void attention_kernel(MatrixView q, MatrixView k, MatrixView v, int heads, const KeyRange* ranges,
                                 MutableMatrixView out) {
  extern __shared__ float shared[];
  __shared__ float scratch[kThreads / kWarpSize];
  const int64_t hd = q.cols / heads;
  const int64_t i = blockIdx.x / heads;
  const int64_t h = blockIdx.x % heads;
  const KeyRange range = ranges[i];
  float* o = out.data + i * out.ld + h * hd;
  if (range.count == 0) {
    for (int64_t d = threadIdx.x; d < hd; d += blockDim.x) o[d] = 0.0f;
    return;
  }
  float* qh = shared;            // [hd]
  float* scores = shared + hd;   // [range.count]
  for (int64_t d = threadIdx.x; d < hd; d += blockDim.x) qh[d] = q.data[i * q.ld + h * hd + d];
  __syncthreads();
  const float scale = 1.0f / sqrtf(static_cast<float>(hd));
  const int lane = threadIdx.x % kWarpSize, warp = threadIdx.x / kWarpSize;
  const int warps = blockDim.x / kWarpSize;
  for (int64_t j = warp; j < range.count; j += warps) {
    const float* key = k.data + (range.begin + j * range.stride) * k.ld + h * hd;
    float partial = 0.0f;
    for (int64_t d = lane; d < hd; d += kWarpSize) partial += qh[d] * key[d];
    partial = warp_reduce(partial, Sum{});
    if (lane == 0) scores[j] = partial * scale;
  }
  __syncthreads();
  float m = -INFINITY;
  for (int64_t j = threadIdx.x; j < range.count; j += blockDim.x) m = fmaxf(m, scores[j]);
  m = block_reduce(m, Max{}, scratch);
  float sum = 0.0f;
  for (int64_t j = threadIdx.x; j < range.count; j += blockDim.x) {
    const float e = expf(scores[j] - m);
    scores[j] = e;
    sum += e;
  }
  const float inv = 1.0f / block_reduce(sum, Sum{}, scratch);  // ends with a barrier
  for (int64_t d = threadIdx.x; d < hd; d += blockDim.x) {
    float acc = 0.0f;
    for (int64_t j = 0; j < range.count; ++j) acc += scores[j] * v.data[(range.begin + j * range.stride) * v.ld + h * hd + d];
    o[d] = acc * inv;
  }
}

}  // namespace

size_t attention_shared_bytes(int64_t head_dim, int64_t max_count) {
  return static_cast<size_t>(head_dim + max_count) * sizeof(float);
}

size_t attention_shared_limit() {
  int device = 0, optin = 0;
  if (cudaGetDevice(&device) != cudaSuccess ||
      cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, device) != cudaSuccess)
    return 48 * 1024;
  // The kernel's static scratch takes a little of the block's share.
  return static_cast<size_t>(optin) - (kThreads / kWarpSize) * sizeof(float);
}

void attention(cudaStream_t stream, MatrixView q, MatrixView k, MatrixView v, int heads, const KeyRange* ranges,
               int64_t max_count, MutableMatrixView out) {
  if (q.rows == 0 || q.cols == 0) return;
  const size_t shared = attention_shared_bytes(q.cols / heads, max_count);
  // Past the default 48 KB a block's dynamic plus static shared memory needs the opt-in; a
  // failure here shows as the launch's error.
  if (shared + (kThreads / kWarpSize) * sizeof(float) > 48 * 1024)
    cudaFuncSetAttribute(attention_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(shared));
  const int64_t blocks = q.rows * heads;
  attention_kernel<<<static_cast<unsigned>(blocks), kThreads, shared, stream>>>(q, k, v, heads, ranges, out);
}

}  // namespace tusk::backends::cuda
