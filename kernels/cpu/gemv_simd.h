// The GEMV loop (m <= 4 rows of x) of the SIMD levels, written once over
//   V   vector traits: T, kWidth, zero, load, fma, add, set1, hsum
//   Rd  weight reader for one type: a block of kCols columns is loaded once per weight row
//       (load) and yields kSteps vectors of kWidth consecutive columns (step), unscaled.
// Weights stream from memory exactly once; x stays in L1. Several weight rows are in flight
// at once so each x vector load serves R rows, and each (x row, weight row) pair keeps A
// partial sums so the FMA latency chains overlap.
//
// Int4 trick: a reader's step masks nibble t of every 32-bit word in place, giving
// u * 2^(4t) with u = q + 8; the activations are prescaled by 2^(-4t) per column once per
// call (prepare_int4), so no shift is needed per element, and the +8 offset is removed once
// per output with the sums of x per group: sum x*q = sum x*u - 8 * sum x. Power-of-two
// scaling is exact, so the products are the same floats as x * u. Three vector ops per 8
// weights (mask, convert, FMA) keep this path compute-bound on AVX2; see gemv_x16.h.
//
// Also the software prefetch and the epilogue that gemv_x16.h shares.
// Internal linkage only, see linear_driver.h.
#pragma once

#include <xmmintrin.h>

#include <cstdint>

#include "kernels/cpu/kernel_entry.h"

namespace tusk::kernels::detail {
namespace {

struct GemvPrep {
  const float* x;  // activations as the vector loop reads them
  int64_t ld_x;
  const float* sums;  // Int4 only: sum of x per (row of x, group), [m][ld_sums]
  int64_t ld_sums;
};

inline GemvPrep raw_activations(const LinearCall& c) { return {c.x, c.ld_x, nullptr, 0}; }

// Int4: x' = x * prescale[(col % 64) / 8] into scratch [m][k], then the group sums (double
// accumulation: they are subtracted from much larger sums) into scratch + m * k.
inline GemvPrep prepare_int4(const LinearCall& c, const float (&prescale)[8]) {
  const int64_t k = c.w.k, group = c.w.group, groups = k / group;
  float* xs = c.scratch;
  float* sums = c.scratch + c.m * k;
  for (int64_t i = 0; i < c.m; ++i) {
    const float* x = c.x + i * c.ld_x;
    float* out = xs + i * k;
    for (int64_t b = 0; b < k; b += 64)
      for (int t = 0; t < 8; ++t)
        for (int j = 0; j < 8; ++j) out[b + 8 * t + j] = x[b + 8 * t + j] * prescale[t];
    for (int64_t g = 0; g < groups; ++g) {
      double part[4] = {};  // independent chains, so this vectorizes
      for (int64_t col = g * group; col < (g + 1) * group; col += 4)
        for (int l = 0; l < 4; ++l) part[l] += x[col + l];
      sums[i * groups + g] = static_cast<float>((part[0] + part[1]) + (part[2] + part[3]));
    }
  }
  return {xs, k, sums, groups};
}

// Software prefetch. A tile's R weight rows are contiguous; read as R interleaved streams of
// a few KB each they are too short for the hardware streamers to ramp up, and the core
// stalls on DRAM latency. Small tiles (<= kLinearTileBytes) therefore prefetch the tile
// `ahead` bytes further on in address order, spread evenly over the current tile's blocks
// (DRAM sees one sequential stream); larger tiles prefetch each row kPrefetchBytes ahead.
constexpr int64_t kPrefetchBytes = 4096;
constexpr int64_t kLinearTileBytes = 8192;

struct PrefetchPlan {
  bool linear;
  int64_t ahead;  // bytes
};

inline PrefetchPlan prefetch_plan(int64_t tile_bytes) {
  if (tile_bytes > kLinearTileBytes) return {false, kPrefetchBytes};
  return {true, (kPrefetchBytes + tile_bytes - 1) / tile_bytes * tile_bytes};
}

// Prefetches the lines of [from, to) (offsets from base), each line once over consecutive calls.
__attribute__((always_inline)) inline void prefetch_span(const uint8_t* base, int64_t from, int64_t to) {
  for (int64_t line = (from + 63) & ~int64_t{63}; line < to; line += 64)
    _mm_prefetch(reinterpret_cast<const char*>(base + line), _MM_HINT_T0);
}

// Called once per block b of a tile whose rows hold `block_bytes` per block. Per-row mode:
// a look-ahead past the row's end continues in the same row slot of the next tile (the next
// row belongs to this tile and is being read already).
template <int R>
__attribute__((always_inline)) inline void prefetch_block(const PrefetchPlan& plan, const uint8_t* const (&rows)[R],
                                                          int64_t b, int64_t block_bytes, int64_t row_bytes) {
  if (plan.linear) {
    prefetch_span(rows[0] + plan.ahead, b * R * block_bytes, (b + 1) * R * block_bytes);
  } else {
    const int64_t from = b * block_bytes + plan.ahead;
    const int64_t skip = from >= row_bytes ? (R - 1) * row_bytes : 0;
#pragma GCC unroll 8
    for (int rr = 0; rr < R; ++rr) prefetch_span(rows[rr] + skip, from, from + block_bytes);
  }
}

// Warms the first look-ahead of a row range, which no earlier tile prefetched.
inline void prefetch_start(const uint8_t* first_row, int64_t range_bytes, int64_t tile_bytes) {
  const PrefetchPlan plan = prefetch_plan(tile_bytes);
  prefetch_span(first_row, 0, plan.ahead < range_bytes ? plan.ahead : range_bytes);
}

// Writes y[i][r0..r0+R) from the tile's dot products v (grouped: already scaled per group).
// The Int4 offset comes off as offset * sum_g scale[r][g] * sum(x over g), a short dot with
// the row's scales, instead of a scalar update inside every group.
template <class Rd, int R, bool kGrouped>
__attribute__((always_inline)) inline void finish_rows(const LinearCall& c, int64_t i, int64_t r0, const float (&v)[R],
                                                       const float* x_sums, int64_t groups, float x_scale) {
#pragma GCC unroll 8
  for (int rr = 0; rr < R; ++rr) {
    const int64_t r = r0 + rr;
    float val = v[rr];
    if constexpr (Rd::kOffset != 0) {
      if constexpr (kGrouped) {
        const float* scales = c.w.scales + r * groups;
        float corr = 0.0f;
        for (int64_t g = 0; g < groups; ++g) corr += scales[g] * x_sums[g];
        val -= Rd::kOffset * corr;
      } else {
        val -= Rd::kOffset * x_sums[0];
      }
    }
    if constexpr (!kGrouped && Rd::kScaled) val *= c.w.scales[r];
    val *= x_scale;
    if (c.bias) val += c.bias[r];
    if (c.relu) val = val > 0.0f ? val : 0.0f;
    c.y[i * c.ld_y + r] = val;
  }
}

// Horizontal sums of R vectors; four at a time share the reduction.
template <class V, int R>
__attribute__((always_inline)) inline void hsum_rows(const typename V::T (&t)[R], float (&v)[R]) {
  if constexpr (R == 4) {
    V::hsum4(t[0], t[1], t[2], t[3], v);
  } else {
#pragma GCC unroll 8
    for (int rr = 0; rr < R; ++rr) v[rr] = V::hsum(t[rr]);
  }
}

// What every tile of a row range shares, computed once per range (divisions included).
struct TileGeometry {
  int64_t k_main;  // columns of the vector loop (F16 leaves a scalar tail)
  int64_t group;   // columns per scale group (k_main when not grouped)
  int64_t groups;  // groups per row
  int64_t blocks_per_group;
  int64_t row_bytes;
  PrefetchPlan plan;
};

template <class Rd, int R, bool kGrouped>
TileGeometry tile_geometry(const PackedWeights& w) {
  TileGeometry g;
  g.k_main = Rd::main_cols(w.k);
  g.group = kGrouped ? w.group : g.k_main;
  g.groups = kGrouped ? w.k / w.group : 1;
  g.blocks_per_group = g.group / Rd::kCols;
  g.row_bytes = Rd::row_bytes(w.k);
  g.plan = prefetch_plan(R * g.row_bytes);
  return g;
}

// y[0..M)[r0..r0+R) for one tile of R weight rows. Forced inline into the row loop so the
// constants (masks, pointers) stay hoisted across tiles.
template <class V, class Rd, int M, int R, int A, bool kGrouped>
__attribute__((always_inline)) inline void gemv_tile(const LinearCall& c, const GemvPrep& p,
                                                     const TileGeometry& geo, int64_t r0) {
  using T = typename V::T;
  const uint8_t* rows[R];
#pragma GCC unroll 8
  for (int rr = 0; rr < R; ++rr) rows[rr] = static_cast<const uint8_t*>(c.w.data) + (r0 + rr) * geo.row_bytes;

  T acc[M][R];  // grouped: sum over groups of scale * partial
  T part[M][R][A];
  if constexpr (kGrouped) {
#pragma GCC unroll 4
    for (int i = 0; i < M; ++i)
#pragma GCC unroll 4
      for (int rr = 0; rr < R; ++rr) acc[i][rr] = V::zero();
  }
  for (int64_t g = 0; g < geo.groups; ++g) {
#pragma GCC unroll 4
    for (int i = 0; i < M; ++i)
#pragma GCC unroll 4
      for (int rr = 0; rr < R; ++rr)
#pragma GCC unroll 2
        for (int a = 0; a < A; ++a) part[i][rr][a] = V::zero();
    const int64_t b_end = (g + 1) * geo.blocks_per_group;
    for (int64_t b = g * geo.blocks_per_group; b < b_end; ++b) {
      prefetch_block<R>(geo.plan, rows, b, Rd::kBlockBytes, geo.row_bytes);
      typename Rd::State st[R];
#pragma GCC unroll 4
      for (int rr = 0; rr < R; ++rr) st[rr] = Rd::load(rows[rr], b);
      const float* xb = p.x + b * Rd::kCols;
#pragma GCC unroll 8
      for (int s = 0; s < Rd::kSteps; ++s) {
        T xv[M];
#pragma GCC unroll 4
        for (int i = 0; i < M; ++i) xv[i] = V::load(xb + i * p.ld_x + s * V::kWidth);
#pragma GCC unroll 4
        for (int rr = 0; rr < R; ++rr) {
          const T wv = Rd::step(st[rr], s);
#pragma GCC unroll 4
          for (int i = 0; i < M; ++i) part[i][rr][s % A] = V::fma(xv[i], wv, part[i][rr][s % A]);
        }
      }
    }
    if constexpr (kGrouped) {
#pragma GCC unroll 4
      for (int rr = 0; rr < R; ++rr) {
        const T scale = V::set1(c.w.scales[(r0 + rr) * geo.groups + g]);
#pragma GCC unroll 4
        for (int i = 0; i < M; ++i) {
          T sum = part[i][rr][0];
#pragma GCC unroll 8
          for (int a = 1; a < A; ++a) sum = V::add(sum, part[i][rr][a]);
          acc[i][rr] = V::fma(sum, scale, acc[i][rr]);
        }
      }
    }
  }
#pragma GCC unroll 8
  for (int i = 0; i < M; ++i) {
    T t[R];
#pragma GCC unroll 8
    for (int rr = 0; rr < R; ++rr) {
      if constexpr (kGrouped) {
        t[rr] = acc[i][rr];
      } else {
        t[rr] = part[i][rr][0];
#pragma GCC unroll 8
        for (int a = 1; a < A; ++a) t[rr] = V::add(t[rr], part[i][rr][a]);
      }
    }
    float v[R];
    hsum_rows<V, R>(t, v);
    if (geo.k_main < c.w.k)  // F16 only: unscaled scalar tail
#pragma GCC unroll 8
      for (int rr = 0; rr < R; ++rr) v[rr] += Rd::tail(rows[rr], c.x + i * c.ld_x, geo.k_main, c.w.k);
    finish_rows<Rd, R, kGrouped>(c, i, r0, v, p.sums ? p.sums + i * p.ld_sums : nullptr, geo.groups, 1.0f);
  }
}

// Row blockings: enough independent FMA chains (R * M * A >= 8) within 16 vector registers.
template <class V, class Rd, int M, bool kGrouped>
void gemv_range(const LinearCall& c, const GemvPrep& p, int64_t r0, int64_t r1) {
  constexpr int R = M <= 2 ? 4 : 2;
  constexpr int A = M == 1 ? 2 : 1;
  const TileGeometry geo = tile_geometry<Rd, R, kGrouped>(c.w);
  const TileGeometry geo1 = tile_geometry<Rd, 1, kGrouped>(c.w);
  prefetch_start(static_cast<const uint8_t*>(c.w.data) + r0 * geo.row_bytes, (r1 - r0) * geo.row_bytes,
                 R * geo.row_bytes);
  int64_t r = r0;
  for (; r + R <= r1; r += R) gemv_tile<V, Rd, M, R, A, kGrouped>(c, p, geo, r);
  for (; r < r1; ++r) gemv_tile<V, Rd, M, 1, 2, kGrouped>(c, p, geo1, r);
}

template <class V, class Rd, bool kGrouped>
void gemv_rows_grouped(const LinearCall& c, const GemvPrep& p, int64_t r0, int64_t r1) {
  switch (c.m) {
    case 1: return gemv_range<V, Rd, 1, kGrouped>(c, p, r0, r1);
    case 2: return gemv_range<V, Rd, 2, kGrouped>(c, p, r0, r1);
    case 3: return gemv_range<V, Rd, 3, kGrouped>(c, p, r0, r1);
    default: return gemv_range<V, Rd, 4, kGrouped>(c, p, r0, r1);
  }
}

template <class V, class Rd>
void gemv_rows(const LinearCall& c, const GemvPrep& p, int64_t r0, int64_t r1) {
  if constexpr (Rd::kScaled) {
    if (c.w.group != c.w.k) return gemv_rows_grouped<V, Rd, true>(c, p, r0, r1);
  }
  gemv_rows_grouped<V, Rd, false>(c, p, r0, r1);
}

}  // namespace
}  // namespace tusk::kernels::detail
