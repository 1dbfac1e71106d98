// Element types and tensor views shared by the reader, the writer and the converters.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "model_format/layout/weight_layout.h"

namespace tusk::format {

enum class DType : uint8_t { F32 = 0, F16 = 1, BF16 = 2, I8 = 3, I4 = 4 };

const char* dtype_name(DType t);

// The one map between stored dtypes and byte layouts: I4 -> Int4, I8 -> Int8, F16 -> F16
// (model_format/layout/weight_layout.h); false for F32 and BF16, which are plain arrays.
bool packed_layout(DType dtype, weight_layout::Layout* out);
DType dtype_of(weight_layout::Layout layout);
// Bytes for `elements` values of type t (I4 packs two per byte, rounded up).
size_t dtype_bytes(DType t, size_t elements);

enum class Stack : uint8_t { Encoder = 0, Decoder = 1 };

// A read-only view of tensor bytes (into the mmap for dense tensors, into an expert's decoded
// buffer for expert tensors). Shapes are row-major; a Linear weight is [out_features, in_features].
struct TensorView {
  const void* data = nullptr;
  DType dtype = DType::F32;
  std::vector<int64_t> shape;
  size_t bytes = 0;
  std::optional<weight_layout::Layout> layout;  // packed weights: how their bytes are arranged

  int64_t elements() const {
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    return n;
  }
  const float* f32() const { return static_cast<const float*>(data); }
};

// How far a stored tensor is from the fp32 weights it was converted from. The converter
// measures it when it quantizes (int4, int8) or narrows (fp16) a weight; the file keeps it for
// `tusk inspect --verbose`.
struct QuantStats {
  float max_abs_error = 0.0f;  // max |w - stored|
  float relative_rms = 0.0f;   // ||w - stored||_2 / ||w||_2 (0 when w is all zeros)
};

// Tensor bytes handed to the writer.
struct TensorData {
  std::string name;
  DType dtype = DType::F32;
  std::vector<int64_t> shape;
  const void* data = nullptr;  // dtype_bytes(dtype, elements) bytes
  std::optional<QuantStats> stats = std::nullopt;  // recorded in the metadata when set
};

}  // namespace tusk::format
