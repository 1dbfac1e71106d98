// Overflow-safe size arithmetic for tensor shapes, shared by the writer (checking what it is
// given) and the reader (checking what a file claims).
#pragma once

#include <cstddef>
#include <cstdint>

#include "model_format/tensor_types.h"

namespace tusk::format {

constexpr size_t kMaxTensorRank = 8;

inline bool is_known_dtype(DType t) { return static_cast<uint8_t>(t) <= static_cast<uint8_t>(DType::I4); }

// Elements of a shape whose dims are all > 0 (an empty shape is a scalar: 1 element).
// False for a non-positive dim, a rank above kMaxTensorRank or a product that overflows.
template <typename Dims>
bool checked_element_count(const Dims& dims, uint64_t* elements) {
  if (dims.size() > kMaxTensorRank) return false;
  uint64_t n = 1;
  for (auto dim : dims) {
    const int64_t d = static_cast<int64_t>(dim);
    if (d <= 0 || __builtin_mul_overflow(n, static_cast<uint64_t>(d), &n)) return false;
  }
  *elements = n;
  return true;
}

// dtype_bytes without overflow; false for an unknown dtype or a byte count that does not fit.
inline bool checked_dtype_bytes(DType t, uint64_t elements, uint64_t* bytes) {
  if (!is_known_dtype(t)) return false;
  const uint64_t bytes_per_8 = dtype_bytes(t, 8);  // per 8 elements, so I4 is exact too
  if (elements > SIZE_MAX || elements > UINT64_MAX / bytes_per_8 ||
      elements * bytes_per_8 / 8 > SIZE_MAX) {
    return false;
  }
  *bytes = dtype_bytes(t, static_cast<size_t>(elements));
  return true;
}

}  // namespace tusk::format
