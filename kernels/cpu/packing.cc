// Single-row dequantization (embedding lookups). Packing itself is the layout library's
// (model_format/layout/weight_layout.h).
#include <cstring>

#include "kernels/cpu/quantized_linear.h"
#include "kernels/cpu/weight_format.h"

namespace tusk::kernels {

// Scalar on purpose: embedding lookups touch one row per token, far from any hot loop.
void dequantize_row(const PackedWeights& w, int64_t row, float* out) {
  const int64_t k = w.k;
  switch (w.type) {
    case WeightType::F16: {
      const auto* h = static_cast<const uint16_t*>(w.data) + row * k;
      for (int64_t c = 0; c < k; ++c) out[c] = half_to_float(h[c]);
      return;
    }
    case WeightType::Int8: {
      const auto* q = static_cast<const int8_t*>(w.data) + row * k;
      for (int64_t c = 0; c < k; ++c) out[c] = q[c] * w.scales[scale_index(row, c, k, w.group)];
      return;
    }
    case WeightType::Int4: {
      const auto* bytes = static_cast<const uint8_t*>(w.data) + row * (k / 2);
      for (int64_t c = 0; c < k; ++c)
        out[c] = int4_value(bytes, c) * w.scales[scale_index(row, c, k, w.group)];
      return;
    }
  }
}

}  // namespace tusk::kernels
