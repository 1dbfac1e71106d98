#include "model_format/float16.h"

#include <cstring>

namespace tusk::format {

uint16_t f32_to_f16(float value) {
  uint32_t bits;
  std::memcpy(&bits, &value, sizeof bits);
  const uint16_t sign = static_cast<uint16_t>((bits >> 16) & 0x8000u);
  const uint32_t magnitude = bits & 0x7fffffffu;

  if (magnitude >= 0x7f800000u) {  // inf or NaN
    if (magnitude == 0x7f800000u) return sign | 0x7c00u;
    return static_cast<uint16_t>(sign | 0x7e00u | ((magnitude >> 13) & 0x3ffu));
  }
  // 65520 is halfway between the largest half (65504) and 2^16; the tie goes to the even
  // neighbour, which is past the largest: inf.
  if (magnitude >= 0x477ff000u) return sign | 0x7c00u;

  if (magnitude >= 0x38800000u) {  // at least 2^-14: a normal half
    const uint32_t exponent = (magnitude >> 23) - 127 + 15;
    const uint32_t mantissa = magnitude & 0x7fffffu;
    uint32_t half = (exponent << 10) | (mantissa >> 13);
    const uint32_t rest = mantissa & 0x1fffu;  // the 13 bits that do not fit
    // A carry out of the mantissa correctly bumps the exponent.
    if (rest > 0x1000u || (rest == 0x1000u && (half & 1u))) ++half;
    return static_cast<uint16_t>(sign | half);
  }

  // Subnormal half: value / 2^-24, rounded. At most 2^-25 (ties to even zero) gives zero;
  // float subnormals are far below that.
  if (magnitude <= 0x33000000u) return sign;
  const uint32_t mantissa = (magnitude & 0x7fffffu) | 0x800000u;  // with the implicit one
  const uint32_t shift = 126 - (magnitude >> 23);                  // 14 .. 24
  uint32_t half = mantissa >> shift;
  const uint32_t rest = mantissa & ((1u << shift) - 1);
  const uint32_t halfway = 1u << (shift - 1);
  // Rounding up from the largest subnormal gives 0x400, the smallest normal: still right.
  if (rest > halfway || (rest == halfway && (half & 1u))) ++half;
  return static_cast<uint16_t>(sign | half);
}

}  // namespace tusk::format
