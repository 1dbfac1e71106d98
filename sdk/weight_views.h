// Typed, shape-checked views of weights, whether they come from the model's dense bytes (dense
// tensors) or from a decoded expert frame. One place knows how a stored tensor maps to what
// the backends take: fp32 in place, or int8/int4 packed bytes plus their `<name>.scales`
// companion (group = in / scales.shape[1]), or fp16 packed bytes.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "model_format/tensor_types.h"
#include "common/error.h"
#include "sdk/weights.h"

namespace tusk::sdk {

using NamedTensors = std::vector<std::pair<std::string, format::TensorView>>;

class WeightViews {
 public:
  // `where` prefixes error messages (the file path, or "expert (encoder layer 1, expert 3)").
  WeightViews(const NamedTensors& tensors, std::string where)
      : tensors_(tensors), where_(std::move(where)) {}

  bool has(const std::string& name) const { return find(name) != nullptr; }
  // An fp32 tensor of exactly `shape` (vectors, norms, biases, the router).
  const float* f32(const std::string& name, const std::vector<int64_t>& shape) const;
  // A weight matrix [out, in] in any stored type the engine runs.
  MatrixWeights matrix(const std::string& name, int64_t out, int64_t in) const;
  LinearWeights linear(const std::string& prefix, int64_t out, int64_t in) const {
    return {matrix(prefix + ".weight", out, in), f32(prefix + ".bias", {out}), out, in};
  }

 private:
  const format::TensorView* find(const std::string& name) const;
  const format::TensorView& get(const std::string& name) const;
  [[noreturn]] void fail(ErrorCode code, const std::string& message) const;

  const NamedTensors& tensors_;
  std::string where_;
};

}  // namespace tusk::sdk
