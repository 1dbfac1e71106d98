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
// call (prepare_int4), so no shift is needed per element, and the +8 offset is removed per
// group with the sum of x over the group: sum x*q = sum x*u - 8 * sum x. Power-of-two
// scaling is exact, so the products are the same floats as x * u.
//
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

// Software prefetch look-ahead. Weight rows of a few KB are too short for the hardware
// streamers to ramp up, so each row stream prefetches `distance` bytes ahead of itself: a
// whole number of tiles when tiles are small (the lines then belong to the same row of a
// later tile, which covers every line once), else kPrefetchBytes along the row.
#ifndef TUSK_PREFETCH_BYTES
#define TUSK_PREFETCH_BYTES 4096
#endif
constexpr int64_t kPrefetchBytes = TUSK_PREFETCH_BYTES;
inline int64_t prefetch_distance(int64_t tile_bytes) {
  if (tile_bytes > 4 * kPrefetchBytes) return kPrefetchBytes;
  return (kPrefetchBytes + tile_bytes - 1) / tile_bytes * tile_bytes;
}

// y[0..M)[r0..r0+R) for one tile of R weight rows. Forced inline into the row loop so the
// constants (masks, pointers) stay hoisted across tiles.
template <class V, class Rd, int M, int R, int A, bool kGrouped>
__attribute__((always_inline)) inline void gemv_tile(const LinearCall& c, const GemvPrep& p, int64_t r0) {
  using T = typename V::T;
  const PackedWeights& w = c.w;
  const int64_t k = w.k;
  const int64_t k_main = Rd::main_cols(k);  // F16 leaves a scalar tail
  const int64_t group = kGrouped ? w.group : k_main;
  const int64_t groups = kGrouped ? k / w.group : 1;
  const int64_t blocks = group / Rd::kCols;
  const int64_t row_bytes = Rd::row_bytes(k);
  const int64_t ahead = prefetch_distance(R * row_bytes);
  const uint8_t* rows[R];
  for (int rr = 0; rr < R; ++rr) rows[rr] = static_cast<const uint8_t*>(w.data) + (r0 + rr) * row_bytes;

  T acc[M][R];     // grouped: sum over groups of scale * partial
  float corr[M][R];  // grouped Int4: sum over groups of scale * sum(x)
  T part[M][R][A];
  if constexpr (kGrouped) {
#pragma GCC unroll 4
    for (int i = 0; i < M; ++i)
#pragma GCC unroll 4
      for (int rr = 0; rr < R; ++rr) {
        acc[i][rr] = V::zero();
        corr[i][rr] = 0.0f;
      }
  }

  for (int64_t g = 0; g < groups; ++g) {
#pragma GCC unroll 4
    for (int i = 0; i < M; ++i)
#pragma GCC unroll 4
      for (int rr = 0; rr < R; ++rr)
#pragma GCC unroll 2
        for (int a = 0; a < A; ++a) part[i][rr][a] = V::zero();
    for (int64_t b = g * blocks; b < (g + 1) * blocks; ++b) {
      if ((b * Rd::kBlockBytes) % 64 == 0) {
#pragma GCC unroll 4
        for (int rr = 0; rr < R; ++rr)
          for (int l = 0; l < (Rd::kBlockBytes + 63) / 64; ++l)
            _mm_prefetch(reinterpret_cast<const char*>(rows[rr] + b * Rd::kBlockBytes + ahead + 64 * l),
                         _MM_HINT_T0);
      }
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
        const float scale = w.scales[(r0 + rr) * groups + g];
#pragma GCC unroll 4
        for (int i = 0; i < M; ++i) {
          T sum = part[i][rr][0];
          for (int a = 1; a < A; ++a) sum = V::add(sum, part[i][rr][a]);
          acc[i][rr] = V::fma(sum, V::set1(scale), acc[i][rr]);
          if constexpr (Rd::kOffset != 0) corr[i][rr] += scale * p.sums[i * p.ld_sums + g];
        }
      }
    }
  }

  for (int rr = 0; rr < R; ++rr) {
    const int64_t r = r0 + rr;
    for (int i = 0; i < M; ++i) {
      float v;
      if constexpr (kGrouped) {
        v = V::hsum(acc[i][rr]) - Rd::kOffset * corr[i][rr];
      } else {
        T sum = part[i][rr][0];
        for (int a = 1; a < A; ++a) sum = V::add(sum, part[i][rr][a]);
        v = V::hsum(sum);
        if constexpr (Rd::kOffset != 0) v -= Rd::kOffset * p.sums[i * p.ld_sums];
        if constexpr (Rd::kScaled) v *= w.scales[r];
      }
      if (k_main < k) v += Rd::tail(rows[rr], c.x + i * c.ld_x, k_main, k);
      if (c.bias) v += c.bias[r];
      if (c.relu) v = v > 0.0f ? v : 0.0f;
      c.y[i * c.ld_y + r] = v;
    }
  }
}

// Row blockings: enough independent FMA chains (R * M * A >= 8) within 16 vector registers.
template <class V, class Rd, int M, bool kGrouped>
void gemv_range(const LinearCall& c, const GemvPrep& p, int64_t r0, int64_t r1) {
  constexpr int R = M <= 2 ? 4 : 2;
  constexpr int A = M == 1 ? 2 : 1;
  int64_t r = r0;
  for (; r + R <= r1; r += R) gemv_tile<V, Rd, M, R, A, kGrouped>(c, p, r);
  for (; r < r1; ++r) gemv_tile<V, Rd, M, 1, 2, kGrouped>(c, p, r);
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
