// The decoder run one step at a time for a set of hypotheses, with an incremental
// self-attention cache and cross-attention keys/values computed once per source sentence.
//
// Cache layout per layer: [step][hypothesis][d_model], so a new step only appends and
// hypothesis h's keys are rows h, h+H, h+2H, ... (one strided view, no copies at read time).
// reorder() rewrites the cache when search keeps, drops or duplicates hypotheses.
#pragma once

#include <vector>

#include "sdk/layers.h"
#include "sdk/moe.h"
#include "sdk/source_batch.h"

namespace tusk::sdk {

class Decoder {
 public:
  // experts: where MoE layers get expert weights (the translator's cache or the model's
  // resident source); must outlive the decoder.
  Decoder(const Model& model, Backend& backend, ExpertSource& experts)
      : model_(model), backend_(backend), experts_(experts) {}

  // Computes cross-attention keys and values for the batch; clears the self-attention cache.
  void start(const SourceBatch& batch, const Activations& encoder_out);

  // Feeds tokens[h] at position `step` for each hypothesis h of sentence hyp_sentence[h].
  // Every hypothesis must have been fed steps 0..step-1. When logprobs is non-null it receives
  // the next-token log-probabilities [H, vocab].
  void step(const std::vector<int32_t>& tokens, const std::vector<int32_t>& hyp_sentence,
            int step, Activations* logprobs);

  // Keeps hypotheses: new hypothesis j continues old hypothesis parents[j]. The identity costs
  // nothing.
  void reorder(const std::vector<int32_t>& parents);

 private:
  struct LayerCache {
    std::vector<float> self_k, self_v;  // [steps][H][d]
    Activations cross_k, cross_v;       // [source tokens][d]
  };
  void self_attention(const DecoderLayer& layer, LayerCache& cache, int step);
  void cross_attention(const DecoderLayer& layer, LayerCache& cache,
                       const std::vector<int32_t>& hyp_sentence);
  const DecoderLayer* first_sparse_layer() const;

  const Model& model_;
  Backend& backend_;
  ExpertSource& experts_;
  const SourceBatch* batch_ = nullptr;
  std::vector<LayerCache> layers_;
  int64_t hyps_ = 0;   // H of the cache
  int steps_ = 0;      // steps held in the cache
  Activations x_, normed_, q_, context_, sublayer_out_, hidden_, logits_;
  std::vector<float> reorder_scratch_;
  std::vector<std::vector<int>> recent_experts_;  // per layer index: experts run at the last step
  MoeLayer moe_;
};

}  // namespace tusk::sdk
