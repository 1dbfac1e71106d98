// How the CUDA kernels read the stored weight layouts (model_format/layout/weight_layout.h),
// as host/device functions: the kernels use them on the GPU and the host tests check them
// against the layout library's own unpacking, so the two can never drift apart unseen.
//
// The kernels read a packed row as 32-bit words (coalesced across a warp):
//   Int4  word w of a row: 64-column block w / 8, j = w % 8; nibble t holds column
//         64 * (w / 8) + 8t + j, stored as q + 8.
//   Int8  word w holds columns 4w .. 4w + 3, one signed byte each (little-endian).
//   F16   IEEE half bits, one per column.
#pragma once

#include <cstdint>

#include "common/host_device.h"
#include "model_format/layout/layout_facts.h"

namespace tusk::kernels::cuda {

constexpr int kInt4ColsPerWord = 8;
constexpr int kInt8ColsPerWord = 4;

// Int4: the column nibble t of word w holds, and the q it stores.
TUSK_HOST_DEVICE int64_t int4_word_column(int64_t w, int t) { return 64 * (w / 8) + 8 * t + (w % 8); }
TUSK_HOST_DEVICE int int4_word_value(uint32_t word, int t) {
  return static_cast<int>((word >> (4 * t)) & 15u) - 8;
}
// The word and nibble of Int4 column c (the inverse of int4_word_column).
TUSK_HOST_DEVICE int64_t int4_column_word(int64_t c) { return 8 * (c / 64) + c % 8; }
TUSK_HOST_DEVICE int int4_column_nibble(int64_t c) { return static_cast<int>((c % 64) / 8); }

// Int8: byte lane l (0..3) of a word as a signed value.
TUSK_HOST_DEVICE int int8_word_value(uint32_t word, int l) {
  return static_cast<int>(static_cast<int8_t>(static_cast<uint8_t>(word >> (8 * l))));
}

// IEEE half bits to float: the layout library's conversion (host and device).
TUSK_HOST_DEVICE float half_bits_to_float(uint16_t h) { return weight_layout::half_to_float(h); }

// Weight arrangements the kernels take: weight_layout::Layout's values, and plain fp32.
constexpr int kLayoutInt8 = 0, kLayoutInt4 = 1, kLayoutF16 = 2, kLayoutF32 = 3;

// The fp32 value of element (row, c) of a [n, k] weight matrix: what a kernel that reads one
// element at a time (tiles of a GEMM, an embedding row) computes.
TUSK_HOST_DEVICE float packed_value(int layout, const void* data, const float* scales, int64_t k,
                                    int64_t group, int64_t row, int64_t c) {
  if (layout == kLayoutF32) return static_cast<const float*>(data)[row * k + c];
  if (layout == kLayoutF16) return half_bits_to_float(static_cast<const uint16_t*>(data)[row * k + c]);
  const float scale = scales[row * (k / group) + c / group];
  if (layout == kLayoutInt8) return static_cast<float>(static_cast<const int8_t*>(data)[row * k + c]) * scale;
  const uint32_t* words = static_cast<const uint32_t*>(data) + row * (k / kInt4ColsPerWord);
  return static_cast<float>(int4_word_value(words[int4_column_word(c)], int4_column_nibble(c))) * scale;
}

// The GEMM tiles' reading: 32 columns from k0 (a multiple of 32) of rows of a weight matrix.
// Every column of such a tile shares one scale group (int8 and int4 groups are multiples of
// 32), so a row's scale is looked up once, and no 64-bit division runs per element.
struct TileReader {
  int layout;
  const void* data;
  const float* scales;
  int64_t k, groups_per_row, group_index;  // k / group, and k0 / group (int8, int4)

  TUSK_HOST_DEVICE float scale(int64_t n) const {
    return layout == kLayoutInt8 || layout == kLayoutInt4 ? scales[n * groups_per_row + group_index] : 1.0f;
  }
  // Element (n, c) of the tile, c in [k0, k0 + 32), with s = scale(n).
  TUSK_HOST_DEVICE float value(int64_t n, int64_t c, float s) const {
    switch (layout) {
      case kLayoutF32: return static_cast<const float*>(data)[n * k + c];
      case kLayoutF16: return half_bits_to_float(static_cast<const uint16_t*>(data)[n * k + c]);
      case kLayoutInt8: return static_cast<float>(static_cast<const int8_t*>(data)[n * k + c]) * s;
      default: {
        const uint32_t* row = static_cast<const uint32_t*>(data) + n * (k / kInt4ColsPerWord);
        const uint32_t cc = static_cast<uint32_t>(c);  // a column < k: 32 bits, divisions become shifts
        return static_cast<float>(int4_word_value(row[8 * (cc / 64) + cc % 8], static_cast<int>((cc % 64) / 8))) * s;
      }
    }
  }
};

TUSK_HOST_DEVICE TileReader tile_reader(int layout, const void* data, const float* scales, int64_t k, int64_t group,
                                        int64_t k0) {
  const bool grouped = layout == kLayoutInt8 || layout == kLayoutInt4;
  return {layout, data, scales, k, grouped ? k / group : 0, grouped ? k0 / group : 0};
}

}  // namespace tusk::kernels::cuda
