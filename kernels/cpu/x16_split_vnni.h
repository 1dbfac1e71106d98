// The Int4 x16 GEMV of the AVX-512 VNNI level with vpdpbusd (unsigned bytes x signed bytes)
// on activations split into bytes, instead of vpdpwssd on nibbles widened to int16.
//
// Why: the vpdpwssd path spends a shift and a mask per 32 weights to widen the nibbles, then
// one vpdpwssd per 32 weights: 12 vector instructions per 64-byte line of weights, mostly on
// one port, so from cache it computed only 18-25 GB/s on a core (bench_gemv --hot), not far
// above what DRAM gives a core. Here each int16 activation is split as x = 256 h + l (h = x >> 8, signed; l = x & 255,
// unsigned). The weight's unsigned nibble u (0..15) fits either operand of vpdpbusd, so
//   u * x = 256 (u * h) + (l * u)
// takes two vpdpbusd per 64 weights (u unsigned against h; l unsigned against u). A line
// costs 3 instructions to unpack (mask, shift, mask) and 4 vpdpbusd: 7 instead of 12.
// The int32 sums are the same integers as the vpdpwssd path's, so the result differs only in
// float rounding, and accuracy is unchanged. Measured on a Sapphire Rapids VM: 1.2-1.85x from
// cache; from DRAM the same as before (a core's misses in flight bound both).
//
// Layout. Weights are read 64 bytes (two 64-column blocks, 128 columns) at a time. Byte
// 4w + q of a block (weight_format.h) holds columns 16q + w (low nibble) and 16q + 8 + w
// (high nibble). The prepared activations of each 128 columns are 256 bytes, A | B | C | D
// of 64 bytes: h and l of the low-nibble columns, then h and l of the high-nibble columns,
// byte t of each lined up with weight byte t. That is 2 bytes a column, as int16 needs.
//
// Exactness: per 32-bit lane and 1024-column segment, |sum u h| <= 64 * 15 * 128 and
// sum l u <= 64 * 255 * 15, so 256 * sum u h + sum l u stays below 2^25.
//
// Applies to Int4 with groups of a multiple of 128 columns (per-channel scales included when
// k % 128 == 0); other Int4 calls take the vpdpwssd path. Include only from the VNNI TU.
#pragma once

#include <immintrin.h>

#include <cstdint>

#include "kernels/cpu/kernel_entry.h"
#include "kernels/cpu/simd_avx512.h"
#include "kernels/cpu/vnni_asm.h"

namespace tusk::kernels::detail {
namespace {

// One row's int32 sums: the h part and the l part, combined in to_float.
struct SplitSums {
  __m512i h, l;
};

struct VecX16Split : VecX16Base {
  using I = SplitSums;
  static constexpr int kLanes16 = 64;       // a step reads 128 bytes: h and l for 64 weights
  static constexpr int kChains = 1;         // h and l are already two chains per row
  static constexpr int kShortRowPass = 8;   // 8 rows x 2 sums in registers, not 16 x 2
  static I zero() { return {_mm512_setzero_si512(), _mm512_setzero_si512()}; }
  static I load(const int16_t* p) {
    const auto* bytes = reinterpret_cast<const uint8_t*>(p);
    return {_mm512_loadu_si512(bytes), _mm512_loadu_si512(bytes + 64)};
  }
  static I add(I a, I b) { return {_mm512_add_epi32(a.h, b.h), _mm512_add_epi32(a.l, b.l)}; }
  static I dot(I acc, __m512i u, I x) {
    dpbusd(acc.h, u, x.h);
    dpbusd(acc.l, x.l, u);
    return acc;
  }
  static F to_float(I v) { return _mm512_cvtepi32_ps(_mm512_add_epi32(_mm512_slli_epi32(v.h, 8), v.l)); }
};

// 128 columns (64 bytes a row) per block; step 0 the low nibbles, step 1 the high ones.
struct Int4SplitReader {
  static constexpr int kCols = 128, kSteps = 2, kBlockBytes = 64;
  static constexpr float kOffset = 8.0f;
  static constexpr bool kScaled = true;
  using State = __m512i;
  static int64_t row_bytes(int64_t k) { return k / 2; }
  static int64_t main_cols(int64_t k) { return k; }
  static State load(const uint8_t* row, int64_t b) { return _mm512_loadu_si512(row + b * kBlockBytes); }
  static __m512i step(State v, int s) {
    return _mm512_and_si512(s == 0 ? v : _mm512_srli_epi16(v, 4), _mm512_set1_epi8(0x0F));
  }
};

// Writes one 64-column block (q[t] = columns b + 8t .. b + 8t + 7, one per 32-bit lane w) into
// the A | B | C | D layout: byte j of lane w of the low part is column 16j + w = q[2j][w],
// of the high part column 16j + 8 + w = q[2j + 1][w].
struct StoreInt4Split {
  void operator()(int16_t* row, int64_t b, const __m256i (&q)[8]) const {
    uint8_t* out = reinterpret_cast<uint8_t*>(row) + 2 * (b - b % 128) + (b % 128 == 0 ? 0 : 32);
    const __m256i byte = _mm256_set1_epi32(0xFF);
    for (int half = 0; half < 2; ++half) {  // low nibbles, then high
      __m256i h = _mm256_setzero_si256(), l = _mm256_setzero_si256();
      for (int j = 0; j < 4; ++j) {
        const __m256i v = q[2 * j + half];
        h = _mm256_or_si256(h, _mm256_slli_epi32(_mm256_and_si256(_mm256_srai_epi32(v, 8), byte), 8 * j));
        l = _mm256_or_si256(l, _mm256_slli_epi32(_mm256_and_si256(v, byte), 8 * j));
      }
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + 128 * half), h);
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + 128 * half + 64), l);
    }
  }
};

struct X16SplitInt4 {
  using Vec = VecX16Split;
  using Reader = Int4SplitReader;
  using Store = StoreInt4Split;
  static bool applies(const LinearCall& c) { return c.w.type == WeightType::Int4 && c.w.group % 128 == 0; }
};

}  // namespace
}  // namespace tusk::kernels::detail
