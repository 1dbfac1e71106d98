// Converter from a Hugging Face NLLB-MoE checkpoint folder to one .tusk file.
#pragma once

#include <cstdint>
#include <string>

#include "common/error.h"
#include "model_format/quantize.h"

namespace tusk::format {

struct ConvertOptions {
  int zstd_level = 3;  // for expert frames
  // Storage of the expert weight matrices (fc1.weight, fc2.weight).
  WeightFormat experts = WeightFormat::F32;
  // Storage of the dense weight matrices: attention q/k/v/out projections, dense FFN fc1/fc2,
  // and model.shared.weight (embeddings and the tied output projection). Int4 costs the
  // default model no BLEU beyond noise on Multi30k (bench/README.md, quality.py).
  WeightFormat dense = WeightFormat::F32;
  // Input columns per scale for int8/int4 weights; 0 = one scale per output channel.
  // model.shared.weight always gets one scale per row: an embedding lookup dequantizes a
  // single row, and as the output projection each row is one logit's weights.
  int64_t group_size = 0;
};

// Reads config.json, sentencepiece.model and model.safetensors (or the sharded
// model-XXXXX-of-YYYYY.safetensors set named by model.safetensors.index.json); F32, F16 and
// BF16 tensors are read as F32. Ties lm_head to model.shared, folds (1 - moe_token_dropout)
// into every expert's fc2 (before any quantization), records the language table. Weight
// matrices are stored as `options` says (see quantize.h for the quantizers and
// quantized_tensors.h for how scales are stored); layer norms, biases and the routers (routing
// runs in fp32) always stay F32. Records the quantization choices and each stored matrix's
// quantization error in the file. Throws tusk::Error (InvalidArgument for bad options, naming
// the tensor when a format does not suit its shape); progress may be null.
void convert_hf(const std::string& hf_dir, const std::string& out_path,
                const ConvertOptions& options, ProgressSink* progress);

}  // namespace tusk::format
