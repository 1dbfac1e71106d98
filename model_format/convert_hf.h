// Converter from a Hugging Face NLLB-MoE checkpoint folder to one .tusk file.
#pragma once

#include <string>

#include "common/error.h"

namespace tusk::format {

struct ConvertOptions {
  int zstd_level = 3;  // for expert frames
};

// Reads config.json, sentencepiece.model and model.safetensors (or the sharded
// model-XXXXX-of-YYYYY.safetensors set named by model.safetensors.index.json); F32, F16 and
// BF16 tensors are stored as F32. Ties lm_head to model.shared, folds (1 - moe_token_dropout)
// into every expert's fc2, records the language table. Throws tusk::Error; progress may be null.
void convert_hf(const std::string& hf_dir, const std::string& out_path,
                const ConvertOptions& options, ProgressSink* progress);

}  // namespace tusk::format
