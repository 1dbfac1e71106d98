// Block-wide reductions for the one-block-per-row kernels: warp shuffles, then one value per
// warp through shared memory. A fixed block size gives a fixed summation order, so two
// kernels that reduce a row the same way get the same bits.
#pragma once

#include <cuda_runtime.h>

namespace tusk::backends::cuda {

constexpr int kWarpSize = 32;

template <typename T, typename Op>
__device__ __forceinline__ T warp_reduce(T v, Op op) {
  for (int offset = kWarpSize / 2; offset > 0; offset /= 2) v = op(v, __shfl_xor_sync(0xffffffffu, v, offset));
  return v;
}

// Every thread of the block gets the reduction of every thread's v. `scratch`: at least
// blockDim.x / 32 elements of shared memory; the call ends with a barrier, so scratch may be
// reused right after.
template <typename T, typename Op>
__device__ T block_reduce(T v, Op op, T* scratch) {
  const int lane = threadIdx.x % kWarpSize, warp = threadIdx.x / kWarpSize;
  const int warps = (blockDim.x + kWarpSize - 1) / kWarpSize;
  v = warp_reduce(v, op);
  __syncthreads();  // scratch may still be read by a previous reduction
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  T total = scratch[0];
  for (int w = 1; w < warps; ++w) total = op(total, scratch[w]);
  __syncthreads();
  return total;
}

struct Sum {
  __device__ float operator()(float a, float b) const { return a + b; }
};
struct Max {
  __device__ float operator()(float a, float b) const { return fmaxf(a, b); }
};

}  // namespace tusk::backends::cuda
