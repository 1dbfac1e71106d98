// The encoder stack over a packed SourceBatch: embeddings + positions, then per layer
// pre-norm self-attention and a dense or MoE FFN, then the final layer norm.
#pragma once

#include "sdk/layers.h"
#include "sdk/moe.h"
#include "sdk/source_batch.h"

namespace tusk::sdk {

class Encoder {
 public:
  // experts: where MoE layers get expert weights (the translator's cache or the model's
  // resident source); must outlive the encoder.
  Encoder(const Model& model, Backend& backend, ExpertSource& experts)
      : model_(model), backend_(backend), experts_(experts) {}

  // Returns [batch.tokens(), d_model]; valid until the next call.
  const Activations& forward(const SourceBatch& batch);

 private:
  void self_attention(const EncoderLayer& layer, const SourceBatch& batch);

  const Model& model_;
  Backend& backend_;
  ExpertSource& experts_;
  Activations x_, normed_, q_, k_, v_, context_, sublayer_out_, hidden_;
  MoeLayer moe_;
};

// Embedding lookup for one token at a sequence position: scale * E[id] + P[pos].
void embed_token(const Model& model, Backend& backend, int32_t id, int64_t position, float* out);

}  // namespace tusk::sdk
