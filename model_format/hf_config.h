// A Hugging Face config.json (NllbMoeConfig or M2M100Config) and generation_config.json, read
// into our ModelConfig. Every key is accounted for: read and implemented, shown to have no
// effect on eval-mode results, left to Tusk's decoding options, or refused by name with its
// value; a key the converter does not know is refused too. docs/hf-config-fields.md lists them.
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
// describe a model) or Unsupported (a model_type, activation or routing the engine does not
// implement; a generation setting that would change greedy results; an unknown key), naming
// the key and its value. `source` names the file in messages.
HfConfig parse_hf_config(std::string_view json_text, const std::string& source);
HfConfig read_hf_config(const std::string& path);  // Io if it can't be read

// generation_config.json, where a folder has one: its token ids must be config.json's, and
// its settings must leave greedy decoding as Tusk runs it (the same refusals as config.json's
// generation keys). Throws as parse_hf_config does.
void check_generation_config(std::string_view json_text, const std::string& source, const ModelConfig& config);
void check_generation_config_file(const std::string& path, const ModelConfig& config);  // Io if unreadable

}  // namespace tusk::format
