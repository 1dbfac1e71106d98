// Row reductions of the CUDA backend, one block of kRowThreads per row: softmax and
// log-softmax in place, greedy search's argmax with its log-probability, and each row's best
// k for beam search. log_softmax and argmax_log_softmax share row_shift(), so the
// log-probability of the picked token is the one log_softmax writes, bit for bit.
#include <cfloat>

#include "backends/cuda/block_reduce.cuh"
#include "backends/cuda/cuda_ops.h"

namespace tusk::backends::cuda {
namespace {

// A candidate in the order (value descending, then column ascending); column -1: none.
// NaN and -inf are never candidates of argmax (as on the CPU); top-k takes -inf but not NaN.
struct Pick {
  float value;
  int column;
};

__device__ __forceinline__ bool before(Pick a, Pick b) {  // a ranks before b
  if (a.column < 0) return false;
  if (b.column < 0) return true;
  return a.value > b.value || (a.value == b.value && a.column < b.column);
}

__device__ __forceinline__ Pick better(Pick a, Pick b) { return before(b, a) ? b : a; }

struct Better {
  __device__ Pick operator()(Pick a, Pick b) const { return better(a, b); }
};

template <typename Op>
__device__ Pick reduce_pick(Pick p, Op op, Pick* scratch) {
  // Shuffle the two fields separately (Pick is not a shuffle type).
  const int lane = threadIdx.x % kWarpSize, warp = threadIdx.x / kWarpSize;
  for (int offset = kWarpSize / 2; offset > 0; offset /= 2) {
    Pick other{__shfl_xor_sync(0xffffffffu, p.value, offset), __shfl_xor_sync(0xffffffffu, p.column, offset)};
    p = op(p, other);
  }
  __syncthreads();
  if (lane == 0) scratch[warp] = p;
  __syncthreads();
  Pick total = scratch[0];
  for (int w = 1; w < static_cast<int>(blockDim.x) / kWarpSize; ++w) total = op(total, scratch[w]);
  __syncthreads();
  return total;
}

// max + log(sum(exp(x - max))): what log-softmax subtracts from each entry of the row.
__device__ float row_shift(const float* row, int64_t cols, float max, float* scratch) {
  float sum = 0.0f;
  for (int64_t c = threadIdx.x; c < cols; c += blockDim.x) sum += expf(row[c] - max);
  return max + logf(block_reduce(sum, Sum{}, scratch));
}

__device__ float row_max(const float* row, int64_t cols, float* scratch) {
  float m = -INFINITY;
  for (int64_t c = threadIdx.x; c < cols; c += blockDim.x) m = fmaxf(m, row[c]);
  return block_reduce(m, Max{}, scratch);
}

__global__ void softmax_kernel(MutableMatrixView x, bool log) {
  __shared__ float scratch[kRowThreads / kWarpSize];
  float* row = x.data + static_cast<int64_t>(blockIdx.x) * x.ld;
  const float max = row_max(row, x.cols, scratch);
  if (log) {
    const float shift = row_shift(row, x.cols, max, scratch);
    for (int64_t c = threadIdx.x; c < x.cols; c += blockDim.x) row[c] -= shift;
    return;
  }
  float sum = 0.0f;
  for (int64_t c = threadIdx.x; c < x.cols; c += blockDim.x) {
    const float e = expf(row[c] - max);
    row[c] = e;
    sum += e;
  }
  const float inv = 1.0f / block_reduce(sum, Sum{}, scratch);
  for (int64_t c = threadIdx.x; c < x.cols; c += blockDim.x) row[c] *= inv;
}

__global__ void argmax_log_softmax_kernel(MatrixView logits, int64_t excluded, int32_t* ids, float* logprobs) {
  __shared__ float scratch[kRowThreads / kWarpSize];
  __shared__ Pick pick_scratch[kRowThreads / kWarpSize];
  const int64_t r = blockIdx.x;
  const float* row = logits.data + r * logits.ld;
  if (logits.cols == 0) {  // an empty row: token 0 with probability 0, as on the CPU
    if (threadIdx.x == 0) ids[r] = 0, logprobs[r] = -INFINITY;
    return;
  }
  Pick best{0.0f, -1};
  for (int64_t c = threadIdx.x; c < logits.cols; c += blockDim.x) {
    const float v = row[c];
    if (c != excluded && v > -INFINITY) best = better(best, Pick{v, static_cast<int>(c)});
  }
  best = reduce_pick(best, Better{}, pick_scratch);
  const float max = row_max(row, logits.cols, scratch);
  const float shift = row_shift(row, logits.cols, max, scratch);
  if (threadIdx.x == 0) {
    const int id = best.column < 0 ? 0 : best.column;
    ids[r] = id;
    logprobs[r] = row[id] - shift;
  }
}

// k passes, each the best entry ranked after the previous pick.
__global__ void row_top_k_kernel(MatrixView x, int k, float* values, int32_t* columns, int32_t* counts) {
  __shared__ Pick pick_scratch[kRowThreads / kWarpSize];
  const int64_t r = blockIdx.x;
  const float* row = x.data + r * x.ld;
  Pick previous{0.0f, -1};
  int found = 0;
  for (int p = 0; p < k; ++p) {
    Pick best{0.0f, -1};
    for (int64_t c = threadIdx.x; c < x.cols; c += blockDim.x) {
      const Pick candidate{row[c], static_cast<int>(c)};
      if (isnan(candidate.value)) continue;
      if (previous.column >= 0 && !before(previous, candidate)) continue;
      best = better(best, candidate);
    }
    best = reduce_pick(best, Better{}, pick_scratch);
    if (best.column < 0) break;
    if (threadIdx.x == 0) {
      values[r * k + p] = best.value;
      columns[r * k + p] = best.column;
    }
    previous = best;
    ++found;
  }
  if (threadIdx.x == 0) counts[r] = found;
}

// gridDim.x allows 2^31 - 1 blocks: one launch covers any row count.
unsigned row_blocks(int64_t rows) { return static_cast<unsigned>(rows); }

}  // namespace

void softmax_rows(cudaStream_t stream, MutableMatrixView x, bool log) {
  if (x.rows == 0 || x.cols == 0) return;
  softmax_kernel<<<row_blocks(x.rows), kRowThreads, 0, stream>>>(x, log);
}

void argmax_log_softmax(cudaStream_t stream, MatrixView logits, int64_t excluded, int32_t* ids, float* logprobs) {
  if (logits.rows == 0) return;
  argmax_log_softmax_kernel<<<row_blocks(logits.rows), kRowThreads, 0, stream>>>(logits, excluded, ids, logprobs);
}

void row_top_k(cudaStream_t stream, MatrixView x, int k, float* values, int32_t* columns, int32_t* counts) {
  if (x.rows == 0) return;
  row_top_k_kernel<<<row_blocks(x.rows), kRowThreads, 0, stream>>>(x, k, values, columns, counts);
}

}  // namespace tusk::backends::cuda
