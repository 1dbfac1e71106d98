// config.json -> ModelConfig, with every key checked for presence, type and sense, and every
// key of the file accounted for (docs/hf-config-fields.md).
#include "model_format/hf_config.h"

#include <cstdint>
#include <limits>
#include <set>

#include <nlohmann/json.hpp>

#include "common/error.h"
#include "model_format/json_file.h"

namespace tusk::format {
namespace {

using nlohmann::json;

// config.json is a few KB; anything near this is not a config.
constexpr size_t kMaxConfigBytes = 16 << 20;

class ConfigReader {
 public:
  ConfigReader(const json& root, const std::string& source) : root_(root), source_(source) {}

  [[noreturn]] void fail(ErrorCode code, const std::string& what) const {
    throw Error(code, source_ + ": " + what);
  }

  const json& root() const { return root_; }
  const std::string& source() const { return source_; }

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
  if (!(hf.moe_token_dropout >= 0.0 && hf.moe_token_dropout < 1.0))
    r.fail(ErrorCode::InvalidModel, "\"moe_token_dropout\" must be in [0, 1)");
}


// ---- every key, accounted for -------------------------------------------------------------

// Keys that cannot change what eval-mode inference computes: training-only (dropout, layer
// drop, init, losses), outputs we do not return (attentions, hidden states, router logits),
// classification heads, provenance. Each one's reason is in docs/hf-config-fields.md.
const std::set<std::string> kNoEffect = {
    "dropout", "attention_dropout", "activation_dropout", "encoder_layerdrop", "decoder_layerdrop",
    "init_std", "use_cache", "torch_dtype", "transformers_version", "_name_or_path", "_commit_hash",
    "tokenizer_class", "id2label", "label2id", "finetuning_task", "problem_type", "prefix",
    "task_specific_params", "output_attentions", "output_hidden_states", "output_scores", "output_logits",
    "return_dict", "return_dict_in_generate", "torchscript", "tf_legacy_loss", "use_bfloat16",
    "chunk_size_feed_forward", "sep_token_id", "gradient_checkpointing", "_from_model_config",
    "cache_implementation", "low_memory", "generation_kwargs", "num_assistant_tokens",
    "num_assistant_tokens_schedule", "max_matching_ngram_size",
    // Sampling parameters: no effect while do_sample is false, which is checked.
    "temperature", "top_k", "top_p", "typical_p", "epsilon_cutoff", "eta_cutoff"};

// Defaults of Hugging Face's generate() that Tusk's translator options set instead
// (TUSK_OPT_MAX_DECODING_LENGTH, TUSK_OPT_BEAM_SIZE, TUSK_OPT_LENGTH_PENALTY).
const std::set<std::string> kDecodingOptions = {"max_length",     "max_new_tokens",  "num_beams",
                                                 "length_penalty", "early_stopping", "num_return_sequences",
                                                 "max_time"};

// Settings that would change greedy results: accepted only at the value that changes nothing
// (null, or the JSON value given), refused otherwise.
const std::pair<const char*, const char*> kMustBeNeutral[] = {
    {"do_sample", "false"}, {"min_length", "0"}, {"min_new_tokens", "0"}, {"no_repeat_ngram_size", "0"},
    {"encoder_no_repeat_ngram_size", "0"}, {"repetition_penalty", "1.0"}, {"encoder_repetition_penalty", "1.0"},
    {"bad_words_ids", "null"}, {"force_words_ids", "null"}, {"constraints", "null"}, {"suppress_tokens", "null"},
    {"begin_suppress_tokens", "null"}, {"forced_bos_token_id", "null"}, {"forced_eos_token_id", "null"},
    {"forced_decoder_ids", "null"}, {"num_beam_groups", "1"}, {"diversity_penalty", "0.0"},
    {"exponential_decay_length_penalty", "null"}, {"sequence_bias", "null"}, {"renormalize_logits", "false"},
    {"remove_invalid_values", "false"}, {"penalty_alpha", "null"}, {"guidance_scale", "null"},
    {"prompt_lookup_num_tokens", "null"}, {"add_cross_attention", "false"}, {"is_decoder", "false"},
    {"tie_encoder_decoder", "false"}, {"pruned_heads", "{}"}, {"cross_attention_hidden_size", "null"},
    // MBart's embedding layer norm: M2M100 and NLLB-MoE have none; a config asking for one
    // describes another model.
    {"layernorm_embedding", "false"}};

// Keys this parser reads itself, per architecture.
const std::set<std::string> kReadShared = {
    "model_type", "architectures", "vocab_size", "d_model", "encoder_layers", "decoder_layers",
    "encoder_attention_heads", "decoder_attention_heads", "encoder_ffn_dim", "decoder_ffn_dim",
    "max_position_embeddings", "pad_token_id", "bos_token_id", "eos_token_id", "decoder_start_token_id",
    "scale_embedding", "activation_function", "tie_word_embeddings", "is_encoder_decoder", "num_hidden_layers"};
const std::set<std::string> kReadNllbMoe = {
    "num_experts", "encoder_sparse_step", "decoder_sparse_step", "moe_token_dropout", "router_bias",
    "router_dtype", "second_expert_policy", "moe_eval_capacity_token_fraction", "expert_capacity",
    "batch_prioritized_routing", "normalize_router_prob_before_dropping", "router_ignore_padding_tokens",
    "router_z_loss_coef", "router_aux_loss_coef", "output_router_logits"};
// Keys generation_config.json may hold beside the generation settings above.
const std::set<std::string> kReadGeneration = {"pad_token_id", "bos_token_id", "eos_token_id",
                                               "decoder_start_token_id"};

bool is_neutral(const json& value, const char* neutral) {
  if (value.is_null()) return true;
  if ((value.is_array() || value.is_object()) && value.empty()) return true;
  return value == json::parse(neutral);
}

// Every key of the file is read, has no effect, is a decoding option, or holds its neutral
// value; anything else is refused by name.
void check_every_key(const ConfigReader& r, const std::set<std::string>& read, const std::set<std::string>& also_read,
                     const char* what) {
  for (const auto& [key, value] : r.root().items()) {
    if (read.count(key) || also_read.count(key) || kNoEffect.count(key) || kDecodingOptions.count(key)) continue;
    bool known = false;
    for (const auto& [name, neutral] : kMustBeNeutral) {
      if (key != name) continue;
      known = true;
      if (!is_neutral(value, neutral))
        r.fail(ErrorCode::Unsupported, "\"" + key + "\": " + value.dump() + " is not supported (it changes what " +
                                           "decoding computes; Tusk implements it only as " + neutral + ")");
    }
    if (!known)
      r.fail(ErrorCode::Unsupported, "\"" + key + "\" (" + value.dump() + ") is not a " + what +
                                         " key this converter knows, so it cannot tell whether it changes "
                                         "results; refused (docs/hf-config-fields.md lists the known keys)");
  }
}

// NLLB-MoE's routing, as NllbMoeTop2Router computes it in eval mode. Implemented: top-2 over
// fp32 logits without bias, second expert the best other one, gates renormalised over the two,
// no token ever dropped. The keys below either select exactly that or are refused.
void read_routing(const ConfigReader& r) {
  if (r.optional_boolean("router_bias", false))
    r.fail(ErrorCode::Unsupported, "\"router_bias\": true is not supported (the engine's router has no bias)");
  if (r.root().contains("router_dtype")) {
    const std::string dtype = r.text("router_dtype");
    if (dtype != "float32")
      r.fail(ErrorCode::Unsupported, "\"router_dtype\": \"" + dtype + "\" is not supported (routing runs in float32)");
  }
  if (r.root().contains("second_expert_policy")) {
    const std::string policy = r.text("second_expert_policy");
    if (policy != "all")
      r.fail(ErrorCode::Unsupported, "\"second_expert_policy\": \"" + policy +
                                         "\" is not supported (it is random even in eval mode; the engine "
                                         "implements \"all\": always the second-best expert)");
  }
  // Eval capacity is ceil(fraction * tokens) per expert. An expert receives at most `tokens`
  // first and second choices together (a token never picks one expert twice), so from 1.0
  // upwards no token is dropped, whatever the batch. Below, drops depend on the batch and on
  // the padding; at 0 or below, the fixed expert_capacity applies: both refused.
  const double fraction = r.root().contains("moe_eval_capacity_token_fraction")
                              ? r.number("moe_eval_capacity_token_fraction")
                              : 1.0;  // NllbMoeConfig's default
  if (!(fraction >= 1.0))
    r.fail(ErrorCode::Unsupported, "\"moe_eval_capacity_token_fraction\": " + json(fraction).dump() +
                                       " is not supported (below 1.0 tokens are dropped depending on the batch; "
                                       "the engine never drops a token)");
  // With nothing dropped these only order tokens within an expert's capacity, or pick which
  // to drop, so they cannot change results; check their types only.
  for (const char* key : {"batch_prioritized_routing", "normalize_router_prob_before_dropping",
                          "router_ignore_padding_tokens", "output_router_logits"})
    r.optional_boolean(key, false);
  if (r.root().contains("expert_capacity") && !r.root()["expert_capacity"].is_null()) r.integer("expert_capacity");
}

HfConfig parse_config(const json& root, const std::string& source) {
  ConfigReader r(root, source);

  const std::string model_type = r.text("model_type");
  const bool moe = model_type == "nllb-moe";
  if (!moe && model_type != "m2m_100")
    r.fail(ErrorCode::Unsupported, "model_type \"" + model_type +
                                       "\" is not supported (\"nllb-moe\": NLLB-MoE; \"m2m_100\": dense NLLB-200)");
  if (root.contains("architectures") && !root["architectures"].is_null()) {
    const json& a = root["architectures"];
    const std::string expected = moe ? "NllbMoeForConditionalGeneration" : "M2M100ForConditionalGeneration";
    const std::string base = moe ? "NllbMoeModel" : "M2M100Model";
    if (!a.is_array() || a.size() != 1 || !a[0].is_string() || (a[0] != expected && a[0] != base))
      r.fail(ErrorCode::Unsupported, "\"architectures\": " + a.dump() + " is not supported (" + expected + ")");
  }

  HfConfig hf;
  ModelConfig& c = hf.model;
  c.architecture = moe ? kArchNllbMoe : kArchM2M100;
  c.vocab_size = r.integer("vocab_size");
  c.d_model = r.integer("d_model");
  c.encoder_layers = r.integer("encoder_layers");
  c.decoder_layers = r.integer("decoder_layers");
  c.encoder_heads = r.integer("encoder_attention_heads");
  c.decoder_heads = r.integer("decoder_attention_heads");
  c.encoder_ffn_dim = r.integer("encoder_ffn_dim");
  c.decoder_ffn_dim = r.integer("decoder_ffn_dim");
  if (moe) {
    c.num_experts = r.integer("num_experts");
    c.experts_per_token = 2;  // NllbMoeTop2Router
    c.encoder_sparse_step = r.integer("encoder_sparse_step");
    c.decoder_sparse_step = r.integer("decoder_sparse_step");
  } else {
    c.num_experts = 0;  // dense: every layer's feed-forward is fc1/fc2
    c.experts_per_token = 0;
    c.encoder_sparse_step = c.decoder_sparse_step = 0;
  }
  c.max_position_embeddings = r.integer("max_position_embeddings");
  c.pad_id = r.integer("pad_token_id");
  c.bos_id = r.integer("bos_token_id");
  c.eos_id = r.integer("eos_token_id");
  c.decoder_start_id = r.integer("decoder_start_token_id");
  c.unk_id = 3;  // config.json does not record it; the converter sets it from the tokenizer
  c.scale_embedding = r.boolean("scale_embedding");
  c.layer_norm_eps = 1e-5f;  // nn.LayerNorm's default, which both architectures use
  c.activation = r.text("activation_function");
  if (c.activation != "relu")
    r.fail(ErrorCode::Unsupported, "activation_function \"" + c.activation + "\" is not supported (only relu)");
  if (!r.optional_boolean("is_encoder_decoder", true))
    r.fail(ErrorCode::Unsupported, "\"is_encoder_decoder\": false is not supported (an encoder-decoder model)");
  if (root.contains("num_hidden_layers") && r.integer("num_hidden_layers") != c.encoder_layers)
    r.fail(ErrorCode::InvalidModel, "\"num_hidden_layers\" (an alias of encoder_layers) is " +
                                        std::to_string(r.integer("num_hidden_layers")) + ", encoder_layers is " +
                                        std::to_string(c.encoder_layers));
  if (moe) {
    read_routing(r);
    hf.moe_token_dropout = r.number("moe_token_dropout");
  }
  hf.tie_word_embeddings = r.optional_boolean("tie_word_embeddings", true);
  check_every_key(r, kReadShared, moe ? kReadNllbMoe : std::set<std::string>{},
                  moe ? "NllbMoeConfig" : "M2M100Config");
  check_sense(r, hf);
  return hf;
}

void check_generation(const json& root, const std::string& source, const ModelConfig& c) {
  ConfigReader r(root, source);
  // generate() takes its ids from this file, not config.json; where it would decode
  // differently from the engine, refuse.
  auto given = [&](const char* key) { return root.contains(key) && !root[key].is_null(); };
  auto check = [&](const char* key, int32_t expected, const std::string& why) {
    json v = root[key];
    if (v.is_array() && v.size() == 1) v = v[0];  // eos_token_id may be a list
    if (!v.is_number_integer() || v.get<int64_t>() != expected)
      r.fail(ErrorCode::InvalidModel, "\"" + std::string(key) + "\" is " + root[key].dump() + ", config.json says " +
                                          std::to_string(expected) + "; " + why);
  };
  const std::string agree = "generate() would use this file's, so the two must agree";
  if (given("decoder_start_token_id")) {
    check("decoder_start_token_id", c.decoder_start_id, agree);
  } else if (given("bos_token_id")) {
    check("bos_token_id", c.decoder_start_id,
          "without decoder_start_token_id, generate() starts the decoder with bos_token_id, so it must be "
          "config.json's decoder_start_token_id");
  } else {
    r.fail(ErrorCode::InvalidModel, "names neither decoder_start_token_id nor bos_token_id: generate() could not "
                                    "start decoding from this file");
  }
  if (!given("eos_token_id"))
    r.fail(ErrorCode::InvalidModel, "has no eos_token_id: generate() would never stop at </s>, the engine does");
  check("eos_token_id", c.eos_id, agree);
  if (given("pad_token_id")) check("pad_token_id", c.pad_id, agree);
  if (given("bos_token_id")) check("bos_token_id", c.bos_id, agree);
  check_every_key(r, kReadGeneration, {}, "GenerationConfig");
}

}  // namespace

HfConfig parse_hf_config(std::string_view json_text, const std::string& source) {
  return parse_config(parse_json_object(json_text, source), source);
}

HfConfig read_hf_config(const std::string& path) { return parse_config(read_json_object(path, kMaxConfigBytes), path); }

void check_generation_config(std::string_view json_text, const std::string& source, const ModelConfig& config) {
  check_generation(parse_json_object(json_text, source), source, config);
}

void check_generation_config_file(const std::string& path, const ModelConfig& config) {
  check_generation(read_json_object(path, kMaxConfigBytes), path, config);
}

}  // namespace tusk::format
