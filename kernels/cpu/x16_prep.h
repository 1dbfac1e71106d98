// Activations for the x16 GEMV (quantized_linear_x16): each row of x becomes int16 with one
// scale, x ~= scale * xq, scale = max|x| / 32767, xq = round-to-nearest(x / scale), so every
// |xq| <= 32767 and the dot products against int4/int8 weights are exact in int32
// (vpmaddwd: 16-bit pairs summed into 32-bit lanes). The only error is the rounding of x:
// at most 0.5 * scale per element. Also records the sum of xq per (row, group) for the Int4
// +8 offset. Plain scalar code (the compiler vectorizes it per ISA); internal linkage
// only, see linear_driver.h.
//
// Int4 order (SIMD levels): within each 64-column block, pair p (0..3) holds 16 values
// [xq[8p + j], xq[32 + 8p + j]] for j = 0..7: the words that `(word >> 4p) & 0x000F000F` of a
// packed block lines up with (nibbles p and p + 4 of word j are columns 8p + j and 32 + 8p + j).
#pragma once

#include <cstdint>

#include "kernels/cpu/kernel_entry.h"

namespace tusk::kernels::detail {
namespace {

struct X16Prep {
  const int16_t* x;  // [m][ld_x], Int4 in block order when prepared for SIMD
  int64_t ld_x;
  const float* sums;  // [m][ld_sums]: sum of xq over each group (exact integers)
  int64_t ld_sums;
  const float* scale;  // [m]
};

// Where the prepared activations live in the call's scratch (gemv_scratch_floats): int16 x
// [m][k], then the group sums [m][k / group], then one scale per row.
struct X16Scratch {
  int16_t* x;
  float* sums;
  float* scale;
};

inline X16Scratch x16_scratch(const LinearCall& c) {
  const int64_t k = c.w.k, groups = k / c.w.group;
  return {reinterpret_cast<int16_t*>(c.scratch), c.scratch + c.m * k / 2, c.scratch + c.m * k / 2 + c.m * groups};
}

// The prepared activations as the kernels read them.
inline X16Prep x16_layout(const LinearCall& c) {
  const X16Scratch s = x16_scratch(c);
  return {s.x, c.w.k, s.sums, c.w.k / c.w.group, s.scale};
}

// Position of column col in the Int4 block order.
inline int64_t x16_int4_position(int64_t col) {
  const int64_t in_block = col % 64;
  return (col - in_block) + 16 * ((in_block % 32) / 8) + 2 * (in_block % 8) + in_block / 32;
}

inline X16Prep prepare_x16(const LinearCall& c, bool int4_block_order) {
  const int64_t k = c.w.k, group = c.w.group, groups = k / group;
  const auto [xq, sums, scale] = x16_scratch(c);
  const bool reorder = int4_block_order && c.w.type == WeightType::Int4;
  for (int64_t i = 0; i < c.m; ++i) {
    const float* x = c.x + i * c.ld_x;
    float amax = 0.0f;
    for (int64_t col = 0; col < k; ++col) {
      const float a = x[col] < 0.0f ? -x[col] : x[col];
      amax = a > amax ? a : amax;
    }
    const float inv = amax > 0.0f ? 32767.0f / amax : 0.0f;
    scale[i] = amax / 32767.0f;
    int16_t* out = xq + i * k;
    for (int64_t g = 0; g < groups; ++g) {
      int32_t sum = 0;
      for (int64_t col = g * group; col < (g + 1) * group; ++col) {
        // Round to nearest even through the 1.5 * 2^23 trick (|x * inv| <= 32767).
        const float rounded = (x[col] * inv + 12582912.0f) - 12582912.0f;
        const auto v = static_cast<int16_t>(rounded);
        sum += v;
        out[reorder ? x16_int4_position(col) : col] = v;
      }
      sums[i * groups + g] = static_cast<float>(sum);
    }
  }
  return x16_layout(c);
}

}  // namespace
}  // namespace tusk::kernels::detail
