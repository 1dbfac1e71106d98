// Views of the model graph's weights (pointers into the model's dense bytes, into decoded expert
// frames, or into a backend's prepared copies; owned elsewhere).
#pragma once

#include <cstdint>
#include <vector>

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

struct EncoderLayer {
  int index = 0;
  LayerNormWeights self_attn_norm, ffn_norm;
  AttentionWeights self_attn;
  bool sparse = false;
  FfnWeights ffn;        // dense layers
  RouterWeights router;  // sparse layers
};

struct DecoderLayer {
  int index = 0;
  LayerNormWeights self_attn_norm, cross_attn_norm, ffn_norm;
  AttentionWeights self_attn, cross_attn;
  bool sparse = false;
  FfnWeights ffn;
  RouterWeights router;
};

// Every dense weight of the graph, as one device reads them.
struct GraphWeights {
  backends::EmbeddingTable embedding;  // token embeddings, their scale, the position table
  MatrixWeights lm_head;               // [vocab, d_model]
  std::vector<EncoderLayer> encoder;
  std::vector<DecoderLayer> decoder;
  LayerNormWeights encoder_final_norm, decoder_final_norm;
};

}  // namespace tusk::sdk
