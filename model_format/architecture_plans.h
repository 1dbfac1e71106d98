// One conversion plan per Hugging Face architecture: every tensor the engine reads, under its
// canonical name in the .tusk file, with the checkpoint's name for it, the shape the config
// implies and the role that decides its storage. The converter checks a checkpoint against
// the plan and writes in its order; the synthetic model generator in bench/ writes the same
// names.
//
// Canonical names are NLLB-MoE's Hugging Face names ("model.encoder.layers.0.ff_layer_norm"),
// so files from before plans existed read unchanged. The runtime builds one pre-norm block
// from them whose feed-forward is dense ("....ffn.fc1") or MoE ("....ffn.router" + experts).
// M2M100 (dense NLLB-200) differs in names only: fc1/fc2 sit on the layer, its feed-forward
// norm is final_layer_norm, its cross-attention encoder_attn.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "model_format/model_config.h"
#include "model_format/tensor_types.h"

namespace tusk::format {

using Shape = std::vector<int64_t>;

struct ExpertRef {
  Stack stack;
  int layer;
  int expert;
  std::string prefix;  // canonical and checkpoint name: "model.encoder.layers.1.ffn.experts.expert_3."
  std::map<std::string, Shape> shapes;  // "fc1.weight" -> [ffn, d_model], ...
};

// What a dense tensor is, for the choice of its storage.
enum class Role {
  Plain,      // layer norms, biases, routers: always F32
  Linear,     // attention projections, dense FFN: ConvertOptions::dense, group_size
  Embedding,  // model.shared / an untied lm_head: ConvertOptions::dense, one scale per row
};

struct DenseEntry {
  Shape shape;
  Role role = Role::Plain;
  std::string source;  // the checkpoint's name for it
};

// What the converter will write, decided before the writer exists.
struct Plan {
  std::map<std::string, DenseEntry> dense;  // by canonical name, written in name order
  std::vector<ExpertRef> experts;           // (stack, layer, expert) order
};

// The plan for config c; c.architecture picks it (kArchNllbMoe, kArchM2M100 in hf_config.h).
// Throws Unsupported for another architecture.
Plan plan_tensors(const ModelConfig& c);

}  // namespace tusk::format
