// Row-wise and element-wise ops of the CUDA backend: bias and activation, residual add,
// layer norm, embeddings, row moves of the MoE layer, the KV cache's reorder.
#include <cfloat>

#include "backends/cuda/block_reduce.cuh"
#include "backends/cuda/cuda_ops.h"
#include "backends/host_ops.h"
#include "backends/routing.h"
#include "kernels/cuda/packed_math.h"

namespace tusk::backends::cuda {
namespace {

constexpr int kThreads = 256;

// Grid-stride loops over (row, col) of a rows x cols matrix: blockIdx.y walks rows.
#define TUSK_FOR_ROWS_COLS(rows, cols)                                                        \
  for (int64_t r = blockIdx.y; r < (rows); r += gridDim.y)                                   \
    for (int64_t c = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; c < (cols); \
         c += static_cast<int64_t>(gridDim.x) * blockDim.x)

dim3 grid_for(int64_t rows, int64_t cols) {
  const int64_t x = (cols + kThreads - 1) / kThreads;
  return dim3(static_cast<unsigned>(x < 1 ? 1 : (x > 1024 ? 1024 : x)),
              static_cast<unsigned>(rows < 1 ? 1 : (rows > 65535 ? 65535 : rows)));
}

__global__ void bias_activation_kernel(const float* bias, bool relu, MutableMatrixView y) {
  TUSK_FOR_ROWS_COLS(y.rows, y.cols) {
    float v = y.data[r * y.ld + c] + (bias ? bias[c] : 0.0f);
    y.data[r * y.ld + c] = relu ? fmaxf(v, 0.0f) : v;
  }
}

__global__ void add_scaled_kernel(MatrixView x, float alpha, MutableMatrixView y) {
  TUSK_FOR_ROWS_COLS(y.rows, y.cols) y.data[r * y.ld + c] += x.data[r * x.ld + c] * alpha;
}

// Two passes like the CPU and PyTorch: the mean, then the variance of the centred values.
__global__ void layer_norm_kernel(MatrixView x, const float* gamma, const float* beta, float eps,
                                  MutableMatrixView y) {
  __shared__ float scratch[kThreads / kWarpSize];
  const int64_t r = blockIdx.x;
  const float* xr = x.data + r * x.ld;
  float* yr = y.data + r * y.ld;
  float sum = 0.0f;
  for (int64_t c = threadIdx.x; c < x.cols; c += blockDim.x) sum += xr[c];
  const float mean = block_reduce(sum, Sum{}, scratch) / static_cast<float>(x.cols);
  float sq = 0.0f;
  for (int64_t c = threadIdx.x; c < x.cols; c += blockDim.x) {
    const float d = xr[c] - mean;
    sq += d * d;
  }
  const float rstd = 1.0f / sqrtf(block_reduce(sq, Sum{}, scratch) / static_cast<float>(x.cols) + eps);
  for (int64_t c = threadIdx.x; c < x.cols; c += blockDim.x) yr[c] = (xr[c] - mean) * rstd * gamma[c] + beta[c];
}

__global__ void fill_column_kernel(MutableMatrixView x, int64_t column, float value) {
  for (int64_t r = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; r < x.rows;
       r += static_cast<int64_t>(gridDim.x) * blockDim.x)
    x.data[r * x.ld + column] = value;
}

__global__ void edit_scores_kernel(MutableMatrixView x, const ScoreEdit* edits, int64_t count) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= count) return;
  const ScoreEdit e = edits[i];
  float& v = x.data[e.row * x.ld + e.column];
  v = host::edited_score(v, e.penalty);  // the host's rule
}

__global__ void read_scores_kernel(MatrixView x, const ScoreIndex* entries, int64_t count, float* values) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < count) values[i] = x.data[entries[i].row * x.ld + entries[i].column];
}

__global__ void embed_kernel(const float* f32, kernels::cuda::WeightsView packed, float scale,
                             const float* positions, const int32_t* ids, const int32_t* pos,
                             MutableMatrixView out) {
  TUSK_FOR_ROWS_COLS(out.rows, out.cols) {
    const int64_t id = ids[r];
    const float e = f32 ? f32[id * out.cols + c]
                        : kernels::cuda::packed_value(packed.layout, packed.data, packed.scales, packed.k,
                                                      packed.group, id, c);
    out.data[r * out.ld + c] = e * scale + positions[static_cast<int64_t>(pos[r]) * out.cols + c];
  }
}

__global__ void route_top2_kernel(MatrixView logits, ExpertRoute* routes) {
  const int64_t t = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (t < logits.rows) routes[t] = route_top2_row(logits.data + t * logits.ld, logits.cols);  // the host's code
}

__global__ void gather_rows_kernel(MatrixView x, const int64_t* rows, MutableMatrixView out) {
  TUSK_FOR_ROWS_COLS(out.rows, out.cols) out.data[r * out.ld + c] = x.data[rows[r] * x.ld + c];
}

__global__ void scatter_rows_kernel(MatrixView x, const int64_t* rows, MutableMatrixView out) {
  TUSK_FOR_ROWS_COLS(x.rows, x.cols) out.data[rows[r] * out.ld + c] = x.data[r * x.ld + c];
}

__global__ void combine_top2_kernel(MatrixView first, MatrixView second, const float* gates,
                                    MutableMatrixView out) {
  TUSK_FOR_ROWS_COLS(out.rows, out.cols) {
    out.data[r * out.ld + c] = gates[2 * r] * first.data[r * first.ld + c] + gates[2 * r + 1] * second.data[r * second.ld + c];
  }
}

}  // namespace

void bias_activation(cudaStream_t stream, const float* bias, bool relu, MutableMatrixView y) {
  if (y.rows == 0 || y.cols == 0 || (bias == nullptr && !relu)) return;
  bias_activation_kernel<<<grid_for(y.rows, y.cols), kThreads, 0, stream>>>(bias, relu, y);
}

void add_scaled(cudaStream_t stream, MatrixView x, float alpha, MutableMatrixView y) {
  if (y.rows == 0 || y.cols == 0) return;
  add_scaled_kernel<<<grid_for(y.rows, y.cols), kThreads, 0, stream>>>(x, alpha, y);
}

void layer_norm(cudaStream_t stream, MatrixView x, const float* gamma, const float* beta, float eps,
                MutableMatrixView y) {
  if (y.rows == 0 || y.cols == 0) return;
  for (int64_t r0 = 0; r0 < y.rows; r0 += 65535) {  // gridDim.x is ample, but keep rows bounded
    const int64_t rows = y.rows - r0 < 65535 ? y.rows - r0 : 65535;
    const MatrixView xs{x.data + r0 * x.ld, rows, x.cols, x.ld};
    const MutableMatrixView ys{y.data + r0 * y.ld, rows, y.cols, y.ld};
    layer_norm_kernel<<<static_cast<unsigned>(rows), kThreads, 0, stream>>>(xs, gamma, beta, eps, ys);
  }
}

void fill_column(cudaStream_t stream, MutableMatrixView x, int64_t column, float value) {
  if (x.rows == 0) return;
  const int64_t blocks = (x.rows + kThreads - 1) / kThreads;
  fill_column_kernel<<<static_cast<unsigned>(blocks > 1024 ? 1024 : blocks), kThreads, 0, stream>>>(x, column, value);
}

void edit_scores(cudaStream_t stream, MutableMatrixView x, const ScoreEdit* edits, int64_t count) {
  if (count == 0) return;
  edit_scores_kernel<<<static_cast<unsigned>((count + kThreads - 1) / kThreads), kThreads, 0, stream>>>(x, edits,
                                                                                                        count);
}

void read_scores(cudaStream_t stream, MatrixView x, const ScoreIndex* entries, int64_t count, float* values) {
  if (count == 0) return;
  read_scores_kernel<<<static_cast<unsigned>((count + kThreads - 1) / kThreads), kThreads, 0, stream>>>(x, entries,
                                                                                                        count, values);
}

void embed(cudaStream_t stream, const EmbeddingTable& table, const kernels::cuda::WeightsView& packed,
           const int32_t* ids, const int32_t* positions, MutableMatrixView out) {
  if (out.rows == 0 || out.cols == 0) return;
  embed_kernel<<<grid_for(out.rows, out.cols), kThreads, 0, stream>>>(table.f32, packed, table.scale, table.positions,
                                                                      ids, positions, out);
}

void route_top2(cudaStream_t stream, MatrixView logits, ExpertRoute* routes) {
  if (logits.rows == 0) return;
  const int threads = 128;
  route_top2_kernel<<<static_cast<unsigned>((logits.rows + threads - 1) / threads), threads, 0, stream>>>(logits,
                                                                                                          routes);
}

void gather_rows(cudaStream_t stream, MatrixView x, const int64_t* rows, MutableMatrixView out) {
  if (out.rows == 0 || out.cols == 0) return;
  gather_rows_kernel<<<grid_for(out.rows, out.cols), kThreads, 0, stream>>>(x, rows, out);
}

void scatter_rows(cudaStream_t stream, MatrixView x, const int64_t* rows, MutableMatrixView out) {
  if (x.rows == 0 || x.cols == 0) return;
  scatter_rows_kernel<<<grid_for(x.rows, x.cols), kThreads, 0, stream>>>(x, rows, out);
}

void combine_top2(cudaStream_t stream, MatrixView first, MatrixView second, const float* gates,
                  MutableMatrixView out) {
  if (out.rows == 0 || out.cols == 0) return;
  combine_top2_kernel<<<grid_for(out.rows, out.cols), kThreads, 0, stream>>>(first, second, gates, out);
}

}  // namespace tusk::backends::cuda
