#include "model_format/layout/weight_layout.h"

#include <cstring>

#include "model_format/layout/layout_facts.h"

namespace tusk::weight_layout {

const char* layout_name(Layout layout) {
  switch (layout) {
    case Layout::Int8: return "int8";
    case Layout::Int4: return "int4";
    case Layout::F16: return "fp16";
  }
  return "unknown";
}

size_t packed_bytes(Layout layout, int64_t n, int64_t k) {
  const size_t elements = static_cast<size_t>(n) * static_cast<size_t>(k);
  switch (layout) {
    case Layout::Int8: return elements;
    case Layout::Int4: return elements / 2;
    case Layout::F16: return elements * 2;
  }
  return 0;
}

const char* check_shape(Layout layout, int64_t n, int64_t k, int64_t group) {
  if (n <= 0 || k <= 0) return "n and k must be positive";
  switch (layout) {
    case Layout::F16:
      return nullptr;  // no scales, any k
    case Layout::Int4:
      if (k % 64 != 0) return "int4 weights need k (input columns) to be a multiple of 64";
      if (group <= 0 || group % 64 != 0) return "int4 weights need a group size that is a multiple of 64";
      break;
    case Layout::Int8:
      if (k % 32 != 0) return "int8 weights need k (input columns) to be a multiple of 32";
      if (group <= 0 || group % 32 != 0) return "int8 weights need a group size that is a multiple of 32";
      break;
    default:
      return "unknown weight type";
  }
  if (k % group != 0) return "the group size must divide k (input columns)";
  return nullptr;
}

void pack_weights(Layout layout, const void* values, int64_t n, int64_t k, void* out) {
  const size_t bytes = packed_bytes(layout, n, k);
  if (layout != Layout::Int4) {
    std::memcpy(out, values, bytes);  // Int8 and F16 are stored plain
    return;
  }
  const auto* q = static_cast<const int8_t*>(values);
  auto* dst = static_cast<uint8_t*>(out);
  std::memset(dst, 0, bytes);
  const int64_t row_bytes = k / 2;
  for (int64_t r = 0; r < n; ++r) {
    uint8_t* row = dst + r * row_bytes;
    for (int64_t c = 0; c < k; ++c) {
      const unsigned u = static_cast<unsigned>(q[r * k + c] + kInt4Offset) & 15u;
      row[int4_byte(c)] |= static_cast<uint8_t>(u << int4_shift(c));
    }
  }
}

void unpack_weights(Layout layout, const void* packed, int64_t n, int64_t k, void* values) {
  if (layout != Layout::Int4) {
    std::memcpy(values, packed, packed_bytes(layout, n, k));
    return;
  }
  const auto* src = static_cast<const uint8_t*>(packed);
  auto* q = static_cast<int8_t*>(values);
  const int64_t row_bytes = k / 2;
  for (int64_t r = 0; r < n; ++r)
    for (int64_t c = 0; c < k; ++c)
      q[r * k + c] = static_cast<int8_t>(int4_value(src + r * row_bytes, c));
}

}  // namespace tusk::weight_layout
