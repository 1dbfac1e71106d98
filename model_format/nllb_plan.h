// Every tensor of an NLLB-MoE model the engine reads, named as in the Hugging Face checkpoint,
// with the shapes a config implies and the role that decides its storage. The converter
// checks a checkpoint against it and writes in its order; the synthetic model generator in
// bench/ writes the same names.
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
  std::string prefix;  // "model.encoder.layers.1.ffn.experts.expert_3."
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
};

// What the converter will write, decided before the writer exists.
struct Plan {
  std::map<std::string, DenseEntry> dense;  // written in name order
  std::vector<ExpertRef> experts;           // (stack, layer, expert) order
};

// The plan for config c.
Plan plan_tensors(const ModelConfig& c);

}  // namespace tusk::format
