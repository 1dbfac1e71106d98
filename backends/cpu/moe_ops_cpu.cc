// The mixture-of-experts ops: moving token rows to and from an expert's group, and the gated
// combination of each token's two expert outputs (top-2 routing is host work: backends/host_ops.h).
#include <cstring>

#include "backends/cpu/cpu_ops.h"
#include "backends/cpu/parallel.h"

namespace tusk::backends::cpu {

void gather_rows(MatrixView x, const int64_t* rows, MutableMatrixView out) {
  for (int64_t i = 0; i < out.rows; ++i)
    std::memcpy(out.data + i * out.ld, x.data + rows[i] * x.ld, out.cols * sizeof(float));
}

void scatter_rows(MatrixView x, const int64_t* rows, MutableMatrixView out) {
  for (int64_t i = 0; i < x.rows; ++i)
    std::memcpy(out.data + rows[i] * out.ld, x.data + i * x.ld, x.cols * sizeof(float));
}

void combine_top2(MatrixView first, MatrixView second, const ExpertRoute* routes,
                  MutableMatrixView out, int threads) {
  const int64_t d = out.cols;
#pragma omp parallel for num_threads(threads) if (worth_parallel(threads, out.rows * d))
  for (int64_t t = 0; t < out.rows; ++t) {
    const float g1 = routes[t].gate[0], g2 = routes[t].gate[1];
    const float* a = first.data + t * first.ld;
    const float* b = second.data + t * second.ld;
    float* o = out.data + t * out.ld;
    for (int64_t j = 0; j < d; ++j) o[j] = g1 * a[j] + g2 * b[j];
  }
}

}  // namespace tusk::backends::cpu
