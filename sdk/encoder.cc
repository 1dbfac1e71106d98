#include "sdk/encoder.h"

namespace tusk::sdk {

void embed_token(const Model& model, Backend& backend, int32_t id, int64_t position, float* out) {
  const auto& c = model.config();
  const int64_t d = c.d_model;
  const auto& table = model.embeddings();
  const float* e = out;
  if (table.is_f32())
    e = table.f32 + static_cast<int64_t>(id) * d;
  else
    backend.dequantize_row(table.packed, id, out);  // then scaled in place below
  const float* p = model.position(position + c.pad_id + 1);
  const float s = model.embedding_scale();
  for (int64_t j = 0; j < d; ++j) out[j] = e[j] * s + p[j];
}

void Encoder::self_attention(const EncoderLayer& layer, const SourceBatch& batch) {
  const int64_t T = batch.tokens(), d = model_.config().d_model;
  const auto h = as_const(normed_.view());
  linear(backend_, layer.self_attn.q, h, q_.shape(T, d));
  linear(backend_, layer.self_attn.k, h, k_.shape(T, d));
  linear(backend_, layer.self_attn.v, h, v_.shape(T, d));
  auto ctx = context_.shape(T, d);
  for (int s = 0; s < batch.size(); ++s) {
    const int64_t b = batch.begin(s), n = batch.length(s);
    backend_.attention({q_.row(b), n, d, d}, {k_.row(b), n, d, d}, {v_.row(b), n, d, d},
                       model_.config().encoder_heads, /*causal=*/false, 0,
                       {ctx.data + b * d, n, d, d});
  }
  linear(backend_, layer.self_attn.out, as_const(ctx), sublayer_out_.shape(T, d));
}

const Activations& Encoder::forward(const SourceBatch& batch) {
  const auto& c = model_.config();
  const int64_t T = batch.tokens(), d = c.d_model;
  auto x = x_.shape(T, d);
  for (int s = 0; s < batch.size(); ++s)
    for (int64_t i = 0; i < batch.length(s); ++i)
      embed_token(model_, backend_, batch.ids[batch.begin(s) + i], i, x.data + (batch.begin(s) + i) * d);

  const auto& layers = model_.encoder_layers();
  for (size_t i = 0; i < layers.size(); ++i) {
    const auto& layer = layers[i];
    layer_norm(backend_, layer.self_attn_norm, c.layer_norm_eps, as_const(x), normed_.shape(T, d));
    self_attention(layer, batch);
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
  layer_norm(backend_, model_.encoder_final_norm(), c.layer_norm_eps, as_const(x),
             normed_.shape(T, d));
  return normed_;
}

}  // namespace tusk::sdk
