// The x16 GEMV loop (m <= 4, int16 activations from x16_prep.h) of the SIMD levels, over
//   VI  integer vector traits: I (the int32 sums of a row), F, kLanes16 (int16 activations
//       one step reads), kChains (independent sums per output the dot's latency wants), zero,
//       load, dot (acc += products of a step's weights and activations: vpmaddwd + vpaddd,
//       vpdpwssd, or vpdpbusd on split bytes, x16_split_vnni.h), add, to_float, and the float
//       ops fzero, fadd, fma, set1, hsum
//   Rd  weight reader: a block of kCols columns (kBlockBytes per row) yields kSteps weight
//       vectors lined up with the prepared activations (unsigned nibbles q + 8 for Int4, q
//       for Int8).
// int32 sums are exact; they are moved to float every kSegmentCols columns (and per group),
// well before they could overflow: |pair| <= 2 * 128 * 32767, at most 1024 / 16 pairs/lane.
// Internal linkage only, see linear_driver.h.
#pragma once

#include <cstdint>

#include "kernels/cpu/gemv_simd.h"  // prefetch helpers
#include "kernels/cpu/kernel_entry.h"
#include "kernels/cpu/x16_prep.h"

namespace tusk::kernels::detail {
namespace {

constexpr int64_t kSegmentCols = 1024;

template <class VI, class Rd, int M, int R, int A, bool kGrouped, bool kSingleSegment>
__attribute__((always_inline)) inline void x16_tile(const LinearCall& c, const X16Prep& p,
                                                    const TileGeometry& geo, int64_t r0) {
  using I = typename VI::I;
  using F = typename VI::F;
  const uint8_t* rows[R];
#pragma GCC unroll 8
  for (int rr = 0; rr < R; ++rr) rows[rr] = static_cast<const uint8_t*>(c.w.data) + (r0 + rr) * geo.row_bytes;

  F acc[M][R];   // grouped: sum over groups of scale * group sum
  F part[M][R];  // float sum of the current group's segments
#pragma GCC unroll 8
  for (int i = 0; i < M; ++i)
#pragma GCC unroll 8
    for (int rr = 0; rr < R; ++rr) {
      acc[i][rr] = VI::fzero();
      part[i][rr] = VI::fzero();
    }
  for (int64_t g = 0; g < geo.groups; ++g) {
    const int64_t g_end = (g + 1) * geo.group;
    for (int64_t seg = g * geo.group; seg < g_end; seg += kSegmentCols) {
      const int64_t seg_end = kSingleSegment || seg + kSegmentCols >= g_end ? g_end : seg + kSegmentCols;
      I t[M][R][A];
#pragma GCC unroll 4
      for (int i = 0; i < M; ++i)
#pragma GCC unroll 4
        for (int rr = 0; rr < R; ++rr)
#pragma GCC unroll 2
          for (int a = 0; a < A; ++a) t[i][rr][a] = VI::zero();
      const int64_t b_end = seg_end / Rd::kCols;
      for (int64_t b = seg / Rd::kCols; b < b_end; ++b) {
        prefetch_block<R>(geo.plan, rows, b, Rd::kBlockBytes, geo.row_bytes);
        typename Rd::State st[R];
#pragma GCC unroll 4
        for (int rr = 0; rr < R; ++rr) st[rr] = Rd::load(rows[rr], b);
        const int16_t* xb = p.x + b * Rd::kCols;
#pragma GCC unroll 4
        for (int s = 0; s < Rd::kSteps; ++s) {
          I xv[M];
#pragma GCC unroll 4
          for (int i = 0; i < M; ++i) xv[i] = VI::load(xb + i * p.ld_x + s * VI::kLanes16);
#pragma GCC unroll 4
          for (int rr = 0; rr < R; ++rr) {
            const auto wv = Rd::step(st[rr], s);
#pragma GCC unroll 4
            for (int i = 0; i < M; ++i) t[i][rr][s % A] = VI::dot(t[i][rr][s % A], wv, xv[i]);
          }
        }
      }
#pragma GCC unroll 8
      for (int i = 0; i < M; ++i)
#pragma GCC unroll 8
        for (int rr = 0; rr < R; ++rr) {
          I sum = t[i][rr][0];
#pragma GCC unroll 8
          for (int a = 1; a < A; ++a) sum = VI::add(sum, t[i][rr][a]);
          const F f = VI::to_float(sum);
          if constexpr (kSingleSegment)
            part[i][rr] = f;
          else
            part[i][rr] = seg == g * geo.group ? f : VI::fadd(part[i][rr], f);
        }
    }
    if constexpr (kGrouped) {
#pragma GCC unroll 8
      for (int rr = 0; rr < R; ++rr) {
        const F scale = VI::set1(c.w.scales[(r0 + rr) * geo.groups + g]);
#pragma GCC unroll 8
        for (int i = 0; i < M; ++i) acc[i][rr] = VI::fma(part[i][rr], scale, acc[i][rr]);
      }
    }
  }
#pragma GCC unroll 8
  for (int i = 0; i < M; ++i) {
    F t[R];
#pragma GCC unroll 8
    for (int rr = 0; rr < R; ++rr) t[rr] = kGrouped ? acc[i][rr] : part[i][rr];
    float v[R];
    hsum_rows<VI, R>(t, v);
    finish_rows<Rd, R, kGrouped>(c, i, r0, v, p.sums + i * p.ld_sums, geo.groups, p.scale[i]);
  }
}

// A > 1 only where the dot product itself carries the accumulator (vpdpwssd's latency);
// vpmaddwd + vpaddd chains through a 1-cycle add.
template <class VI, class Rd, int M, bool kGrouped, bool kSingleSegment>
void x16_range(const LinearCall& c, const X16Prep& p, int64_t r0, int64_t r1) {
  constexpr int R = M <= 2 ? 4 : 2;
  constexpr int A = M == 1 ? VI::kChains : 1;
  const TileGeometry geo = tile_geometry<Rd, R, kGrouped>(c.w);
  const TileGeometry geo1 = tile_geometry<Rd, 1, kGrouped>(c.w);
  prefetch_start(static_cast<const uint8_t*>(c.w.data) + r0 * geo.row_bytes, (r1 - r0) * geo.row_bytes,
                 R * geo.row_bytes);
  int64_t r = r0;
  for (; r + R <= r1; r += R) x16_tile<VI, Rd, M, R, A, kGrouped, kSingleSegment>(c, p, geo, r);
  for (; r < r1; ++r) x16_tile<VI, Rd, M, 1, VI::kChains, kGrouped, kSingleSegment>(c, p, geo1, r);
}

template <class VI, class Rd, bool kGrouped, bool kSingleSegment>
void x16_rows_by_m(const LinearCall& c, const X16Prep& p, int64_t r0, int64_t r1) {
  switch (c.m) {
    case 1: return x16_range<VI, Rd, 1, kGrouped, kSingleSegment>(c, p, r0, r1);
    case 2: return x16_range<VI, Rd, 2, kGrouped, kSingleSegment>(c, p, r0, r1);
    case 3: return x16_range<VI, Rd, 3, kGrouped, kSingleSegment>(c, p, r0, r1);
    default: return x16_range<VI, Rd, 4, kGrouped, kSingleSegment>(c, p, r0, r1);
  }
}

template <class VI, class Rd>
void x16_rows(const LinearCall& c, const X16Prep& p, int64_t r0, int64_t r1) {
  const bool single = c.w.group <= kSegmentCols;
  if (c.w.group != c.w.k)
    single ? x16_rows_by_m<VI, Rd, true, true>(c, p, r0, r1) : x16_rows_by_m<VI, Rd, true, false>(c, p, r0, r1);
  else
    single ? x16_rows_by_m<VI, Rd, false, true>(c, p, r0, r1) : x16_rows_by_m<VI, Rd, false, false>(c, p, r0, r1);
}

}  // namespace
}  // namespace tusk::kernels::detail
