// Architecture hyper-parameters of an NLLB-style encoder-decoder (MoE or dense), as stored in a
// .tusk file.
#pragma once

#include <cstdint>
#include <string>

namespace tusk::format {

// ModelConfig::architecture values: the converter has one plan for each
// (model_format/architecture_plans.h); the engine runs both with one pre-norm block.
inline constexpr const char* kArchNllbMoe = "nllb-moe";  // NllbMoeForConditionalGeneration
inline constexpr const char* kArchM2M100 = "m2m100";     // M2M100ForConditionalGeneration (NLLB-200)

struct ModelConfig {
  std::string architecture = kArchNllbMoe;
  int32_t vocab_size = 0;
  int32_t d_model = 0;
  int32_t encoder_layers = 0;
  int32_t decoder_layers = 0;
  int32_t encoder_heads = 0;
  int32_t decoder_heads = 0;
  int32_t encoder_ffn_dim = 0;
  int32_t decoder_ffn_dim = 0;
  int32_t num_experts = 0;
  int32_t experts_per_token = 2;   // top-k of the router
  int32_t encoder_sparse_step = 0; // layer i is sparse when step > 0 and (i + 1) % step == 0
  int32_t decoder_sparse_step = 0;
  int32_t max_position_embeddings = 0;
  int32_t pad_id = 1;
  int32_t bos_id = 0;
  int32_t eos_id = 2;
  int32_t unk_id = 3;
  int32_t decoder_start_id = 2;
  bool scale_embedding = true;
  float layer_norm_eps = 1e-5f;
  std::string activation = "relu";
  // Factor the converter already multiplied into every expert's fc2 weight and bias
  // (1 - moe_token_dropout); recorded for inspection, the engine applies nothing more.
  float expert_output_scale_folded = 1.0f;

  bool encoder_layer_is_sparse(int i) const {
    return encoder_sparse_step > 0 && (i + 1) % encoder_sparse_step == 0;
  }
  bool decoder_layer_is_sparse(int i) const {
    return decoder_sparse_step > 0 && (i + 1) % decoder_sparse_step == 0;
  }
};

}  // namespace tusk::format
