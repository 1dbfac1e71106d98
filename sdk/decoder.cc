#include "sdk/decoder.h"

#include <cstring>

#include "common/error.h"
#include "sdk/encoder.h"

namespace tusk::sdk {

const DecoderLayer* Decoder::first_sparse_layer() const {
  for (const auto& layer : model_.decoder_layers())
    if (layer.sparse) return &layer;
  return nullptr;
}

void Decoder::start(const SourceBatch& batch, const Activations& encoder_out) {
  const int64_t T = batch.tokens(), d = model_.config().d_model;
  batch_ = &batch;
  layers_.resize(model_.decoder_layers().size());
  // Kept across batches: the last batch's experts are the first step's best guess.
  recent_experts_.resize(model_.decoder_layers().size());
  for (size_t i = 0; i < layers_.size(); ++i) {
    const auto& w = model_.decoder_layers()[i].cross_attn;
    auto& cache = layers_[i];
    linear(backend_, w.k, encoder_out.cview(), cache.cross_k.shape(T, d));
    linear(backend_, w.v, encoder_out.cview(), cache.cross_v.shape(T, d));
    cache.self_k.clear();
    cache.self_v.clear();
  }
  hyps_ = 0;
  steps_ = 0;
}

void Decoder::self_attention(const DecoderLayer& layer, LayerCache& cache, int step) {
  const int64_t H = hyps_, d = model_.config().d_model;
  const auto h = as_const(normed_.view());
  const size_t step_size = static_cast<size_t>(H * d);
  cache.self_k.resize((step + 1) * step_size);
  cache.self_v.resize((step + 1) * step_size);
  float* k_now = cache.self_k.data() + step * step_size;
  float* v_now = cache.self_v.data() + step * step_size;
  linear(backend_, layer.self_attn.q, h, q_.shape(H, d));
  linear(backend_, layer.self_attn.k, h, {k_now, H, d, d});
  linear(backend_, layer.self_attn.v, h, {v_now, H, d, d});
  auto ctx = context_.shape(H, d);
  for (int64_t j = 0; j < H; ++j) {
    // Hypothesis j's keys for steps 0..step: rows j, j+H, ... of the cache.
    const MatrixView k{cache.self_k.data() + j * d, step + 1, d, H * d};
    const MatrixView v{cache.self_v.data() + j * d, step + 1, d, H * d};
    backend_.attention({q_.row(j), 1, d, d}, k, v, model_.config().decoder_heads,
                       /*causal=*/false, step, {ctx.data + j * d, 1, d, d});
  }
  linear(backend_, layer.self_attn.out, as_const(ctx), sublayer_out_.shape(H, d));
}

void Decoder::cross_attention(const DecoderLayer& layer, LayerCache& cache,
                              const std::vector<int32_t>& hyp_sentence) {
  const int64_t H = hyps_, d = model_.config().d_model;
  linear(backend_, layer.cross_attn.q, normed_.cview(), q_.shape(H, d));
  auto ctx = context_.shape(H, d);
  for (int64_t j = 0; j < H; ++j) {
    const int s = hyp_sentence[j];
    const int64_t b = batch_->begin(s), n = batch_->length(s);
    backend_.attention({q_.row(j), 1, d, d}, {cache.cross_k.row(b), n, d, d},
                       {cache.cross_v.row(b), n, d, d}, model_.config().decoder_heads,
                       /*causal=*/false, 0, {ctx.data + j * d, 1, d, d});
  }
  linear(backend_, layer.cross_attn.out, as_const(ctx), sublayer_out_.shape(H, d));
}

void Decoder::step(const std::vector<int32_t>& tokens, const std::vector<int32_t>& hyp_sentence,
                   int step, Activations* logprobs) {
  const auto& c = model_.config();
  const int64_t H = static_cast<int64_t>(tokens.size()), d = c.d_model;
  if (step != steps_ || (step > 0 && H != hyps_) || hyp_sentence.size() != tokens.size())
    throw Error(ErrorCode::Internal, "decoder step out of sequence");
  if (step >= model_.max_sequence_length())
    throw Error(ErrorCode::Internal, "decoder step beyond the position table");
  hyps_ = H;

  auto x = x_.shape(H, d);
  for (int64_t j = 0; j < H; ++j) embed_token(model_, backend_, tokens[j], step, x.data + j * d);

  for (size_t i = 0; i < layers_.size(); ++i) {
    const auto& layer = model_.decoder_layers()[i];
    auto& cache = layers_[i];
    layer_norm(backend_, layer.self_attn_norm, c.layer_norm_eps, as_const(x), normed_.shape(H, d));
    self_attention(layer, cache, step);
    backend_.add_scaled(sublayer_out_.cview(), 1.0f, x);

    layer_norm(backend_, layer.cross_attn_norm, c.layer_norm_eps, as_const(x), normed_.shape(H, d));
    cross_attention(layer, cache, hyp_sentence);
    backend_.add_scaled(sublayer_out_.cview(), 1.0f, x);

    layer_norm(backend_, layer.ffn_norm, c.layer_norm_eps, as_const(x), normed_.shape(H, d));
    auto y = sublayer_out_.shape(H, d);
    if (layer.sparse) {
      // Next: the following sparse layer, predicted by its router on this layer's input plus
      // what it ran last step; after the last one, the first sparse layer of the next step,
      // predicted by what it ran this step.
      MoeLookahead next;
      if (const auto* n = next_sparse_layer(model_.decoder_layers(), i))
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
  steps_ = step + 1;
  if (!logprobs) return;
  layer_norm(backend_, model_.decoder_final_norm(), c.layer_norm_eps, as_const(x), normed_.shape(H, d));
  auto out = logprobs->shape(H, c.vocab_size);
  matmul(backend_, model_.lm_head(), nullptr, normed_.cview(), out);
  backend_.log_softmax(out);
}

void Decoder::reorder(const std::vector<int32_t>& parents) {
  const int64_t d = model_.config().d_model, H = hyps_;
  const int64_t new_h = static_cast<int64_t>(parents.size());
  bool identity = new_h == H;
  for (int64_t j = 0; identity && j < new_h; ++j) identity = parents[j] == j;
  if (identity) return;
  for (auto& cache : layers_) {
    for (auto* buf : {&cache.self_k, &cache.self_v}) {
      reorder_scratch_.resize(static_cast<size_t>(steps_) * new_h * d);
      for (int t = 0; t < steps_; ++t)
        for (int64_t j = 0; j < new_h; ++j)
          std::memcpy(reorder_scratch_.data() + (t * new_h + j) * d,
                      buf->data() + (t * H + parents[j]) * d, d * sizeof(float));
      buf->swap(reorder_scratch_);
    }
  }
  hyps_ = new_h;
}

}  // namespace tusk::sdk
