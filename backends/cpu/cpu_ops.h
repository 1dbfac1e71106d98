// Plain-C++ implementations of the CPU backend's non-matmul ops. Shapes are checked by the
// caller (CpuBackend); each function parallelises over rows (or heads) with OpenMP when the
// work is large enough to pay for it.
#pragma once

#include <memory>
#include <vector>

#include "backends/backend.h"

namespace tusk::backends::cpu {

void add_scaled(MatrixView x, float alpha, MutableMatrixView y, int threads);

void layer_norm(MatrixView x, const float* gamma, const float* beta, float eps,
                MutableMatrixView y, int threads);

void softmax_rows(MutableMatrixView x, int threads);
void log_softmax_rows(MutableMatrixView x, int threads);

// Ranges are checked by the caller. `scratch` is reused across calls (grown when needed) so
// the hot path does not allocate.
void attention(MatrixView q, MatrixView k, MatrixView v, int heads, const KeyRange* ranges,
               MutableMatrixView out, int threads, std::vector<float>& scratch);

void embed(const EmbeddingTable& table, const int32_t* ids, const int32_t* positions,
           MutableMatrixView out, int threads);

void gather_rows(MatrixView x, const int64_t* rows, MutableMatrixView out);
void scatter_rows(MatrixView x, const int64_t* rows, MutableMatrixView out);
void combine_top2(MatrixView first, MatrixView second, const ExpertRoute* routes,
                  MutableMatrixView out, int threads);

int32_t first_argmax(const float* row, int64_t n);
// max + log(sum exp(x - max)) over row[0..n), given max: what log-softmax subtracts.
float log_softmax_shift(const float* row, int64_t n, float max);
void argmax_log_softmax(MatrixView logits, int64_t excluded, int32_t* ids, float* logprobs, int threads);
// top_k's working set: every (row, token) of a group, 16 bytes each (the logprob is read for
// the kept ones only).
struct Candidate {
  double score;
  int32_t row, token;
};
void top_k(MatrixView x, const double* base, const int64_t* group_begin, int64_t groups, int k,
           BeamCandidate* out, int64_t* counts, std::vector<Candidate>& scratch);

// The CPU KvCache (kv_cache_cpu.cc) and attention over it.
std::unique_ptr<KvCache> make_kv_cache(int64_t width);
void cached_attention(MatrixView q, const KvCache& cache, int heads, MutableMatrixView out,
                      int threads, std::vector<float>& scratch, std::vector<KeyRange>& ranges);

}  // namespace tusk::backends::cpu
