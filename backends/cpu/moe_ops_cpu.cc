// The mixture-of-experts ops: top-2 routing, moving token rows to and from an expert's group,
// and the gated combination of each token's two expert outputs.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "backends/cpu/cpu_ops.h"
#include "backends/cpu/parallel.h"

namespace tusk::backends::cpu {

void route_top2(MatrixView logits, ExpertRoute* routes) {
  const int64_t E = logits.cols;
  for (int64_t t = 0; t < logits.rows; ++t) {
    const float* l = logits.data + t * logits.ld;
    int64_t e1 = 0;
    for (int64_t e = 1; e < E; ++e)
      if (l[e] > l[e1]) e1 = e;
    int64_t e2 = -1;
    for (int64_t e = 0; e < E; ++e)
      if (e != e1 && (e2 < 0 || l[e] > l[e2])) e2 = e;
    // softmax's denominator relative to the first pick, so p1 = 1 / sum.
    float sum = 0.0f;
    for (int64_t e = 0; e < E; ++e) sum += std::exp(l[e] - l[e1]);
    const float p1 = 1.0f / sum, p2 = std::exp(l[e2] - l[e1]) / sum;
    const float den = std::max(p1 + p2, std::numeric_limits<float>::epsilon());
    routes[t] = {{static_cast<int32_t>(e1), static_cast<int32_t>(e2)}, {p1 / den, p2 / den}};
  }
}

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
