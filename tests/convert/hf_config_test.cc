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
  expect_error([&] { parse_hf_config(tiny_config_json(R"({"model_type": "m2m_100"})"), "c"); },
               ErrorCode::Unsupported, {"m2m_100"});
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

TEST(HfConfig, BadJsonAndMissingFile) {
  expect_error([&] { parse_hf_config("{\"d_model\": ", "dir/config.json"); }, ErrorCode::InvalidModel,
               {"dir/config.json", "JSON"});
  expect_error([&] { parse_hf_config("[]", "c"); }, ErrorCode::InvalidModel, {"object"});
  expect_error([&] { read_hf_config("/nonexistent/config.json"); }, ErrorCode::Io, {"/nonexistent/config.json"});
}

}  // namespace
}  // namespace tusk::format
