// Scalar facts about the layouts of weight_layout.h, for the packer and for kernels (their
// generic code and the scalar tails of their SIMD code).
//
// Everything here has internal linkage on purpose: this header is included by translation
// units compiled with different ISA flags, and an inline function with external linkage
// would be merged by the linker, so an AVX-encoded copy could end up in generic code. The
// functions are host/device (common/host_device.h): the CUDA kernels read the layouts with
// them too.
#pragma once

#include <cstdint>
#include <cstring>

#include "common/host_device.h"

namespace tusk::weight_layout {
namespace {

constexpr int64_t kInt4BlockCols = 64;   // columns per Int4 block
constexpr int64_t kInt4BlockBytes = 32;  // bytes per Int4 block
constexpr int kInt4Offset = 8;           // stored nibble = q + 8

// Byte (within the row) and bit shift of Int4 column c: block c / 64, word j = c % 8,
// nibble t = (c % 64) / 8, so byte 4j + t / 2 and shift 4 * (t % 2).
TUSK_HOST_DEVICE int64_t int4_byte(int64_t c) {
  return (c / kInt4BlockCols) * kInt4BlockBytes + 4 * (c % 8) + (c % kInt4BlockCols) / 16;
}
TUSK_HOST_DEVICE int int4_shift(int64_t c) { return static_cast<int>(4 * ((c / 8) % 2)); }

TUSK_HOST_DEVICE int int4_value(const uint8_t* row, int64_t c) {
  return ((row[int4_byte(c)] >> int4_shift(c)) & 15) - kInt4Offset;
}

// IEEE half bits to float, exact for every input (normals, subnormals, inf, NaN).
TUSK_HOST_DEVICE float half_to_float(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  uint32_t exp = (h >> 10) & 0x1Fu;
  uint32_t mant = h & 0x3FFu;
  uint32_t bits;
  if (exp == 0x1F) {
    bits = sign | 0x7F800000u | (mant << 13);  // inf / NaN
  } else if (exp != 0) {
    bits = sign | ((exp + 112) << 23) | (mant << 13);  // rebias 15 -> 127
  } else if (mant == 0) {
    bits = sign;  // signed zero
  } else {
    // Subnormal half: normalise the mantissa.
    exp = 113;
    while ((mant & 0x400u) == 0) {
      mant <<= 1;
      --exp;
    }
    bits = sign | (exp << 23) | ((mant & 0x3FFu) << 13);
  }
#if defined(__CUDA_ARCH__)
  return __uint_as_float(bits);
#else
  float f;
  std::memcpy(&f, &bits, sizeof f);
  return f;
#endif
}

// Scales index of (row, column) for grouped layouts.
TUSK_HOST_DEVICE int64_t scale_index(int64_t row, int64_t col, int64_t k, int64_t group) {
  return row * (k / group) + col / group;
}

}  // namespace
}  // namespace tusk::weight_layout
