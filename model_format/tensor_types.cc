#include "model_format/tensor_types.h"

namespace tusk::format {

const char* dtype_name(DType t) {
  switch (t) {
    case DType::F32: return "f32";
    case DType::F16: return "f16";
    case DType::BF16: return "bf16";
    case DType::I8: return "i8";
    case DType::I4: return "i4";
  }
  return "unknown";
}

size_t dtype_bytes(DType t, size_t elements) {
  switch (t) {
    case DType::F32: return elements * 4;
    case DType::F16:
    case DType::BF16: return elements * 2;
    case DType::I8: return elements;
    case DType::I4: return elements / 2 + elements % 2;  // no overflow for huge counts
  }
  return 0;
}

bool packed_layout(DType dtype, weight_layout::Layout* out) {
  switch (dtype) {
    case DType::I4: *out = weight_layout::Layout::Int4; return true;
    case DType::I8: *out = weight_layout::Layout::Int8; return true;
    case DType::F16: *out = weight_layout::Layout::F16; return true;
    default: return false;
  }
}

DType dtype_of(weight_layout::Layout l) {
  switch (l) {
    case weight_layout::Layout::Int4: return DType::I4;
    case weight_layout::Layout::Int8: return DType::I8;
    case weight_layout::Layout::F16: return DType::F16;
  }
  return DType::F32;
}

}  // namespace tusk::format
