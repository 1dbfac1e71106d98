// The argument checks of backend.h's contracts, device-neutral (sizes, pointers, host arrays),
// so every backend rejects the same bad call with the same message (ErrorCode::InvalidArgument,
// "op: what"). A backend calls the op's check first, then does the work. Messages are built
// only on failure: these run on every call of the hot loop.
#pragma once

#include <cstdint>
#include <vector>

#include "backends/backend.h"

namespace tusk::backends::checks {

void linear(MatrixView x, const float* w, int64_t n, MutableMatrixView y);
void linear(MatrixView x, const PackedMatrix& w, MutableMatrixView y);
void dequantize_row(const PackedMatrix& w, int64_t row, const float* out);
void add_scaled(MatrixView x, MutableMatrixView y);
void layer_norm(MatrixView x, const float* gamma, const float* beta, MutableMatrixView y);
void attention(MatrixView q, MatrixView k, MatrixView v, int heads, const KeyRange* ranges,
               MutableMatrixView out);
// Attention over a KV cache: the shapes a backend can check before it looks at the cache.
void cached_attention(MatrixView q, int heads, MutableMatrixView out);
void embed(const EmbeddingTable& table, const int32_t* ids, const int32_t* positions,
           MutableMatrixView out);
void route_top2(MatrixView logits, const ExpertRoute* routes);
void gather_rows(MatrixView x, const int64_t* rows, MutableMatrixView out);
void scatter_rows(MatrixView x, const int64_t* rows, MutableMatrixView out);
// Returns the number of positions (the groups' total).
int64_t expert_ffn(MatrixView x, const ExpertGroup* groups, int64_t count, const int64_t* rows, const int64_t* slots,
                   MutableMatrixView gathered, MutableMatrixView hidden, MutableMatrixView out);
void combine_top2(MatrixView first, MatrixView second, const ExpertRoute* routes,
                  MutableMatrixView out);
void fill_column(MutableMatrixView x, int64_t column);
void edit_scores(MutableMatrixView x, const ScoreEdit* edits, int64_t count);
void read_scores(MatrixView x, const ScoreIndex* entries, int64_t count, const float* values);
void argmax_log_softmax(MatrixView logits, int64_t excluded, const int32_t* ids, const float* logprobs);
void top_k(MatrixView x, const int64_t* group_begin, int64_t groups, int k);
void rows_op(MutableMatrixView x, const char* op);  // log_softmax, softmax
// upload/download: a contiguous tensor of the backend's device.
void transfer(const Tensor& t, Device device, const char* op);
// Returns the element count of a shape (every dimension >= 0).
int64_t allocate(const std::vector<int64_t>& shape);
// A KV cache's reorder: parents index hypotheses [0, hyps), or are -1 (a new hypothesis with
// no steps yet). Returns true for the identity.
bool kv_reorder(const std::vector<int32_t>& parents, int64_t hyps);
void kv_append(int64_t hyps, int64_t steps, int64_t cache_hyps);

}  // namespace tusk::backends::checks
