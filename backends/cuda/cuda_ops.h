// Launchers of the CUDA backend's kernels for every op but the matmuls (cuBLAS and
// kernels/cuda): each enqueues its work on `stream` and returns. Pointers are device memory,
// shapes are checked by the caller (backends/op_checks.h), control arrays (ranges, rows, ids)
// were uploaded by the caller.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "backends/backend.h"
#include "kernels/cuda/quantized_linear.h"

namespace tusk::backends::cuda {

// Threads of the row-reduction kernels (softmax, log-softmax, argmax): one block per row, the
// same reduction order in each, so log_softmax and argmax_log_softmax agree bit for bit.
constexpr int kRowThreads = 512;

void bias_activation(cudaStream_t stream, const float* bias, bool relu, MutableMatrixView y);
void add_scaled(cudaStream_t stream, MatrixView x, float alpha, MutableMatrixView y);
void layer_norm(cudaStream_t stream, MatrixView x, const float* gamma, const float* beta, float eps,
                MutableMatrixView y);
void softmax_rows(cudaStream_t stream, MutableMatrixView x, bool log);
// ids[r], logprobs[r]: device arrays of x.rows.
void argmax_log_softmax(cudaStream_t stream, MatrixView logits, int64_t excluded, int32_t* ids,
                        float* logprobs);
// Each row's best k (value descending, then column ascending) into values/columns [rows, k];
// counts[r] of them are valid (fewer only when a row holds fewer than k non-NaN values).
void row_top_k(cudaStream_t stream, MatrixView x, int k, float* values, int32_t* columns, int32_t* counts);
void fill_column(cudaStream_t stream, MutableMatrixView x, int64_t column, float value);
// values[i] = x[entries[i]] (device arrays).
void read_scores(cudaStream_t stream, MatrixView x, const ScoreIndex* entries, int64_t count, float* values);
// edits: a device array (at most one per entry).
void edit_scores(cudaStream_t stream, MutableMatrixView x, const ScoreEdit* edits, int64_t count);

// Query row i attends key rows ranges[i] (device array); scores scaled by 1/sqrt(head_dim).
// max_count: the largest ranges[i].count (sizes the scores in shared memory).
void attention(cudaStream_t stream, MatrixView q, MatrixView k, MatrixView v, int heads,
               const KeyRange* ranges, int64_t max_count, MutableMatrixView out);
// Shared memory the attention kernel needs for max_count keys of head_dim, and the most it
// may use on the current device.
size_t attention_shared_bytes(int64_t head_dim, int64_t max_count);
size_t attention_shared_limit();

// table: fp32 (f32 != null) or packed; ids and positions: device arrays of out.rows.
void embed(cudaStream_t stream, const EmbeddingTable& table, const kernels::cuda::WeightsView& packed,
           const int32_t* ids, const int32_t* positions, MutableMatrixView out);

// Backend::route_top2 for each row of device logits into device routes (one thread a row,
// the host routine's order of operations).
void route_top2(cudaStream_t stream, MatrixView logits, ExpertRoute* routes);

void gather_rows(cudaStream_t stream, MatrixView x, const int64_t* rows, MutableMatrixView out);
void scatter_rows(cudaStream_t stream, MatrixView x, const int64_t* rows, MutableMatrixView out);
// gates: device array [rows][2].
void combine_top2(cudaStream_t stream, MatrixView first, MatrixView second, const float* gates,
                  MutableMatrixView out);

}  // namespace tusk::backends::cuda
