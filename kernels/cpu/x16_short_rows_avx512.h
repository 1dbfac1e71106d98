// The x16 GEMV for one row of x over short weight rows, on the AVX-512 levels: 16 weight rows
// per tile, whose 16 sums one transpose reduces into a single vector, so the epilogue (int4
// offset, scales, x scale, bias, ReLU) runs once per 16 outputs in vector registers.
//
// Why: with k = 256 (this model's fc1, attention) a row is 128 bytes, and the general tile of
// 4 rows (gemv_x16.h) spends more time in its per-tile epilogue (horizontal sums, then scalar
// code per output) than in its dot products: 1024x256 took twice as long as 256x1024, the
// same bytes (11.7 against 5.8 µs L2-hot on one thread); with 16-row tiles it takes 7.3 µs.
//
// Applies to m = 1, one scale per row, and 16 rows no larger than one linear prefetch tile
// (gemv_simd.h), which also keeps k within one int32 segment. Within a 16-row tile the sums
// are reduced in a fixed order, and row ranges start at multiples of kGemvRowChunk = 16, so
// a row's result does not depend on the thread count.
// Include only from TUs compiled with the AVX-512 flags; internal linkage, see linear_driver.h.
#pragma once

#include <immintrin.h>

#include <cstdint>

#include "kernels/cpu/gemv_simd.h"
#include "kernels/cpu/gemv_x16.h"
#include "kernels/cpu/kernel_entry.h"
#include "kernels/cpu/linear_driver.h"
#include "kernels/cpu/x16_prep.h"

namespace tusk::kernels::detail {
namespace {

constexpr int kShortRowTile = 16;
static_assert(kGemvRowChunk % kShortRowTile == 0, "thread row ranges must start on tile boundaries");

// Lane r of the result = the sum of the 16 lanes of v[r].
__attribute__((always_inline)) inline __m512 transpose_sum16(const __m512 (&v)[16]) {
  // Pairs: per 128-bit lane (a0+a2, b0+b2, a1+a3, b1+b3); even positions belong to a.
  __m512 s8[8];
#pragma GCC unroll 8
  for (int i = 0; i < 8; ++i)
    s8[i] = _mm512_add_ps(_mm512_unpacklo_ps(v[2 * i], v[2 * i + 1]), _mm512_unpackhi_ps(v[2 * i], v[2 * i + 1]));
  // Quads: per 128-bit lane the partial sums of rows 4j .. 4j+3, in order.
  __m512 s4[4];
#pragma GCC unroll 4
  for (int j = 0; j < 4; ++j)
    s4[j] = _mm512_add_ps(_mm512_shuffle_ps(s8[2 * j], s8[2 * j + 1], _MM_SHUFFLE(1, 0, 1, 0)),
                          _mm512_shuffle_ps(s8[2 * j], s8[2 * j + 1], _MM_SHUFFLE(3, 2, 3, 2)));
  // Across 128-bit lanes: pairs of lanes, then the last pair, ending with rows 0..15 in order.
  auto fold = [](__m512 a, __m512 b) {
    return _mm512_add_ps(_mm512_shuffle_f32x4(a, b, _MM_SHUFFLE(2, 0, 2, 0)),
                         _mm512_shuffle_f32x4(a, b, _MM_SHUFFLE(3, 1, 3, 1)));
  };
  return fold(fold(s4[0], s4[1]), fold(s4[2], s4[3]));
}

template <class Rd>
bool x16_short_rows_apply(const LinearCall& c) {
  return c.m == 1 && c.w.group == c.w.k && kShortRowTile * Rd::row_bytes(c.w.k) <= kLinearTileBytes;
}

// Rows [r0, r0 + 16 * tiles) of y; returns the first row it did not compute. A tile's rows
// are summed VI::kShortRowPass at a time (all 16, or 8 where a row's sums take two registers).
template <class VI, class Rd>
int64_t x16_short_rows(const LinearCall& c, const X16Prep& p, int64_t r0, int64_t r1) {
  constexpr int R = kShortRowTile, kPass = VI::kShortRowPass, kPasses = R / kPass;
  static_assert(R % kPass == 0, "passes must cover the tile");
  const int64_t row_bytes = Rd::row_bytes(c.w.k), blocks = c.w.k / Rd::kCols;
  const int64_t tile_bytes = R * row_bytes;
  const int64_t span = R * Rd::kBlockBytes / kPasses;  // bytes prefetched per (pass, block)
  const PrefetchPlan plan = prefetch_plan(tile_bytes);
  const auto* data = static_cast<const uint8_t*>(c.w.data);
  prefetch_start(data + r0 * row_bytes, (r1 - r0) * row_bytes, tile_bytes);
  // Per-output constants of the epilogue, the same operations in the same order as finish_rows.
  const __m512 offset_sum = _mm512_set1_ps(Rd::kOffset * p.sums[0]);
  const __m512 x_scale = _mm512_set1_ps(p.scale[0]);
  int64_t r = r0;
  for (; r + R <= r1; r += R) {
    const uint8_t* tile = data + r * row_bytes;
    __m512 f[R];
#pragma GCC unroll 2
    for (int pass = 0; pass < kPasses; ++pass) {
      const uint8_t* rows = tile + pass * kPass * row_bytes;
      typename VI::I t[kPass];
#pragma GCC unroll 16
      for (int rr = 0; rr < kPass; ++rr) t[rr] = VI::zero();
      for (int64_t b = 0; b < blocks; ++b) {
        const int64_t step = pass * blocks + b;
        prefetch_span(tile + plan.ahead, step * span, (step + 1) * span);
        typename VI::I xv[Rd::kSteps];
#pragma GCC unroll 4
        for (int s = 0; s < Rd::kSteps; ++s) xv[s] = VI::load(p.x + b * Rd::kCols + s * VI::kLanes16);
#pragma GCC unroll 16
        for (int rr = 0; rr < kPass; ++rr) {
          const typename Rd::State st = Rd::load(rows + rr * row_bytes, b);
#pragma GCC unroll 4
          for (int s = 0; s < Rd::kSteps; ++s) t[rr] = VI::dot(t[rr], Rd::step(st, s), xv[s]);
        }
      }
#pragma GCC unroll 16
      for (int rr = 0; rr < kPass; ++rr) f[pass * kPass + rr] = VI::to_float(t[rr]);
    }
    __m512 v = transpose_sum16(f);
    if constexpr (Rd::kOffset != 0) v = _mm512_sub_ps(v, offset_sum);
    v = _mm512_mul_ps(v, _mm512_loadu_ps(c.w.scales + r));
    v = _mm512_mul_ps(v, x_scale);
    if (c.bias) v = _mm512_add_ps(v, _mm512_loadu_ps(c.bias + r));
    if (c.relu) v = _mm512_max_ps(v, _mm512_setzero_ps());
    _mm512_storeu_ps(c.y + r, v);
  }
  return r;
}

}  // namespace
}  // namespace tusk::kernels::detail
