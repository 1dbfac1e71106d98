// The storage convention for quantized weights, shared by the converter (which writes it) and
// the reader (which enforces it on every file):
//   - an int4/int8 weight keeps its name and logical shape [n, k] (dtype I4 / I8) and holds its
//     bytes in the stored layout (model_format/layout/weight_layout.h);
//   - its fp32 scales are the companion tensor "<name>.scales" of shape [n, k / group], one
//     per (row, group of `group` consecutive input columns); the group size is implied by the
//     shape and must satisfy weight_layout::check_shape;
//   - an fp16 weight has no scales.
// Dense tensors and the tensors inside one expert frame follow it alike.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "model_format/tensor_types.h"

namespace tusk::format {

// "<weight>.scales".
std::string scales_name(std::string_view weight);

struct TensorShapeRef {
  std::string_view name;
  DType dtype;
  const std::vector<int64_t>* shape;
};

// Checks one group of tensors (all dense tensors, or one expert frame's) against the
// convention: every I4/I8 tensor is a matrix with a valid F32 scales companion, and every
// "*.scales" tensor belongs to an I4/I8 tensor. Returns "" when all is well, else a message
// naming the tensor (names passed through printable_name). Shapes must already be valid
// (positive dimensions, byte sizes checked).
std::string check_quantized_tensors(const std::vector<TensorShapeRef>& tensors);

}  // namespace tusk::format
