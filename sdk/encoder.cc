#include "sdk/encoder.h"

namespace tusk::sdk {

void Encoder::self_attention(const EncoderLayer& layer) {
  const int64_t T = normed_.rows(), d = model_.config().d_model;
  const auto h = as_const(normed_.view());
  linear(backend_, layer.self_attn.q, h, q_.shape(T, d));
  linear(backend_, layer.self_attn.k, h, k_.shape(T, d));
  linear(backend_, layer.self_attn.v, h, v_.shape(T, d));
  backend_.attention(q_.cview(), k_.cview(), v_.cview(), model_.config().encoder_heads,
                     ranges_.data(), context_.shape(T, d));
  linear(backend_, layer.self_attn.out, context_.cview(), sublayer_out_.shape(T, d));
}

const Activations& Encoder::forward(const SourceBatch& batch) {
  const auto& c = model_.config();
  const int64_t T = batch.tokens(), d = c.d_model;
  ids_.clear();
  positions_.clear();
  ranges_.clear();
  for (int s = 0; s < batch.size(); ++s)
    for (int64_t i = 0; i < batch.length(s); ++i) {
      ids_.push_back(batch.ids[batch.begin(s) + i]);
      positions_.push_back(model_.position_row(i));
      ranges_.push_back({batch.begin(s), batch.length(s), 1});
    }
  auto x = x_.shape(T, d);
  backend_.embed(graph().embedding, ids_.data(), positions_.data(), x);

  const auto& layers = graph().encoder;
  for (size_t i = 0; i < layers.size(); ++i) {
    const auto& layer = layers[i];
    layer_norm(backend_, layer.self_attn_norm, c.layer_norm_eps, as_const(x), normed_.shape(T, d));
    self_attention(layer);
    backend_.add_scaled(sublayer_out_.cview(), 1.0f, x);

    layer_norm(backend_, layer.ffn_norm, c.layer_norm_eps, as_const(x), normed_.shape(T, d));
    auto y = sublayer_out_.shape(T, d);
    if (layer.sparse) {
      MoeLookahead next;  // the encoder's last sparse layer predicts nothing: the decoder's
                          // hidden states are another stream
      if (const auto* n = next_sparse_layer(layers, i)) next = {n->index, &n->router, nullptr};
      moe_.forward(backend_, experts_, format::Stack::Encoder, layer.index, layer.router,
                   normed_.cview(), y, next);
    } else
      dense_ffn(backend_, layer.ffn, normed_.cview(), hidden_, y);
    backend_.add_scaled(as_const(y), 1.0f, x);
  }
  layer_norm(backend_, graph().encoder_final_norm, c.layer_norm_eps, as_const(x),
             normed_.shape(T, d));
  return normed_;
}

}  // namespace tusk::sdk
