// The stored byte layouts of weight matrices: what the bytes of an int8, int4 or fp16 tensor
// in a .tusk file mean. A leaf (it depends on nothing of ours): the converter packs with it,
// the reader checks sizes with it, the tests unpack with it, and every kernel reads bytes in
// the arrangement defined here. A kernel that wants another arrangement repacks at prepare
// time; it never changes what a file means.
//
// A weight is [n, k] (out_features x in_features), symmetric, with one fp32 scale per (row,
// group of `group` consecutive input columns): w[r][c] = q[r][c] * scale[r][c / group]
// (group == k: one scale per output channel). Rows are independent and follow each other;
// row r starts at r * k bytes (Int8), r * k / 2 (Int4), r * 2 * k (F16):
//   Int8  plain row-major int8 q in [-127, 127].
//   Int4  each row is k / 64 blocks of 32 bytes; block b covers columns [64b, 64b + 64) and is
//         read as 8 little-endian uint32 words: word j (bytes 4j..4j+3) holds, in its nibble t
//         (bits 4t..4t+3), column 64b + 8t + j, stored as q + 8 (0..15), q in [-8, 7]. So one
//         256-bit load of a block followed by `(word >> 4t) & 15` gives 8 consecutive columns
//         8t..8t+7 in the 8 lanes (no shuffles).
//   F16   plain row-major IEEE half bits; no scales.
#pragma once

#include <cstddef>
#include <cstdint>

namespace tusk::weight_layout {

enum class Layout : uint8_t {
  Int8 = 0,  // q in [-127, 127], one byte each
  Int4 = 1,  // q in [-8, 7], two per byte, 64-column blocks as above
  F16 = 2,   // IEEE half, no scales
};

const char* layout_name(Layout layout);  // "int8", "int4", "fp16"

// Bytes of a packed [n, k] matrix: n*k (Int8), n*k/2 (Int4), 2*n*k (F16).
size_t packed_bytes(Layout layout, int64_t n, int64_t k);

// Shape rules: n > 0 and k > 0; Int4 needs k % 64 == 0 and group % 64 == 0; Int8 needs
// k % 32 == 0 and group % 32 == 0; for both, group must divide k. F16 takes any k and ignores
// group. Returns null when valid, else a static message.
const char* check_shape(Layout layout, int64_t n, int64_t k, int64_t group);

// Packs plain values: Int8/Int4 from int8_t q[n*k] (row-major, already clamped to the
// layout's range); F16 from uint16_t halves[n*k]. `out` must hold packed_bytes().
void pack_weights(Layout layout, const void* values, int64_t n, int64_t k, void* out);
// The inverse: writes int8_t (Int8/Int4) or uint16_t (F16).
void unpack_weights(Layout layout, const void* packed, int64_t n, int64_t k, void* values);

}  // namespace tusk::weight_layout
