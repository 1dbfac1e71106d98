// config.json -> ModelConfig.
#include "model_format/hf_config.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "test_helpers.h"

namespace tusk::format {
namespace {

using nlohmann::json;
using test::expect_error;
using test::tiny_config_json;

TEST(HfConfig, ReadsEveryField) {
  HfConfig hf = parse_hf_config(tiny_config_json(R"({"pad_token_id": 5, "scale_embedding": false})"), "config.json");
  const ModelConfig& c = hf.model;
  EXPECT_EQ(c.architecture, "nllb-moe");
  EXPECT_EQ(c.vocab_size, 8000);
  EXPECT_EQ(c.d_model, 8);
  EXPECT_EQ(c.encoder_layers, 2);
  EXPECT_EQ(c.decoder_layers, 2);
  EXPECT_EQ(c.encoder_heads, 2);
  EXPECT_EQ(c.decoder_heads, 2);
  EXPECT_EQ(c.encoder_ffn_dim, 16);
  EXPECT_EQ(c.decoder_ffn_dim, 16);
  EXPECT_EQ(c.num_experts, 2);
  EXPECT_EQ(c.experts_per_token, 2);
  EXPECT_EQ(c.encoder_sparse_step, 2);
  EXPECT_EQ(c.decoder_sparse_step, 2);
  EXPECT_EQ(c.max_position_embeddings, 32);
  EXPECT_EQ(c.pad_id, 5);
  EXPECT_EQ(c.bos_id, 0);
  EXPECT_EQ(c.eos_id, 2);
  EXPECT_EQ(c.unk_id, 3);
  EXPECT_EQ(c.decoder_start_id, 2);
  EXPECT_FALSE(c.scale_embedding);
  EXPECT_EQ(c.activation, "relu");
  EXPECT_EQ(c.expert_output_scale_folded, 1.0f);  // the converter sets it
  EXPECT_DOUBLE_EQ(hf.moe_token_dropout, 0.25);
  EXPECT_TRUE(hf.tie_word_embeddings);
}

TEST(HfConfig, ReadsTheRealModelsConfig) {
  const std::string path = test::real_model_dir() + "/config.json";
  if (!test::file_exists(path)) GTEST_SKIP() << path << " not found (TUSK_SHARED_DIR=" << test::shared_dir() << ")";
  HfConfig hf = read_hf_config(path);
  EXPECT_EQ(hf.model.vocab_size, 8000);
  EXPECT_EQ(hf.model.d_model, 256);
  EXPECT_EQ(hf.model.encoder_layers, 4);
  EXPECT_EQ(hf.model.num_experts, 8);
  EXPECT_EQ(hf.model.decoder_sparse_step, 2);
  EXPECT_DOUBLE_EQ(hf.moe_token_dropout, 0.1);
}

TEST(HfConfig, MissingKeysAreNamed) {
  for (const char* key :
       {"model_type", "vocab_size", "d_model", "encoder_layers", "decoder_layers", "encoder_attention_heads",
        "decoder_attention_heads", "encoder_ffn_dim", "decoder_ffn_dim", "num_experts", "encoder_sparse_step",
        "decoder_sparse_step", "max_position_embeddings", "pad_token_id", "bos_token_id", "eos_token_id",
        "decoder_start_token_id", "scale_embedding", "activation_function", "moe_token_dropout"}) {
    json c = json::parse(tiny_config_json());
    c.erase(key);
    expect_error([&] { parse_hf_config(c.dump(), "dir/config.json"); }, ErrorCode::InvalidModel,
                 {"dir/config.json", "missing", key});
  }
}

TEST(HfConfig, WrongTypesAreNamed) {
  expect_error([&] { parse_hf_config(tiny_config_json(R"({"d_model": "8"})"), "c"); }, ErrorCode::InvalidModel,
               {"d_model", "integer"});
  expect_error([&] { parse_hf_config(tiny_config_json(R"({"d_model": 8.5})"), "c"); }, ErrorCode::InvalidModel,
               {"d_model"});
  expect_error([&] { parse_hf_config(tiny_config_json(R"({"d_model": 99999999999})"), "c"); },
               ErrorCode::InvalidModel, {"d_model", "range"});
  expect_error([&] { parse_hf_config(tiny_config_json(R"({"scale_embedding": 1})"), "c"); }, ErrorCode::InvalidModel,
               {"scale_embedding"});
  expect_error([&] { parse_hf_config(tiny_config_json(R"({"moe_token_dropout": "0.1"})"), "c"); },
               ErrorCode::InvalidModel, {"moe_token_dropout"});
}

TEST(HfConfig, UnsupportedModels) {
  expect_error([&] { parse_hf_config(tiny_config_json(R"({"model_type": "t5"})"), "c"); },
               ErrorCode::Unsupported, {"model_type", "t5"});
  expect_error([&] { parse_hf_config(tiny_config_json(R"({"activation_function": "gelu"})"), "c"); },
               ErrorCode::Unsupported, {"gelu"});
  expect_error([&] { parse_hf_config(tiny_config_json(R"({"router_bias": true})"), "c"); }, ErrorCode::Unsupported,
               {"router_bias"});
}

TEST(HfConfig, ValuesThatCannotDescribeAModel) {
  expect_error([&] { parse_hf_config(tiny_config_json(R"({"encoder_attention_heads": 3})"), "c"); },
               ErrorCode::InvalidModel, {"heads"});
  expect_error([&] { parse_hf_config(tiny_config_json(R"({"vocab_size": 0})"), "c"); }, ErrorCode::InvalidModel,
               {"vocab_size"});
  expect_error([&] { parse_hf_config(tiny_config_json(R"({"num_experts": 1})"), "c"); }, ErrorCode::InvalidModel,
               {"num_experts"});
  expect_error([&] { parse_hf_config(tiny_config_json(R"({"eos_token_id": 8000})"), "c"); }, ErrorCode::InvalidModel,
               {"eos_token_id"});
  expect_error([&] { parse_hf_config(tiny_config_json(R"({"moe_token_dropout": 1.0})"), "c"); },
               ErrorCode::InvalidModel, {"moe_token_dropout"});
  // One expert is fine when no layer is sparse.
  EXPECT_NO_THROW(parse_hf_config(
      tiny_config_json(R"({"num_experts": 0, "encoder_sparse_step": 0, "decoder_sparse_step": 0})"), "c"));
}

std::string fixture(const std::string& name) { return test::shared_dir() + "/models/hf-tiny/" + name; }

TEST(HfConfig, ReadsDenseM2M100) {
  const std::string path = fixture("m2m100") + "/config.json";
  if (!test::file_exists(path)) GTEST_SKIP() << path << " not found";
  const HfConfig hf = read_hf_config(path);
  EXPECT_EQ(hf.model.architecture, "m2m100");
  EXPECT_EQ(hf.model.num_experts, 0);
  EXPECT_EQ(hf.model.encoder_sparse_step, 0);
  EXPECT_EQ(hf.model.decoder_sparse_step, 0);
  EXPECT_EQ(hf.model.d_model, 64);
  EXPECT_EQ(hf.model.vocab_size, 2204);
  EXPECT_DOUBLE_EQ(hf.moe_token_dropout, 0.0);
  // MoE keys describe another model: unknown to M2M100Config, so refused.
  json c = json::parse(test::read_file(path));
  c["num_experts"] = 4;
  expect_error([&] { parse_hf_config(c.dump(), "m/config.json"); }, ErrorCode::Unsupported,
               {"m/config.json", "num_experts", "M2M100Config"});
}

TEST(HfConfig, ReadsTheHfNllbMoeFixture) {
  const std::string path = fixture("nllb-moe") + "/config.json";
  if (!test::file_exists(path)) GTEST_SKIP() << path << " not found";
  const HfConfig hf = read_hf_config(path);
  EXPECT_EQ(hf.model.architecture, "nllb-moe");
  EXPECT_EQ(hf.model.num_experts, 4);
  EXPECT_DOUBLE_EQ(hf.moe_token_dropout, 0.2);
}

// The three configs whose eval-mode routing differs from the engine's, by field and value.
TEST(HfConfig, BadRoutingFixturesAreRefusedByName) {
  const std::pair<const char*, std::vector<const char*>> cases[] = {
      {"bad-router-bias", {"router_bias", "true"}},
      {"bad-second-policy", {"second_expert_policy", "random"}},
      {"bad-capacity", {"moe_eval_capacity_token_fraction", "0.5"}},
  };
  for (const auto& [name, fragments] : cases) {
    const std::string path = fixture(name) + "/config.json";
    if (!test::file_exists(path)) GTEST_SKIP() << path << " not found";
    try {
      read_hf_config(path);
      ADD_FAILURE() << name << " was accepted";
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::Unsupported) << e.what();
      for (const char* f : fragments) EXPECT_NE(std::string(e.what()).find(f), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
    }
  }
}

TEST(HfConfig, RoutingFieldsImplementedOrRefused) {
  auto accepted = [](const char* overrides) { EXPECT_NO_THROW(parse_hf_config(tiny_config_json(overrides), "c")) << overrides; };
  auto refused = [](const char* overrides, std::initializer_list<const char*> fragments) {
    expect_error([&] { parse_hf_config(tiny_config_json(overrides), "c"); }, ErrorCode::Unsupported, fragments);
  };
  refused(R"({"second_expert_policy": "sampling"})", {"second_expert_policy", "sampling"});
  refused(R"({"router_dtype": "bfloat16"})", {"router_dtype", "bfloat16"});
  refused(R"({"moe_eval_capacity_token_fraction": 0.0})", {"moe_eval_capacity_token_fraction"});
  refused(R"({"moe_eval_capacity_token_fraction": -1})", {"moe_eval_capacity_token_fraction"});
  // Nothing is dropped from 1.0 up, so the dropping order and the fixed capacity cannot matter.
  accepted(R"({"moe_eval_capacity_token_fraction": 2.0, "expert_capacity": 1, "batch_prioritized_routing": true,
              "normalize_router_prob_before_dropping": true, "router_ignore_padding_tokens": true,
              "router_dtype": "float32", "second_expert_policy": "all", "router_z_loss_coef": 0.1,
              "router_aux_loss_coef": 0.1, "output_router_logits": true})");
  accepted(R"({"dropout": 0.3, "attention_dropout": 0.1, "activation_dropout": 0.1, "encoder_layerdrop": 0.05,
              "decoder_layerdrop": 0.05, "init_std": 0.02, "use_cache": true, "torch_dtype": "bfloat16",
              "transformers_version": "4.40.2", "is_encoder_decoder": true, "num_hidden_layers": 2})");
}

TEST(HfConfig, GenerationKeysAreOptionsNeutralOrRefused) {
  // Tusk's decoding options govern these.
  EXPECT_NO_THROW(parse_hf_config(
      tiny_config_json(R"({"max_length": 200, "num_beams": 5, "length_penalty": 1.0, "early_stopping": true})"), "c"));
  // Neutral values of settings that would change greedy results are fine...
  EXPECT_NO_THROW(parse_hf_config(tiny_config_json(R"({"no_repeat_ngram_size": 0, "repetition_penalty": 1.0,
      "forced_bos_token_id": null, "do_sample": false, "temperature": 0.7, "bad_words_ids": null})"), "c"));
  // ...others are refused by name and value.
  const std::pair<const char*, const char*> refused[] = {
      {R"({"no_repeat_ngram_size": 3})", "no_repeat_ngram_size"},
      {R"({"repetition_penalty": 1.2})", "repetition_penalty"},
      {R"({"forced_bos_token_id": 5})", "forced_bos_token_id"},
      {R"({"forced_eos_token_id": 2})", "forced_eos_token_id"},
      {R"({"do_sample": true})", "do_sample"},
      {R"({"min_length": 10})", "min_length"},
      {R"({"suppress_tokens": [4]})", "suppress_tokens"},
      {R"({"layernorm_embedding": true})", "layernorm_embedding"},
  };
  for (const auto& [overrides, key] : refused)
    expect_error([&] { parse_hf_config(tiny_config_json(overrides), "c"); }, ErrorCode::Unsupported, {key});
}

TEST(HfConfig, UnknownKeysAreRefused) {
  expect_error([&] { parse_hf_config(tiny_config_json(R"({"rope_theta": 10000})"), "dir/config.json"); },
               ErrorCode::Unsupported, {"dir/config.json", "rope_theta", "10000", "docs/hf-config-fields.md"});
  expect_error([&] { parse_hf_config(tiny_config_json(R"({"is_encoder_decoder": false})"), "c"); },
               ErrorCode::Unsupported, {"is_encoder_decoder"});
  expect_error([&] { parse_hf_config(tiny_config_json(R"({"architectures": ["NllbMoeForCausalLM"]})"), "c"); },
               ErrorCode::Unsupported, {"architectures", "NllbMoeForCausalLM"});
  expect_error([&] { parse_hf_config(tiny_config_json(R"({"num_hidden_layers": 3})"), "c"); },
               ErrorCode::InvalidModel, {"num_hidden_layers"});
}

TEST(HfConfig, GenerationConfigMustAgree) {
  ModelConfig c = parse_hf_config(tiny_config_json(), "c").model;
  EXPECT_NO_THROW(check_generation_config(
      R"({"bos_token_id": 0, "decoder_start_token_id": 2, "eos_token_id": [2], "pad_token_id": 1,
          "max_length": 200, "_from_model_config": true, "transformers_version": "4.40.2"})", "g", c));
  expect_error([&] { check_generation_config(R"({"decoder_start_token_id": 2, "eos_token_id": 3})",
                                             "dir/generation_config.json", c); },
               ErrorCode::InvalidModel, {"dir/generation_config.json", "eos_token_id", "config.json"});
  // generate() falls back to bos_token_id for the decoder start, and never stops without eos.
  EXPECT_NO_THROW(check_generation_config(R"({"bos_token_id": 2, "eos_token_id": 2})", "g",
                                          parse_hf_config(tiny_config_json(R"({"bos_token_id": 2})"), "c").model));
  expect_error([&] { check_generation_config(R"({"bos_token_id": 0, "eos_token_id": 2})", "g", c); },
               ErrorCode::InvalidModel, {"bos_token_id", "decoder_start_token_id"});
  expect_error([&] { check_generation_config(R"({"eos_token_id": 2})", "g", c); }, ErrorCode::InvalidModel,
               {"decoder_start_token_id", "bos_token_id"});
  expect_error([&] { check_generation_config(R"({"decoder_start_token_id": 2})", "g", c); }, ErrorCode::InvalidModel,
               {"eos_token_id", "never stop"});
  expect_error([&] { check_generation_config(R"({"decoder_start_token_id": 2, "eos_token_id": [2, 5]})", "g", c); },
               ErrorCode::InvalidModel, {"eos_token_id", "[2,5]"});
  const std::string ids = R"("decoder_start_token_id": 2, "eos_token_id": 2)";
  expect_error([&] { check_generation_config("{" + ids + R"(, "num_beams": 4, "no_repeat_ngram_size": 4})", "g", c); },
               ErrorCode::Unsupported, {"no_repeat_ngram_size"});
  expect_error([&] { check_generation_config("{" + ids + R"(, "watermarking_config": {}})", "g", c); },
               ErrorCode::Unsupported, {"watermarking_config"});
}

TEST(HfConfig, BadJsonAndMissingFile) {
  expect_error([&] { parse_hf_config("{\"d_model\": ", "dir/config.json"); }, ErrorCode::InvalidModel,
               {"dir/config.json", "JSON"});
  expect_error([&] { parse_hf_config("[]", "c"); }, ErrorCode::InvalidModel, {"object"});
  expect_error([&] { read_hf_config("/nonexistent/config.json"); }, ErrorCode::Io, {"/nonexistent/config.json"});
}

}  // namespace
}  // namespace tusk::format
