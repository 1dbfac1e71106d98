// config.json -> ModelConfig, with every key checked for presence, type and sense.
#include "model_format/hf_config.h"

#include <cstdint>
#include <fstream>
#include <limits>

#include <nlohmann/json.hpp>

#include "common/error.h"

namespace tusk::format {
namespace {

using nlohmann::json;

// config.json is a few KB; anything near this is not a config.
constexpr std::streamoff kMaxConfigBytes = 16 << 20;

class ConfigReader {
 public:
  ConfigReader(const json& root, const std::string& source) : root_(root), source_(source) {}

  [[noreturn]] void fail(ErrorCode code, const std::string& what) const {
    throw Error(code, source_ + ": " + what);
  }

  const json& required(const char* key) const {
    auto it = root_.find(key);
    if (it == root_.end()) fail(ErrorCode::InvalidModel, std::string("missing required key \"") + key + "\"");
    return *it;
  }

  int32_t integer(const char* key) const {
    const json& v = required(key);
    if (!v.is_number_integer()) fail(ErrorCode::InvalidModel, std::string("\"") + key + "\" must be an integer");
    if (v.is_number_unsigned()) {
      uint64_t u = v.get<uint64_t>();
      if (u > static_cast<uint64_t>(std::numeric_limits<int32_t>::max()))
        fail(ErrorCode::InvalidModel, std::string("\"") + key + "\" is out of range");
      return static_cast<int32_t>(u);
    }
    int64_t s = v.get<int64_t>();
    if (s < std::numeric_limits<int32_t>::min() || s > std::numeric_limits<int32_t>::max())
      fail(ErrorCode::InvalidModel, std::string("\"") + key + "\" is out of range");
    return static_cast<int32_t>(s);
  }

  double number(const char* key) const {
    const json& v = required(key);
    if (!v.is_number()) fail(ErrorCode::InvalidModel, std::string("\"") + key + "\" must be a number");
    return v.get<double>();
  }

  bool boolean(const char* key) const { return boolean_value(key, required(key)); }

  bool optional_boolean(const char* key, bool fallback) const {
    auto it = root_.find(key);
    return it == root_.end() ? fallback : boolean_value(key, *it);
  }

  std::string text(const char* key) const {
    const json& v = required(key);
    if (!v.is_string()) fail(ErrorCode::InvalidModel, std::string("\"") + key + "\" must be a string");
    return v.get<std::string>();
  }

 private:
  bool boolean_value(const char* key, const json& v) const {
    if (!v.is_boolean()) fail(ErrorCode::InvalidModel, std::string("\"") + key + "\" must be true or false");
    return v.get<bool>();
  }

  const json& root_;
  const std::string& source_;
};

void check_sense(const ConfigReader& r, const HfConfig& hf) {
  const ModelConfig& c = hf.model;
  auto positive = [&](int32_t v, const char* key) {
    if (v <= 0) r.fail(ErrorCode::InvalidModel, std::string("\"") + key + "\" must be positive");
  };
  positive(c.vocab_size, "vocab_size");
  positive(c.d_model, "d_model");
  positive(c.encoder_layers, "encoder_layers");
  positive(c.decoder_layers, "decoder_layers");
  positive(c.encoder_heads, "encoder_attention_heads");
  positive(c.decoder_heads, "decoder_attention_heads");
  positive(c.encoder_ffn_dim, "encoder_ffn_dim");
  positive(c.decoder_ffn_dim, "decoder_ffn_dim");
  positive(c.max_position_embeddings, "max_position_embeddings");
  if (c.d_model % c.encoder_heads != 0 || c.d_model % c.decoder_heads != 0)
    r.fail(ErrorCode::InvalidModel, "d_model is not a multiple of the attention heads");
  // The sinusoidal position table uses d_model / 2 frequencies and divides by (half - 1).
  if (c.d_model % 2 != 0 || c.d_model < 4)
    r.fail(ErrorCode::Unsupported, "d_model must be even and at least 4");
  if (c.encoder_sparse_step < 0 || c.decoder_sparse_step < 0)
    r.fail(ErrorCode::InvalidModel, "sparse steps must not be negative");
  if (c.num_experts < 0) r.fail(ErrorCode::InvalidModel, "\"num_experts\" must not be negative");
  bool any_sparse = false;
  for (int i = 0; i < c.encoder_layers; ++i) any_sparse |= c.encoder_layer_is_sparse(i);
  for (int i = 0; i < c.decoder_layers; ++i) any_sparse |= c.decoder_layer_is_sparse(i);
  if (any_sparse && c.num_experts < c.experts_per_token)
    r.fail(ErrorCode::InvalidModel, "top-2 routing needs \"num_experts\" >= 2");
  auto token = [&](int32_t id, const char* key) {
    if (id < 0 || id >= c.vocab_size)
      r.fail(ErrorCode::InvalidModel, std::string("\"") + key + "\" is outside the vocabulary");
  };
  token(c.pad_id, "pad_token_id");
  token(c.bos_id, "bos_token_id");
  token(c.eos_id, "eos_token_id");
  token(c.decoder_start_id, "decoder_start_token_id");
  token(c.unk_id, "unk_id (3, as in NLLB)");
  if (!(hf.moe_token_dropout >= 0.0 && hf.moe_token_dropout < 1.0))
    r.fail(ErrorCode::InvalidModel, "\"moe_token_dropout\" must be in [0, 1)");
}

}  // namespace

HfConfig parse_hf_config(std::string_view json_text, const std::string& source) {
  json root;
  try {
    root = json::parse(json_text.begin(), json_text.end());
  } catch (const json::exception& e) {
    throw Error(ErrorCode::InvalidModel, source + ": not valid JSON (" + e.what() + ")");
  }
  if (!root.is_object()) throw Error(ErrorCode::InvalidModel, source + ": not a JSON object");
  ConfigReader r(root, source);

  const std::string model_type = r.text("model_type");
  if (model_type != "nllb-moe")
    r.fail(ErrorCode::Unsupported, "model_type \"" + model_type + "\" is not supported (only \"nllb-moe\")");

  HfConfig hf;
  ModelConfig& c = hf.model;
  c.architecture = "nllb-moe";
  c.vocab_size = r.integer("vocab_size");
  c.d_model = r.integer("d_model");
  c.encoder_layers = r.integer("encoder_layers");
  c.decoder_layers = r.integer("decoder_layers");
  c.encoder_heads = r.integer("encoder_attention_heads");
  c.decoder_heads = r.integer("decoder_attention_heads");
  c.encoder_ffn_dim = r.integer("encoder_ffn_dim");
  c.decoder_ffn_dim = r.integer("decoder_ffn_dim");
  c.num_experts = r.integer("num_experts");
  c.experts_per_token = 2;  // NLLB-MoE's router is top-2
  c.encoder_sparse_step = r.integer("encoder_sparse_step");
  c.decoder_sparse_step = r.integer("decoder_sparse_step");
  c.max_position_embeddings = r.integer("max_position_embeddings");
  c.pad_id = r.integer("pad_token_id");
  c.bos_id = r.integer("bos_token_id");
  c.eos_id = r.integer("eos_token_id");
  c.decoder_start_id = r.integer("decoder_start_token_id");
  c.unk_id = 3;  // NLLB's <unk>; config.json does not record it
  c.scale_embedding = r.boolean("scale_embedding");
  c.layer_norm_eps = 1e-5f;  // fixed in NLLB-MoE, not in config.json
  c.activation = r.text("activation_function");
  if (c.activation != "relu")
    r.fail(ErrorCode::Unsupported, "activation_function \"" + c.activation + "\" is not supported (only relu)");
  // The engine's router has no bias; refuse rather than silently drop one.
  if (r.optional_boolean("router_bias", false))
    r.fail(ErrorCode::Unsupported, "router_bias true is not supported");
  hf.moe_token_dropout = r.number("moe_token_dropout");
  hf.tie_word_embeddings = r.optional_boolean("tie_word_embeddings", true);
  check_sense(r, hf);
  return hf;
}

HfConfig read_hf_config(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(ErrorCode::Io, path + ": cannot open");
  in.seekg(0, std::ios::end);
  std::streamoff size = in.tellg();
  if (size < 0) throw Error(ErrorCode::Io, path + ": cannot read");
  if (size > kMaxConfigBytes) throw Error(ErrorCode::InvalidModel, path + ": too large for a config.json");
  std::string text(static_cast<size_t>(size), '\0');
  in.seekg(0);
  if (!in.read(text.data(), size)) throw Error(ErrorCode::Io, path + ": cannot read");
  return parse_hf_config(text, path);
}

}  // namespace tusk::format
