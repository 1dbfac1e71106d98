// The VNNI GEMMs of gemm_int8_vnni.h and gemm_int4_vnni.h for 2 .. 8 rows of x, with a
// vector's 16 lanes shared out as R rows of x times S = 16 / R consecutive weight words.
//
// Why: the 16-row tiles keep one row of x in each lane, so below 16 rows lanes idle, and up
// to 8 rows the int16 GEMV tiles take over, at ~60 GMAC/s on rows of 256 columns against
// the tiles' ~97 (bench_gemm). Batched decoding lives at those sizes: a batch drains to a few
// rows as its sentences end, and an expert of a sparse layer sees 2 .. 5 rows a step.
//
// Layout. R = m rounded up to a power of two, S = 16 / R. Lane r * S + s of activation vector
// v holds row r's quad v * S + s: each vector is, row after row, 4 * S consecutive bytes of
// each row (in the Int4 kernel's quad order for Int4, quantize_64). A weight row's S words
// from word v * S are broadcast to every group of S lanes (vpbroadcastq, vbroadcasti32x4,
// ...), so one vpdpbusd still does 64 multiply-adds, as in the 16-row tiles.
//
// Exactness: a lane sums part of a row's panel; at the end of each 256-column panel the S
// lanes of a row are added in int32 (exact, wrapping arithmetic: the total is within
// int32 as in the 16-row tiles), so every row's panel sum is the 16-row tiles' integer, and
// the rest (scales, panels summed in float, x's scale, bias, ReLU) is their finish: the
// results are those of a 16-row tile, bit for bit (where it applies, a row's result does not
// depend on how many rows share the call).
//
// Written for m = 2 .. 8, k % 64 == 0 and groups of whole panels; used where it wins (below).
// Include only from the VNNI TU; internal linkage.
#pragma once

#include "kernels/cpu/gemm_int4_vnni.h"
#include "kernels/cpu/gemm_int8_vnni.h"

#include <cstring>

namespace tusk::kernels::detail {
namespace {

constexpr int64_t kGroupedMaxRows = 8;
// Where it is faster than the GEMV tiles (bench_gemm, this model's shapes): rows of one
// panel (k <= 256; at k = 1024 the GEMV tiles already run at ~85 GMAC/s and lane groups gain
// nothing), Int4 from 2 rows, Int8 from 6 (the GEMV tiles cost ~4.4 us a row of x on the
// 1024x256 dense layer, a group of 8 lanes ~25.5 us at any m up to 8: the per-tile work, the
// weight sums of panel_seeds and a row's lanes added, is paid whatever the rows).
constexpr int64_t kGroupedMaxK = kX16GemmPanelCols;
constexpr int64_t kInt8GroupedMinRows = 6;
constexpr int64_t kInt4GroupedMinRows = 2;
static_assert(kInt8GroupedMinRows > 4, "Int8 runs lane groups of 2 words only");

inline bool vnni_grouped_shape(const LinearCall& c) {
  return c.x16 && c.m <= kGroupedMaxRows && c.w.k % 64 == 0 && c.w.k <= kGroupedMaxK &&
         (c.w.group == c.w.k || c.w.group % kX16GemmPanelCols == 0);
}
inline bool int8_vnni_grouped_applies(const LinearCall& c) {
  return c.w.type == WeightType::Int8 && c.m >= kInt8GroupedMinRows && vnni_grouped_shape(c);
}
inline bool int4_vnni_grouped_applies(const LinearCall& c) {
  return c.w.type == WeightType::Int4 && c.m >= kInt4GroupedMinRows && vnni_grouped_shape(c);
}

// Words per lane group: 16 / R, R = m (2 .. 8) rounded up to a power of two.
inline int lane_group_words(int64_t m) { return m <= 2 ? 8 : m <= 4 ? 4 : 2; }

// Words w[0 .. S) repeated across the vector (lane L: word L % S).
template <int S>
__attribute__((always_inline)) inline __m512i broadcast_words(const int32_t* w) {
  static_assert(S == 2 || S == 4 || S == 8, "lane groups of 2, 4 or 8 words");
  if constexpr (S == 2) {
    long long pair;
    std::memcpy(&pair, w, sizeof pair);
    return _mm512_set1_epi64(pair);
  }
  if constexpr (S == 4) return _mm512_broadcast_i32x4(_mm_loadu_si128(reinterpret_cast<const __m128i*>(w)));
  if constexpr (S == 8) return _mm512_broadcast_i64x4(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(w)));
}

// Lane r (r < 16 / S) = the int32 sum of lanes r * S .. r * S + S - 1 of v.
template <int S>
__attribute__((always_inline)) inline __m512i sum_lane_groups(__m512i v) {
  if constexpr (S >= 2) v = _mm512_add_epi32(v, _mm512_shuffle_epi32(v, _MM_PERM_CDAB));  // neighbours
  if constexpr (S >= 4) v = _mm512_add_epi32(v, _mm512_shuffle_epi32(v, _MM_PERM_BADC));  // pairs
  if constexpr (S >= 8) v = _mm512_add_epi32(v, _mm512_shuffle_i32x4(v, v, 0xB1));        // 128-bit lanes
  const __m512i first = _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                                           _mm512_set1_epi32(S));
  return _mm512_permutexvar_epi32(first, v);  // every lane of a group holds its sum: take the first
}

// Fetches the next tile's bytes [from, from + bytes) of its stretch while this tile runs.
__attribute__((always_inline)) inline void prefetch_span(const char* next, int64_t from, int64_t bytes) {
  if (!next) return;
  for (int64_t b = 0; b < bytes; b += 64) _mm_prefetch(next + from + b, _MM_HINT_T1);
}

// Thread t of count's share of quantizing x (rows 0 .. m - 1) into the grouped layout: a range
// of 64-column steps, every row (thread 0 writes the scales); the lanes of rows m .. R - 1
// are zeros.
template <bool kInt4>
void quantize_grouped(const LinearCall& c, const Int8Activations& act, int S, bool split, int t, int count) {
  const int64_t k = c.w.k, steps = k / 64, col0 = steps * t / count * 64, col1 = steps * (t + 1) / count * 64;
  const int rows = static_cast<int>(c.m), groups = 16 / S, bytes = 4 * S;
  const float limit = split ? 32767.0f : 127.0f;
  __m512 inv[kGroupedMaxRows];
  for (int r = 0; r < rows; ++r)
    inv[r] = row_inverse_step(c.x + r * c.ld_x, k, limit, t == 0 ? act.scale + r : nullptr);
  auto* h_out = reinterpret_cast<uint8_t*>(act.h(0));
  auto* l_out = reinterpret_cast<uint8_t*>(act.l(0));
  for (int64_t col = col0; col < col1; col += 64) {
    alignas(64) int32_t sums[16] = {};
    for (int r = 0; r < groups; ++r) {
      alignas(64) uint8_t h_row[64], l_row[64];
      __m512i h = _mm512_setzero_si512(), l = _mm512_setzero_si512();
      if (r < rows) quantize_64<kInt4>(c.x + r * c.ld_x + col, inv[r], split, h, l, sums[r]);
      _mm512_store_si512(h_row, h);
      _mm512_store_si512(l_row, l);
      // Bytes [col + j * bytes, +bytes) of the row are vector (col + j * bytes) / bytes's group r.
      for (int j = 0; j < 64 / bytes; ++j) {
        const int64_t at = (col / bytes + j) * 64 + r * bytes;
        std::memcpy(h_out + at, h_row + j * bytes, static_cast<size_t>(bytes));
        if (split) std::memcpy(l_out + at, l_row + j * bytes, static_cast<size_t>(bytes));
      }
    }
    if constexpr (kInt4) _mm512_store_si512(act.xsum(0) + col / 64, _mm512_load_si512(sums));
  }
}

// y[i][r0 + j] for rows i < rows of x and the tile's rows j < nr, as int8_tile computes them;
// seed: panel_seeds of the tile (added once a row, after its lanes are summed).
template <int S, bool kSplit>
void int8_grouped_tile(const VnniTile& t, const int32_t* seed, const __m512i* h, const __m512i* l,
                       const float* x_scale, int rows, float* y, int64_t ld_y, const char* prefetch) {
  __m512 f[kInt8TileRows];
  for (int64_t p = 0; p < t.panels; ++p) {
    const int64_t q0 = p * (kX16GemmPanelCols / 4), q1 = min64(q0 + kX16GemmPanelCols / 4, t.k / 4);
    __m512i hacc[kInt8TileRows], lacc[kInt8TileRows];
#pragma GCC unroll 8
    for (int j = 0; j < kInt8TileRows; ++j) hacc[j] = lacc[j] = _mm512_setzero_si512();
    for (int64_t q = q0; q < q1; q += S) {
      prefetch_span(prefetch, 32 * q, 32 * S);  // the next tile: 8 rows, 32 bytes a quad
      const __m512i hq = _mm512_load_si512(h + q / S);
      const __m512i lq = kSplit ? _mm512_load_si512(l + q / S) : hq;
#pragma GCC unroll 8
      for (int j = 0; j < kInt8TileRows; ++j) {
        const __m512i w = broadcast_words<S>(t.w[j] + q);
        dpbusd(hacc[j], hq, w);
        if constexpr (kSplit) dpbusd(lacc[j], lq, w);
      }
    }
    const int64_t group = (p * kX16GemmPanelCols) / t.group;
#pragma GCC unroll 8
    for (int j = 0; j < kInt8TileRows; ++j) {
      __m512i sum = hacc[j];
      if constexpr (kSplit) sum = _mm512_add_epi32(_mm512_slli_epi32(sum, 8), lacc[j]);
      const int32_t s = seed[j * t.panels + p];  // |s| < 2^22: times 256 within int32
      sum = _mm512_add_epi32(sum_lane_groups<S>(sum), _mm512_set1_epi32(kSplit ? s * 256 : s));
      const __m512 v = rounded(_mm512_mul_ps(_mm512_cvtepi32_ps(sum), _mm512_set1_ps(t.scales[j][group])));
      f[j] = p == 0 ? v : _mm512_add_ps(v, f[j]);
    }
  }
  finish_tile(f, t.nr, t.bias, t.relu, x_scale, rows, y, ld_y);
}

// As int4_tile, S words of each weight row at a time (S <= 8: within one 64-column block).
template <int S>
void int4_grouped_tile(const VnniTile& t, const __m512i* h, const __m512i* l, const __m512i* xsum,
                       const float* x_scale, int rows, float* y, int64_t ld_y, const char* prefetch) {
  static_assert(S <= 8, "a lane group's words must stay in one 64-column block");
  const __m512i nibbles = _mm512_set1_epi8(0x0F);
  const int64_t blocks = t.k / 64;
  __m512 f[kInt8TileRows];
  for (int64_t p = 0; p < t.panels; ++p) {
    const int64_t b0 = p * (kX16GemmPanelCols / 64), b1 = min64(b0 + kX16GemmPanelCols / 64, blocks);
    __m512i hacc[kInt8TileRows], lacc[kInt8TileRows];
#pragma GCC unroll 8
    for (int r = 0; r < kInt8TileRows; ++r) hacc[r] = lacc[r] = _mm512_setzero_si512();
    __m512i x_sum = _mm512_setzero_si512();
    for (int64_t b = b0; b < b1; ++b) {
      x_sum = _mm512_add_epi32(x_sum, _mm512_load_si512(xsum + b));
      for (int j = 0; j < 8; j += S) {
        const int64_t word = 8 * b + j;
        prefetch_span(prefetch, 32 * word, 32 * S);
        const int64_t lo = (16 * b + j) / S, hi = (16 * b + 8 + j) / S;  // quads of the low / high nibbles
        const __m512i h_lo = _mm512_load_si512(h + lo), h_hi = _mm512_load_si512(h + hi);
        const __m512i l_lo = _mm512_load_si512(l + lo), l_hi = _mm512_load_si512(l + hi);
#pragma GCC unroll 8
        for (int r = 0; r < kInt8TileRows; ++r) {
          const __m512i w = broadcast_words<S>(t.w[r] + word);
          const __m512i u_lo = _mm512_and_si512(w, nibbles), u_hi = _mm512_and_si512(_mm512_srli_epi32(w, 4), nibbles);
          dpbusd(hacc[r], u_lo, h_lo);
          dpbusd(lacc[r], l_lo, u_lo);
          dpbusd(hacc[r], u_hi, h_hi);
          dpbusd(lacc[r], l_hi, u_hi);
        }
      }
    }
    const __m512i offset = _mm512_slli_epi32(x_sum, 3);  // 8 sum x, one lane a row
    const int64_t group = (p * kX16GemmPanelCols) / t.group;
#pragma GCC unroll 8
    for (int r = 0; r < kInt8TileRows; ++r) {
      const __m512i lanes = _mm512_add_epi32(_mm512_slli_epi32(hacc[r], 8), lacc[r]);
      const __m512i sum = _mm512_sub_epi32(sum_lane_groups<S>(lanes), offset);
      const __m512 v = rounded(_mm512_mul_ps(_mm512_cvtepi32_ps(sum), _mm512_set1_ps(t.scales[r][group])));
      f[r] = p == 0 ? v : _mm512_add_ps(v, f[r]);
    }
  }
  finish_tile(f, t.nr, t.bias, t.relu, x_scale, rows, y, ld_y);
}

template <int S>
void gemm_int8_grouped(const LinearCall& c) {
  const bool split = !c.x8;
  const Int8Activations act = int8_activations(c);
  run_vnni_gemm(
      c, c.w.k, [&](int t, int count) { quantize_grouped<false>(c, act, S, split, t, count); },
      [&](const VnniTile& t, int64_t r0, int64_t, int64_t, const char* next) {
        alignas(64) int32_t seed[kInt8TileRows * kInt8MaxPanels];
        panel_seeds(t, seed);
        const int rows = static_cast<int>(c.m);
        float* y = c.y + r0;
        split ? int8_grouped_tile<S, true>(t, seed, act.h(0), act.l(0), act.scale, rows, y, c.ld_y, next)
              : int8_grouped_tile<S, false>(t, seed, act.h(0), act.l(0), act.scale, rows, y, c.ld_y, next);
      });
}

template <int S>
void gemm_int4_grouped(const LinearCall& c) {
  const Int8Activations act = int8_activations(c);
  run_vnni_gemm(
      c, c.w.k / 2, [&](int t, int count) { quantize_grouped<true>(c, act, S, /*split=*/true, t, count); },
      [&](const VnniTile& t, int64_t r0, int64_t, int64_t, const char* next) {
        int4_grouped_tile<S>(t, act.h(0), act.l(0), act.xsum(0), act.scale, static_cast<int>(c.m), c.y + r0,
                             c.ld_y, next);
      });
}

// The whole call (int8_vnni_grouped_applies: 6 .. 8 rows, lane groups of 2 words).
inline void gemm_int8_vnni_grouped(const LinearCall& c) { gemm_int8_grouped<2>(c); }

// The whole call (int4_vnni_grouped_applies).
inline void gemm_int4_vnni_grouped(const LinearCall& c) {
  switch (lane_group_words(c.m)) {
    case 8: return gemm_int4_grouped<8>(c);
    case 4: return gemm_int4_grouped<4>(c);
    default: return gemm_int4_grouped<2>(c);
  }
}

}  // namespace
}  // namespace tusk::kernels::detail
