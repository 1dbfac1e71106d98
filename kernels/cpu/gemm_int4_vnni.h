// The x16 GEMM of the AVX-512 VNNI level for Int4 weights: gemm_int8_vnni.h's tiles (16 rows
// of x in a vector's lanes, 8 weight rows, weight words broadcast), reading the stored nibbles
// with no repacking. Same int32 sums as gemm_x16.h, so the same results, bit for bit.
//
// Why: gemm_x16.h widens every nibble to int16 and transposes it into a panel on every call;
// for the experts of an MoE encoder (m ~ 40 rows an expert) that repacking took a third as
// long as the products themselves (perf of `tusk serve` under load: run_gemm_x16 5.8% of the
// time against 10% in its micro-kernel).
//
// Products. A stored word (weight_layout.h) holds columns j, 8 + j, ..., 56 + j of a 64-column
// block in its nibbles, each q + 8 = u in 0..15. Broadcast to every lane, `word & 0x0F0F0F0F`
// is the four bytes u of columns j, 16 + j, 32 + j, 48 + j, and `(word >> 4) & 0x0F0F0F0F`
// those of 8 + j, 24 + j, 40 + j, 56 + j; the activations' quads are stored in that column
// order (quantize_block<true>). With x = 256 h + l (h signed, l unsigned), u fits either side
// of vpdpbusd (unsigned bytes by signed bytes):
//   sum x q = 256 sum (u h) + sum (l u) - 8 sum x,
// four vpdpbusd per word and 16 lanes, the last term from each row's sum of x per 64 columns.
// Exactness: per 256-column panel |256 sum u h| <= 256 * 256 * 15 * 128, sum l u <= 256 * 255
// * 15 and |8 sum x| <= 8 * 256 * 32767: the total stays below 2^31.
//
// Applies where gemm_x16.h does (x16_gemm_applies) with Int4 weights and k <= 64 panels; the
// opt-in 8-bit activations do not change Int4 products (quantized_linear_x8). Include only
// from the VNNI TU; internal linkage.
#pragma once

#include "kernels/cpu/gemm_int8_vnni.h"

namespace tusk::kernels::detail {
namespace {

inline bool int4_vnni_gemm_applies(const LinearCall& c) {
  return c.x16 && c.m > kX16TileMaxRows && c.w.type == WeightType::Int4 &&
         c.w.k <= kInt8MaxPanels * kX16GemmPanelCols;
}

// y[i][r0 + j] for the block's rows i < rows and the tile's rows j < nr (as int8_tile).
inline void int4_tile(const VnniTile& t, const __m512i* h, const __m512i* l, const __m512i* xsum,
                      const float* x_scale, int rows, float* y, int64_t ld_y, const char* prefetch) {
  const __m512i nibbles = _mm512_set1_epi8(0x0F);
  const int64_t blocks = t.k / 64;  // 64-column blocks: 8 words a row, 16 quads of x
  __m512 f[kInt8TileRows];
  for (int64_t p = 0; p < t.panels; ++p) {
    const int64_t b0 = p * (kX16GemmPanelCols / 64), b1 = min64(b0 + kX16GemmPanelCols / 64, blocks);
    __m512i hacc[kInt8TileRows], lacc[kInt8TileRows];
#pragma GCC unroll 8
    for (int r = 0; r < kInt8TileRows; ++r) hacc[r] = lacc[r] = _mm512_setzero_si512();
    __m512i x_sum = _mm512_setzero_si512();
    for (int64_t b = b0; b < b1; ++b) {
      x_sum = _mm512_add_epi32(x_sum, _mm512_load_si512(xsum + b));
      for (int j = 0; j < 8; ++j) {
        const int64_t word = 8 * b + j;
        if (prefetch) _mm_prefetch(prefetch + 32 * word, _MM_HINT_T1);
        const __m512i h_lo = _mm512_load_si512(h + 16 * b + j), h_hi = _mm512_load_si512(h + 16 * b + 8 + j);
        const __m512i l_lo = _mm512_load_si512(l + 16 * b + j), l_hi = _mm512_load_si512(l + 16 * b + 8 + j);
#pragma GCC unroll 8
        for (int r = 0; r < kInt8TileRows; ++r) {
          const __m512i w = _mm512_set1_epi32(t.w[r][word]);
          const __m512i u_lo = _mm512_and_si512(w, nibbles), u_hi = _mm512_and_si512(_mm512_srli_epi32(w, 4), nibbles);
          dpbusd(hacc[r], u_lo, h_lo);
          dpbusd(lacc[r], l_lo, u_lo);
          dpbusd(hacc[r], u_hi, h_hi);
          dpbusd(lacc[r], l_hi, u_hi);
        }
      }
    }
    const __m512i offset = _mm512_slli_epi32(x_sum, 3);  // 8 sum x
    const int64_t group = (p * kX16GemmPanelCols) / t.group;
#pragma GCC unroll 8
    for (int r = 0; r < kInt8TileRows; ++r) {
      const __m512i sum = _mm512_sub_epi32(_mm512_add_epi32(_mm512_slli_epi32(hacc[r], 8), lacc[r]), offset);
      const __m512 v = rounded(_mm512_mul_ps(_mm512_cvtepi32_ps(sum), _mm512_set1_ps(t.scales[r][group])));
      f[r] = p == 0 ? v : _mm512_add_ps(v, f[r]);
    }
  }
  finish_tile(f, t.nr, t.bias, t.relu, x_scale, rows, y, ld_y);
}

// The whole call (int4_vnni_gemm_applies), run as gemm_int8_vnni's: x quantized in the Int4
// order, then the tiles.
inline void gemm_int4_vnni(const LinearCall& c) {
  const Int8Activations act = int8_activations(c);
  run_vnni_gemm(
      c, c.w.k / 2, [&](int t, int count) { quantize_share<true>(c, act, /*split=*/true, t, count); },
      [&](const VnniTile& t, int64_t r0, int64_t m0, int64_t m1, const char* next) {
        for (int64_t i = m0; i < m1; i += kInt8TileXRows) {  // m0 is a multiple of 16
          const int64_t b = i / kInt8TileXRows;
          const int rows = static_cast<int>(min64(kInt8TileXRows, m1 - i));
          int4_tile(t, act.h(b), act.l(b), act.xsum(b), act.scale + i, rows, c.y + i * c.ld_y + r0, c.ld_y,
                    i == m0 ? next : nullptr);
        }
      });
}

}  // namespace
}  // namespace tusk::kernels::detail
