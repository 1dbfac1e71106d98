// Plain-C++ implementations of the CPU backend's non-matmul ops. Shapes are checked by the
// caller (CpuBackend); each function parallelises over rows (or heads) with OpenMP when the
// work is large enough to pay for it.
#pragma once

#include <vector>

#include "backends/backend.h"

namespace tusk::backends::cpu {

void add_scaled(MatrixView x, float alpha, MutableMatrixView y, int threads);

void layer_norm(MatrixView x, const float* gamma, const float* beta, float eps,
                MutableMatrixView y, int threads);

void softmax_rows(MutableMatrixView x, int threads);
void log_softmax_rows(MutableMatrixView x, int threads);

// `scratch` is reused across calls (grown when needed) so the hot path does not allocate.
void attention(MatrixView q, MatrixView k, MatrixView v, int heads, bool causal,
               int64_t q_offset, MutableMatrixView out, int threads,
               std::vector<float>& scratch);

}  // namespace tusk::backends::cpu
