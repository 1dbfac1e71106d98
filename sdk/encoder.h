// The encoder stack over a packed SourceBatch: embeddings + positions, then per layer
// pre-norm self-attention and a dense or MoE FFN, then the final layer norm.
#pragma once

#include <memory>

#include "sdk/layers.h"
#include "sdk/moe.h"
#include "sdk/source_batch.h"

namespace tusk::sdk {

class Encoder {
 public:
  // experts: where MoE layers get expert weights (the translator's cache or the model's
  // resident source); must outlive the encoder.
  Encoder(const Model& model, Backend& backend, ExpertSource& experts)
      : model_(model), backend_(backend), experts_(experts), weights_(model.weights_for(backend)),
        x_(backend), normed_(backend), q_(backend), k_(backend), v_(backend), context_(backend),
        sublayer_out_(backend), hidden_(backend), moe_(backend) {}

  // Returns [batch.tokens(), d_model]; valid until the next call.
  const Activations& forward(const SourceBatch& batch);

 private:
  void self_attention(const EncoderLayer& layer);

  const Model& model_;
  Backend& backend_;
  ExpertSource& experts_;
  std::shared_ptr<const PreparedWeights> weights_;  // the dense weights on backend_'s device
  const GraphWeights& graph() const { return weights_->graph; }
  Activations x_, normed_, q_, k_, v_, context_, sublayer_out_, hidden_;
  std::vector<int32_t> ids_, positions_;  // the batch's tokens and their position rows
  std::vector<backends::KeyRange> ranges_;  // each token attends its own sentence
  MoeLayer moe_;
};

}  // namespace tusk::sdk
