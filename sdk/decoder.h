// The decoder run one step at a time for a set of hypotheses, with an incremental
// self-attention cache (the backend's KvCache, one per layer) and cross-attention keys/values
// computed once per source batch. reorder() follows search as it keeps, drops or duplicates
// hypotheses.
#pragma once

#include <memory>
#include <utility>
#include <vector>

#include "sdk/layers.h"
#include "sdk/moe.h"
#include "sdk/source_batch.h"

namespace tusk::sdk {

class Decoder {
 public:
  // experts: where MoE layers get expert weights (the translator's cache or the model's
  // resident source); must outlive the decoder.
  Decoder(const Model& model, Backend& backend, ExpertSource& experts);

  Backend& backend() { return backend_; }

  // Computes cross-attention keys and values for the batch; clears the self-attention cache.
  void start(const SourceBatch& batch, const Activations& encoder_out);

  // Continuous batching: the sentences held become keep (old sentence indices, in that order)
  // followed by the batch's; the others' cross-attention rows are dropped. Hypotheses are
  // admitted separately, by reorder() with parent -1.
  void admit(const std::vector<int32_t>& keep, const SourceBatch& batch, const Activations& encoder_out);
  // The same with no new sentences: the kept ones' rows stay where they are.
  void keep(const std::vector<int32_t>& keep);
  // Holds no sentence and no step (continuous batching starts from here).
  void clear();
  int sentences() const { return static_cast<int>(spans_.size()); }

  // What a step writes: next-token log-probabilities (beam search), or the raw logits (greedy
  // search, which normalises only the token it picks: Backend::argmax_log_softmax).
  enum class Output { LogProbs, Logits };

  // Feeds tokens[h] at position `step` for each hypothesis h of sentence hyp_sentence[h].
  // Every hypothesis must have been fed steps 0..step-1. When out is non-null it receives the
  // next-token scores [H, vocab] as `what` says (on the backend's device).
  void step(const std::vector<int32_t>& tokens, const std::vector<int32_t>& hyp_sentence,
            int step, Activations* out, Output what = Output::LogProbs);

  // Continuous batching: feeds tokens[h] at position positions[h] for each hypothesis h of
  // sentence hyp_sentence[h]; each has been fed positions 0 .. positions[h] - 1 since it was
  // admitted (reorder with parent -1).
  void step_at(const std::vector<int32_t>& tokens, const std::vector<int32_t>& hyp_sentence,
               const std::vector<int32_t>& positions, Activations* out, Output what);

  // Keeps hypotheses: new hypothesis j continues old hypothesis parents[j], or is a new one
  // with nothing fed yet where parents[j] is -1. The identity costs nothing.
  void reorder(const std::vector<int32_t>& parents);

 private:
  struct LayerCache {
    LayerCache(Backend& backend, int64_t width)
        : self(backend.make_kv_cache(width)), cross_k(backend), cross_v(backend) {}
    std::unique_ptr<backends::KvCache> self;
    Activations cross_k, cross_v;  // [source tokens][d]
  };
  void run(const std::vector<int32_t>& tokens, const std::vector<int32_t>& hyp_sentence, Activations* out,
           Output what);  // positions_ set
  void self_attention(const DecoderLayer& layer, LayerCache& cache);
  void cross_attention(const DecoderLayer& layer, LayerCache& cache);
  const DecoderLayer* first_sparse_layer() const;

  const Model& model_;
  Backend& backend_;
  ExpertSource& experts_;
  std::shared_ptr<const PreparedWeights> weights_;  // the dense weights on backend_'s device
  const GraphWeights& graph() const { return weights_->graph; }
  std::vector<std::pair<int64_t, int64_t>> spans_;  // per sentence: its cross rows (begin, count)
  std::vector<LayerCache> layers_;
  int64_t hyps_ = 0;   // H of the cache
  int steps_ = 0;      // steps held in the cache
  Activations x_, normed_, q_, context_, sublayer_out_, hidden_;
  std::vector<int32_t> positions_;              // the step's position row, per hypothesis
  std::vector<backends::KeyRange> cross_ranges_;  // each hypothesis attends its sentence
  std::vector<std::vector<int>> recent_experts_;  // per layer index: experts run at the last step
  MoeLayer moe_;
  Activations spare_;  // admit()'s new cross rows, swapped with a layer's
};

}  // namespace tusk::sdk
