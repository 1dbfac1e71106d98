#include "model_format/nllb_plan.h"

namespace tusk::format {

Plan plan_tensors(const ModelConfig& c) {
  Plan plan;
  const int64_t d = c.d_model;
  auto plain = [&](const std::string& name, Shape shape) { plan.dense[name] = {std::move(shape), Role::Plain}; };
  auto linear = [&](const std::string& name, Shape shape) { plan.dense[name] = {std::move(shape), Role::Linear}; };
  auto add_attention = [&](const std::string& p) {
    for (const char* proj : {"q_proj", "k_proj", "v_proj", "out_proj"}) {
      linear(p + "." + proj + ".weight", {d, d});
      plain(p + "." + proj + ".bias", {d});
    }
  };
  auto add_norm = [&](const std::string& p) {
    plain(p + ".weight", {d});
    plain(p + ".bias", {d});
  };
  for (Stack stack : {Stack::Encoder, Stack::Decoder}) {
    const bool enc = stack == Stack::Encoder;
    const std::string root = enc ? "model.encoder" : "model.decoder";
    const int layers = enc ? c.encoder_layers : c.decoder_layers;
    const int64_t ffn = enc ? c.encoder_ffn_dim : c.decoder_ffn_dim;
    for (int i = 0; i < layers; ++i) {
      const std::string p = root + ".layers." + std::to_string(i);
      add_attention(p + ".self_attn");
      add_norm(p + ".self_attn_layer_norm");
      if (!enc) {
        add_attention(p + ".cross_attention");
        add_norm(p + ".cross_attention_layer_norm");
      }
      add_norm(p + ".ff_layer_norm");
      const bool sparse = enc ? c.encoder_layer_is_sparse(i) : c.decoder_layer_is_sparse(i);
      if (!sparse) {
        linear(p + ".ffn.fc1.weight", {ffn, d});
        plain(p + ".ffn.fc1.bias", {ffn});
        linear(p + ".ffn.fc2.weight", {d, ffn});
        plain(p + ".ffn.fc2.bias", {d});
        continue;
      }
      plain(p + ".ffn.router.classifier.weight", {c.num_experts, d});
      for (int e = 0; e < c.num_experts; ++e)
        plan.experts.push_back({stack, i, e, p + ".ffn.experts.expert_" + std::to_string(e) + ".",
                                {{"fc1.weight", {ffn, d}}, {"fc1.bias", {ffn}},
                                 {"fc2.weight", {d, ffn}}, {"fc2.bias", {d}}}});
    }
    add_norm(root + ".layer_norm");
  }
  plan.dense["model.shared.weight"] = {{c.vocab_size, d}, Role::Embedding};
  return plan;
}

}  // namespace tusk::format
