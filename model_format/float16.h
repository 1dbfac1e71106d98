// fp32 -> IEEE 754 binary16, for the converter's fp16 weights. (The widening direction,
// f16_to_f32, lives with the safetensors reader, which needed it first.)
#pragma once

#include <cstdint>

namespace tusk::format {

// Round to nearest, ties to even, like a hardware conversion in the default rounding mode:
// values at or above 65520 in magnitude become +-inf, tiny values become fp16 subnormals or
// signed zero, and NaN stays NaN (quiet, top payload bits kept).
uint16_t f32_to_f16(float value);

}  // namespace tusk::format
