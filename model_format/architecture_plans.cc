#include "model_format/architecture_plans.h"

#include "common/error.h"

namespace tusk::format {
namespace {

// How one architecture names the parts of a layer, relative to "model.<stack>.layers.N.".
struct LayerNames {
  const char* cross_attention;       // decoder only
  const char* cross_attention_norm;  // decoder only
  const char* ffn_norm;
  const char* dense_ffn;  // prefix of fc1/fc2: "ffn." or ""
};

constexpr LayerNames kNllbMoeNames = {"cross_attention", "cross_attention_layer_norm", "ff_layer_norm", "ffn."};
constexpr LayerNames kM2M100Names = {"encoder_attn", "encoder_attn_layer_norm", "final_layer_norm", ""};

}  // namespace

Plan plan_tensors(const ModelConfig& c) {
  const bool moe = c.architecture == kArchNllbMoe;
  if (!moe && c.architecture != kArchM2M100)
    throw Error(ErrorCode::Unsupported, "no conversion plan for architecture '" + c.architecture + "'");
  const LayerNames& hf = moe ? kNllbMoeNames : kM2M100Names;
  Plan plan;
  const int64_t d = c.d_model;
  auto add = [&](const std::string& name, const std::string& source, Shape shape, Role role) {
    plan.dense[name] = {std::move(shape), role, source};
  };
  auto add_attention = [&](const std::string& p, const std::string& src) {
    for (const char* proj : {"q_proj", "k_proj", "v_proj", "out_proj"}) {
      add(p + "." + proj + ".weight", src + "." + proj + ".weight", {d, d}, Role::Linear);
      add(p + "." + proj + ".bias", src + "." + proj + ".bias", {d}, Role::Plain);
    }
  };
  auto add_norm = [&](const std::string& p, const std::string& src) {
    add(p + ".weight", src + ".weight", {d}, Role::Plain);
    add(p + ".bias", src + ".bias", {d}, Role::Plain);
  };
  for (Stack stack : {Stack::Encoder, Stack::Decoder}) {
    const bool enc = stack == Stack::Encoder;
    const std::string root = enc ? "model.encoder" : "model.decoder";
    const int layers = enc ? c.encoder_layers : c.decoder_layers;
    const int64_t ffn = enc ? c.encoder_ffn_dim : c.decoder_ffn_dim;
    for (int i = 0; i < layers; ++i) {
      const std::string p = root + ".layers." + std::to_string(i);
      add_attention(p + ".self_attn", p + ".self_attn");
      add_norm(p + ".self_attn_layer_norm", p + ".self_attn_layer_norm");
      if (!enc) {
        add_attention(p + ".cross_attention", p + "." + hf.cross_attention);
        add_norm(p + ".cross_attention_layer_norm", p + "." + hf.cross_attention_norm);
      }
      add_norm(p + ".ff_layer_norm", p + "." + hf.ffn_norm);
      const bool sparse = enc ? c.encoder_layer_is_sparse(i) : c.decoder_layer_is_sparse(i);
      if (!sparse) {
        const std::string src = p + "." + hf.dense_ffn;
        add(p + ".ffn.fc1.weight", src + "fc1.weight", {ffn, d}, Role::Linear);
        add(p + ".ffn.fc1.bias", src + "fc1.bias", {ffn}, Role::Plain);
        add(p + ".ffn.fc2.weight", src + "fc2.weight", {d, ffn}, Role::Linear);
        add(p + ".ffn.fc2.bias", src + "fc2.bias", {d}, Role::Plain);
        continue;
      }
      add(p + ".ffn.router.classifier.weight", p + ".ffn.router.classifier.weight", {c.num_experts, d}, Role::Plain);
      for (int e = 0; e < c.num_experts; ++e)
        plan.experts.push_back({stack, i, e, p + ".ffn.experts.expert_" + std::to_string(e) + ".",
                                {{"fc1.weight", {ffn, d}}, {"fc1.bias", {ffn}},
                                 {"fc2.weight", {d, ffn}}, {"fc2.bias", {d}}}});
    }
    add_norm(root + ".layer_norm", root + ".layer_norm");
  }
  add("model.shared.weight", "model.shared.weight", {c.vocab_size, d}, Role::Embedding);
  return plan;
}

}  // namespace tusk::format
