#include "sdk/prepared_weights.h"

namespace tusk::sdk {
namespace {

class Preparer {
 public:
  Preparer(backends::Backend& backend, std::vector<backends::Tensor>& keep)
      : backend_(backend), keep_(keep) {}

  const float* f32(const float* host, int64_t count) {
    return host ? backend_.prepare(host, count, keep_) : nullptr;
  }
  MatrixWeights matrix(MatrixWeights m) {
    if (m.is_f32())
      m.f32 = f32(m.f32, m.out * m.in);
    else
      m.packed = backend_.prepare(m.packed, keep_);
    return m;
  }
  LinearWeights linear(LinearWeights l) {
    l.weight = matrix(l.weight);
    l.bias = f32(l.bias, l.out);
    return l;
  }
  LayerNormWeights norm(LayerNormWeights n, int64_t d) { return {f32(n.gamma, d), f32(n.beta, d)}; }
  AttentionWeights attention(const AttentionWeights& a) {
    return {linear(a.q), linear(a.k), linear(a.v), linear(a.out)};
  }
  template <class Layer>
  void ffn(Layer& l, int64_t d) {
    if (l.sparse)
      l.router.weight = f32(l.router.weight, static_cast<int64_t>(l.router.experts) * d);
    else
      l.ffn = {linear(l.ffn.fc1), linear(l.ffn.fc2)};
  }

 private:
  backends::Backend& backend_;
  std::vector<backends::Tensor>& keep_;
};

}  // namespace

std::shared_ptr<const PreparedWeights> prepare_weights(const GraphWeights& host,
                                                       backends::Backend& backend) {
  auto out = std::make_shared<PreparedWeights>();
  out->device = backend.device();
  Preparer p(backend, out->keep);
  GraphWeights& g = out->graph;
  const int64_t d = host.embedding.cols;

  g.embedding = host.embedding;
  if (host.embedding.f32)
    g.embedding.f32 = p.f32(host.embedding.f32, host.embedding.rows * d);
  else
    g.embedding.packed = backend.prepare(host.embedding.packed, out->keep);
  g.embedding.positions = p.f32(host.embedding.positions, host.embedding.position_rows * d);
  // lm_head tied to the embeddings shares their prepared bytes (no second device copy).
  const bool tied = host.lm_head.is_f32() ? host.lm_head.f32 == host.embedding.f32
                                          : host.lm_head.packed.data == host.embedding.packed.data;
  if (tied) {
    g.lm_head = host.lm_head;
    g.lm_head.f32 = g.embedding.f32;
    g.lm_head.packed = g.embedding.packed;
  } else {
    g.lm_head = p.matrix(host.lm_head);
  }

  for (EncoderLayer l : host.encoder) {
    l.self_attn_norm = p.norm(l.self_attn_norm, d);
    l.ffn_norm = p.norm(l.ffn_norm, d);
    l.self_attn = p.attention(l.self_attn);
    p.ffn(l, d);
    g.encoder.push_back(l);
  }
  for (DecoderLayer l : host.decoder) {
    l.self_attn_norm = p.norm(l.self_attn_norm, d);
    l.cross_attn_norm = p.norm(l.cross_attn_norm, d);
    l.ffn_norm = p.norm(l.ffn_norm, d);
    l.self_attn = p.attention(l.self_attn);
    l.cross_attn = p.attention(l.cross_attn);
    p.ffn(l, d);
    g.decoder.push_back(l);
  }
  g.encoder_final_norm = p.norm(host.encoder_final_norm, d);
  g.decoder_final_norm = p.norm(host.decoder_final_norm, d);
  return out;
}

}  // namespace tusk::sdk
