// Token embeddings: a table row (fp32 in place, or dequantized from its stored layout) scaled,
// plus the position row.
#include "backends/cpu/cpu_ops.h"
#include "backends/cpu/parallel.h"
#include "kernels/cpu/quantized_linear.h"

namespace tusk::backends::cpu {

void embed(const EmbeddingTable& table, const int32_t* ids, const int32_t* positions,
           MutableMatrixView out, int threads) {
  const int64_t d = table.cols;
  const kernels::PackedWeights packed{table.packed.layout, table.packed.data, table.packed.scales,
                                      table.packed.n, table.packed.k, table.packed.group};
#pragma omp parallel for num_threads(threads) if (worth_parallel(threads, out.rows * d * 8))
  for (int64_t i = 0; i < out.rows; ++i) {
    float* o = out.data + i * out.ld;
    const float* e = o;
    if (table.f32 != nullptr)
      e = table.f32 + static_cast<int64_t>(ids[i]) * d;
    else
      kernels::dequantize_row(packed, ids[i], o);  // then scaled in place below
    const float* p = table.positions + static_cast<int64_t>(positions[i]) * d;
    const float s = table.scale;
    for (int64_t j = 0; j < d; ++j) o[j] = e[j] * s + p[j];
  }
}

}  // namespace tusk::backends::cpu
