#include "sdk/decoder.h"

#include <algorithm>

#include "common/error.h"

namespace tusk::sdk {

Decoder::Decoder(const Model& model, Backend& backend, ExpertSource& experts)
    : model_(model), backend_(backend), experts_(experts), weights_(model.weights_for(backend)),
      x_(backend), normed_(backend), q_(backend), context_(backend), sublayer_out_(backend),
      hidden_(backend), moe_(backend), spare_(backend) {
  layers_.reserve(graph().decoder.size());
  for (size_t i = 0; i < graph().decoder.size(); ++i)
    layers_.emplace_back(backend, model.config().d_model);
  // Kept across batches: the last batch's experts are the first step's best guess.
  recent_experts_.resize(graph().decoder.size());
}

const DecoderLayer* Decoder::first_sparse_layer() const {
  for (const auto& layer : graph().decoder)
    if (layer.sparse) return &layer;
  return nullptr;
}

void Decoder::start(const SourceBatch& batch, const Activations& encoder_out) {
  const int64_t T = batch.tokens(), d = model_.config().d_model;
  spans_.clear();
  for (int s = 0; s < batch.size(); ++s) spans_.emplace_back(batch.begin(s), batch.length(s));
  for (size_t i = 0; i < layers_.size(); ++i) {
    const auto& w = graph().decoder[i].cross_attn;
    auto& cache = layers_[i];
    linear(backend_, w.k, encoder_out.cview(), cache.cross_k.shape(T, d));
    linear(backend_, w.v, encoder_out.cview(), cache.cross_v.shape(T, d));
    cache.self->clear();
  }
  hyps_ = 0;
  steps_ = 0;
}

void Decoder::clear() {
  spans_.clear();
  for (auto& cache : layers_) cache.self->clear();
  hyps_ = 0;
  steps_ = 0;
}

void Decoder::keep(const std::vector<int32_t>& keep) {
  std::vector<std::pair<int64_t, int64_t>> spans;
  for (int32_t s : keep) {
    if (s < 0 || s >= sentences()) throw Error(ErrorCode::Internal, "decoder keeps a sentence it does not hold");
    spans.push_back(spans_[static_cast<size_t>(s)]);
  }
  spans_ = std::move(spans);
}

void Decoder::admit(const std::vector<int32_t>& keep, const SourceBatch& batch, const Activations& encoder_out) {
  const int64_t d = model_.config().d_model, fresh = batch.tokens();
  this->keep(keep);
  int64_t live = 0, end = 0;
  for (const auto& [begin, count] : spans_) {
    live += count;
    end = std::max(end, begin + count);
  }
  // The new rows go after the last live one while they fit; otherwise the live rows are
  // gathered to the front of a buffer with room (amortised: it doubles).
  bool fits = true;
  for (const auto& cache : layers_)
    fits = fits && end + fresh <= std::min(cache.cross_k.capacity_rows(d), cache.cross_v.capacity_rows(d));
  std::vector<int64_t> rows;
  if (!fits) {
    for (auto& [begin, count] : spans_) {
      const int64_t at = static_cast<int64_t>(rows.size());
      for (int64_t r = begin; r < begin + count; ++r) rows.push_back(r);
      begin = at;
    }
    end = live;
  }
  for (int s = 0; s < batch.size(); ++s) spans_.emplace_back(end + batch.begin(s), batch.length(s));
  for (size_t i = 0; i < layers_.size(); ++i) {
    const auto& w = graph().decoder[i].cross_attn;
    auto& cache = layers_[i];
    for (Activations* cross : {&cache.cross_k, &cache.cross_v}) {
      MutableMatrixView all;
      if (fits) {
        all = cross->shape(end + fresh, d);  // within capacity: the rows held stay
      } else {
        spare_.reserve(std::max(2 * (end + fresh), int64_t{64}), d);  // room to append into later
        all = spare_.shape(end + fresh, d);
        if (end > 0) backend_.gather_rows(cross->cview(), rows.data(), {all.data, end, d, all.ld});
      }
      if (fresh > 0)
        linear(backend_, cross == &cache.cross_k ? w.k : w.v, encoder_out.cview(),
               {all.data + end * all.ld, fresh, d, all.ld});
      if (!fits) std::swap(*cross, spare_);
    }
  }
}

void Decoder::self_attention(const DecoderLayer& layer, LayerCache& cache) {
  const int64_t H = hyps_, d = model_.config().d_model;
  const auto h = as_const(normed_.view());
  const auto [k_now, v_now] = cache.self->append(H);
  linear(backend_, layer.self_attn.q, h, q_.shape(H, d));
  linear(backend_, layer.self_attn.k, h, k_now);
  linear(backend_, layer.self_attn.v, h, v_now);
  backend_.attention(q_.cview(), *cache.self, model_.config().decoder_heads, context_.shape(H, d));
  linear(backend_, layer.self_attn.out, context_.cview(), sublayer_out_.shape(H, d));
}

void Decoder::cross_attention(const DecoderLayer& layer, LayerCache& cache) {
  const int64_t H = hyps_, d = model_.config().d_model;
  linear(backend_, layer.cross_attn.q, normed_.cview(), q_.shape(H, d));
  backend_.attention(q_.cview(), cache.cross_k.cview(), cache.cross_v.cview(),
                     model_.config().decoder_heads, cross_ranges_.data(), context_.shape(H, d));
  linear(backend_, layer.cross_attn.out, context_.cview(), sublayer_out_.shape(H, d));
}

void Decoder::step(const std::vector<int32_t>& tokens, const std::vector<int32_t>& hyp_sentence,
                   int step, Activations* out, Output what) {
  const int64_t H = static_cast<int64_t>(tokens.size());
  if (step != steps_ || (step > 0 && H != hyps_) || hyp_sentence.size() != tokens.size())
    throw Error(ErrorCode::Internal, "decoder step out of sequence");
  if (step >= model_.max_sequence_length())
    throw Error(ErrorCode::Internal, "decoder step beyond the position table");
  positions_.assign(static_cast<size_t>(H), model_.position_row(step));
  run(tokens, hyp_sentence, out, what);
  steps_ = step + 1;
}

void Decoder::step_at(const std::vector<int32_t>& tokens, const std::vector<int32_t>& hyp_sentence,
                      const std::vector<int32_t>& positions, Activations* out, Output what) {
  if (static_cast<int64_t>(tokens.size()) != hyps_ || hyp_sentence.size() != tokens.size() ||
      positions.size() != tokens.size())
    throw Error(ErrorCode::Internal, "decoder step out of sequence");
  positions_.clear();
  for (int32_t p : positions) {
    if (p < 0 || p >= model_.max_sequence_length())
      throw Error(ErrorCode::Internal, "decoder step beyond the position table");
    positions_.push_back(model_.position_row(p));
  }
  run(tokens, hyp_sentence, out, what);
}

void Decoder::run(const std::vector<int32_t>& tokens, const std::vector<int32_t>& hyp_sentence, Activations* out,
                  Output what) {
  const auto& c = model_.config();
  const int64_t H = static_cast<int64_t>(tokens.size()), d = c.d_model;
  for (int32_t s : hyp_sentence)
    if (s < 0 || s >= sentences()) throw Error(ErrorCode::Internal, "decoder step names a sentence outside the batch");
  hyps_ = H;
  cross_ranges_.clear();
  for (int32_t s : hyp_sentence) cross_ranges_.push_back({spans_[s].first, spans_[s].second, 1});
  auto x = x_.shape(H, d);
  backend_.embed(graph().embedding, tokens.data(), positions_.data(), x);

  for (size_t i = 0; i < layers_.size(); ++i) {
    const auto& layer = graph().decoder[i];
    auto& cache = layers_[i];
    layer_norm(backend_, layer.self_attn_norm, c.layer_norm_eps, as_const(x), normed_.shape(H, d));
    self_attention(layer, cache);
    backend_.add_scaled(sublayer_out_.cview(), 1.0f, x);

    layer_norm(backend_, layer.cross_attn_norm, c.layer_norm_eps, as_const(x), normed_.shape(H, d));
    cross_attention(layer, cache);
    backend_.add_scaled(sublayer_out_.cview(), 1.0f, x);

    layer_norm(backend_, layer.ffn_norm, c.layer_norm_eps, as_const(x), normed_.shape(H, d));
    auto y = sublayer_out_.shape(H, d);
    if (layer.sparse) {
      // Next: the following sparse layer, predicted by its router on this layer's input plus
      // what it ran last step; after the last one, the first sparse layer of the next step,
      // predicted by what it ran this step.
      MoeLookahead next;
      if (const auto* n = next_sparse_layer(graph().decoder, i))
        next = {n->index, &n->router, &recent_experts_[n->index]};
      else if (const auto* first = first_sparse_layer())
        next = {first->index, nullptr, &recent_experts_[first->index]};
      moe_.forward(backend_, experts_, format::Stack::Decoder, layer.index, layer.router,
                   normed_.cview(), y, next);
      recent_experts_[layer.index] = moe_.used_experts();
    } else {
      dense_ffn(backend_, layer.ffn, normed_.cview(), hidden_, y);
    }
    backend_.add_scaled(as_const(y), 1.0f, x);
  }
  if (!out) return;
  layer_norm(backend_, graph().decoder_final_norm, c.layer_norm_eps, as_const(x), normed_.shape(H, d));
  auto scores = out->shape(H, c.vocab_size);
  matmul(backend_, graph().lm_head, nullptr, normed_.cview(), scores);
  if (what == Output::LogProbs) backend_.log_softmax(scores);
}

void Decoder::reorder(const std::vector<int32_t>& parents) {
  for (auto& cache : layers_) cache.self->reorder(parents);
  hyps_ = static_cast<int64_t>(parents.size());
}

}  // namespace tusk::sdk
