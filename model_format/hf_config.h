// A Hugging Face NLLB-MoE config.json, read into our ModelConfig.
#pragma once

#include <string>
#include <string_view>

#include "model_format/model_config.h"

namespace tusk::format {

struct HfConfig {
  ModelConfig model;             // expert_output_scale_folded left at 1: the converter sets it
  double moe_token_dropout = 0;  // experts' outputs are scaled by (1 - this) at eval
  bool tie_word_embeddings = true;
};

// Throws InvalidModel (bad JSON, a missing or mistyped key, naming it; values that can't
// describe a model) or Unsupported (model_type other than "nllb-moe", an activation other
// than relu, a router with a bias). `source` names the file in messages.
HfConfig parse_hf_config(std::string_view json_text, const std::string& source);
HfConfig read_hf_config(const std::string& path);  // Io if it can't be read

}  // namespace tusk::format
