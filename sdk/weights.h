// Views of one layer's weights as the model graph uses them (pointers into the mmapped file or
// into decoded expert frames; owned elsewhere).
#pragma once

#include <cstdint>

#include "backends/backend.h"

namespace tusk::sdk {

// A weight matrix [out, in] as the file stores it: fp32 used in place, or packed (int8, int4
// with scales, fp16) in its stored layout for the backend.
struct MatrixWeights {
  const float* f32 = nullptr;   // set for fp32 weights
  backends::PackedMatrix packed;  // set for int8/int4/fp16 weights
  int64_t out = 0, in = 0;

  bool is_f32() const { return f32 != nullptr; }
};

struct LinearWeights {
  MatrixWeights weight;
  const float* bias = nullptr;  // [out] or null
  int64_t out = 0, in = 0;
};

struct LayerNormWeights {
  const float* gamma = nullptr;
  const float* beta = nullptr;
};

struct AttentionWeights {
  LinearWeights q, k, v, out;
};

struct FfnWeights {
  LinearWeights fc1, fc2;
};

struct RouterWeights {
  const float* weight = nullptr;  // [experts, d_model], no bias
  int experts = 0;
};

}  // namespace tusk::sdk
