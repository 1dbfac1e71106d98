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
// Sums: with groups of 2 words each weight row's lane pairs are added (sum_lane_pairs); with
// 4 or 8, the 8 weight rows' lanes together in one shuffle network (sums_by_row_of_x), whose
// result holds two rows of x a vector for the finish. Exactness: a lane sums part of a row's
// panel; the lanes of a row are added in int32 (exact, wrapping arithmetic: the total is
// within int32 as in the 16-row tiles), so every row's sum is the 16-row tiles' integer, and
// the rest (scale, x's scale, bias, ReLU) is their finish: the results are those of a 16-row
// tile, bit for bit (where it applies, a row's result does not depend on how many rows share
// the call).
//
// The rows past a call's last whole block of 16 run as calls of their own, here or on the
// GEMV tiles (vnni_tiled_rows), so a 10-row batch no longer costs a 16-row one.
//
// Written for m = 2 .. 8 and one panel (k <= 256, k % 64 == 0), and for Int8 any number of
// panels (each panel's sums made whole and scaled, then added over the panels in the
// 16-row tiles' order); used where it wins (below).
// Include only from the VNNI TU; internal linkage.
#pragma once

#include "kernels/cpu/gemm_int4_vnni.h"
#include "kernels/cpu/gemm_int8_vnni.h"

#include <cstring>

namespace tusk::kernels::detail {
namespace {

constexpr int64_t kGroupedMaxRows = 8;
// Where it is faster than the GEMV tiles (bench_gemm, this model's shapes, one thread): rows
// of one panel (k <= 256; at k = 1024 on a matrix in cache the GEMV tiles already run at ~85
// GMAC/s and lane groups gain nothing); Int4 from 2 rows; Int8 where few lanes idle: the GEMV tiles cost
// ~35 us a row of x on the 8000x256 output projection, groups of 4 rows 120 us and of 8 rows
// 201 us whatever the rows in them, so 4 rows and 6 .. 8 rows.
constexpr int64_t kGroupedMaxK = kX16GemmPanelCols;
constexpr int64_t kInt4GroupedMinRows = 2;
inline bool int8_grouped_rows(int64_t m) { return m == 4 || m >= 6; }
// Int8 rows of several panels (k > 256): from 4 rows, on matrices of 1 MiB or more. A
// matrix in cache runs as fast or faster on the GEMV tiles (bench_gemm, 1024x1024 at 4 .. 5
// rows: 47-49 us against 56 in lane groups), but a large model's decode streams every matrix
// from memory, and there the GEMV tiles read a matrix once per 4 rows at ~14 GB/s where lane
// groups read it once for up to 8 (an NLLB-600M-shaped int8 model, one thread, 30 tokens:
// beam 4 1.25x, batch 8 1.2x, batch 5 1.05x, batch 2 no gain; bench/README.md). The size
// stands for "not in cache": a matrix that large is not read again soon after.
constexpr int64_t kPanelsMinRows = 4;
constexpr int64_t kPanelsMinBytes = int64_t{1} << 20;

// Rows lane groups can take: whole 64-column steps, at most the tiles' panels, each panel in
// one scale group; one_panel_shape: of one panel.
inline bool panels_shape(const PackedWeights& w) {
  return w.k % 64 == 0 && w.k <= kInt8MaxPanels * kX16GemmPanelCols &&
         (w.group == w.k || w.group % kX16GemmPanelCols == 0);
}
inline bool one_panel_shape(const PackedWeights& w) { return panels_shape(w) && w.k <= kGroupedMaxK; }
inline bool vnni_grouped_shape(const LinearCall& c) {
  return c.x16 && c.m <= kGroupedMaxRows && one_panel_shape(c.w);
}
inline bool int8_vnni_grouped_applies(const LinearCall& c) {
  if (c.w.type != WeightType::Int8 || !c.x16 || c.m > kGroupedMaxRows) return false;
  if (one_panel_shape(c.w)) return int8_grouped_rows(c.m);
  return panels_shape(c.w) && c.m >= kPanelsMinRows && c.w.n * c.w.k >= kPanelsMinBytes;
}
inline bool int4_vnni_grouped_applies(const LinearCall& c) {
  return c.w.type == WeightType::Int4 && c.m >= kInt4GroupedMinRows && vnni_grouped_shape(c);
}

// Of a VNNI GEMM call's m > 8 rows of x, how many the 16-row tiles take: rows past the last
// whole block of 16 cost a whole block there, so up to 11 of them run as calls of at most 8
// rows instead (lane groups, or the GEMV tiles below their thresholds). Measured on this
// model's 8000x256 output projection (bench_gemm): 8 rows 201 us, 3 rows ~105 us, a row ~35
// us, a block of 16 330 us, so 8 + 2 rows cost less than a block, 8 + 3 about the same.
// Only for one panel (k <= 256, k % 64 == 0): elsewhere the rest would fall to the GEMV tiles,
// slower than the int16 GEMM there (k = 224: 10 rows 40.6 us against 33.6 for 12), and on a
// large matrix of several panels (where Int8 lane groups apply) a call of its own would read
// the matrix again, which the tiles read once for all their blocks.
inline int64_t vnni_tiled_rows(const LinearCall& c) {
  const int64_t rest = c.m % kInt8TileXRows;
  const bool typed = c.w.type == WeightType::Int8 || c.w.type == WeightType::Int4;
  if (!typed || !one_panel_shape(c.w) || rest == 0 || rest > kGroupedMaxRows + 3) return c.m;
  return c.m - rest;
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

// Lane r (r < 8) = the int32 sum of lanes 2r and 2r + 1 of v (lane groups of 2 words).
__attribute__((always_inline)) inline __m512i sum_lane_pairs(__m512i v) {
  v = _mm512_add_epi32(v, _mm512_shuffle_epi32(v, _MM_PERM_CDAB));  // each lane plus its neighbour
  return _mm512_permutexvar_epi32(_mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 0, 0, 0, 0, 0, 0, 0, 0), v);
}

// [a0 + a1, a2 + a3, b0 + b1, b2 + b3] in each 128-bit lane (int32).
__attribute__((always_inline)) inline __m512i pair_sums(__m512i a, __m512i b) {
  const __m512 fa = _mm512_castsi512_ps(a), fb = _mm512_castsi512_ps(b);
  const __m512i even = _mm512_castps_si512(_mm512_shuffle_ps(fa, fb, _MM_SHUFFLE(2, 0, 2, 0)));
  const __m512i odd = _mm512_castps_si512(_mm512_shuffle_ps(fa, fb, _MM_SHUFFLE(3, 1, 3, 1)));
  return _mm512_add_epi32(even, odd);
}

// For lane groups of S = 4 or 8 words (R = 16 / S rows of x): the 8 weight rows' lane sums
// (acc[j]), all added in one network instead of row by row, as out[v] (v < R / 2) with lane
// 8 i + j = row 2v + i of x, weight row j. The per-row sums took as long as the products at
// 2 .. 4 rows of x; this is ~20 instructions for the whole tile.
template <int S>
__attribute__((always_inline)) inline void sums_by_row_of_x(const __m512i (&acc)[kInt8TileRows],
                                                            __m512i (&out)[16 / S / 2]) {
  static_assert(S == 4 || S == 8, "joint sums for lane groups of 4 or 8 words");
  // Per 128-bit lane (S words of a row of x, or half of them): rows 0-3 of the tile, 4-7.
  const __m512i c0 = pair_sums(pair_sums(acc[0], acc[1]), pair_sums(acc[2], acc[3]));
  const __m512i c1 = pair_sums(pair_sums(acc[4], acc[5]), pair_sums(acc[6], acc[7]));
  if constexpr (S == 4) {  // 128-bit lane q of c: row q of x
    out[0] = _mm512_permutex2var_epi32(c0, _mm512_setr_epi32(0, 1, 2, 3, 16, 17, 18, 19, 4, 5, 6, 7, 20, 21, 22, 23), c1);
    out[1] = _mm512_permutex2var_epi32(c0, _mm512_setr_epi32(8, 9, 10, 11, 24, 25, 26, 27, 12, 13, 14, 15, 28, 29, 30, 31), c1);
  } else {  // 128-bit lanes 2i, 2i + 1 of c: halves of row i of x
    const __m512i d = _mm512_add_epi32(_mm512_shuffle_i32x4(c0, c1, _MM_SHUFFLE(2, 0, 2, 0)),
                                       _mm512_shuffle_i32x4(c0, c1, _MM_SHUFFLE(3, 1, 3, 1)));
    out[0] = _mm512_shuffle_i32x4(d, d, _MM_SHUFFLE(3, 1, 2, 0));  // x0 rows 0-3, 4-7, x1 0-3, 4-7
  }
}

// Lanes 8 i + j of vector v take row 2v + i of x's value of `per_row` (lane r: row r).
__attribute__((always_inline)) inline __m512 per_row_of_x(__m512 per_row, int v) {
  const __m512i lane = _mm512_setr_epi32(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1);
  return _mm512_permutexvar_ps(_mm512_add_epi32(lane, _mm512_set1_epi32(2 * v)), per_row);
}

// A panel's float products from sums_by_row_of_x: (sum - offset) * scale_j (rounded), as
// int8_tile and int4_tile compute a panel's (scales: the 8 weight rows' of this panel's
// group, repeated twice).
__attribute__((always_inline)) inline __m512 panel_by_row_of_x(__m512i sum, __m512i offset, __m512 scales) {
  return rounded(_mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_sub_epi32(sum, offset)), scales));
}

// The 8 weight rows' scales of scale group `group`, repeated twice (lane 8 i + j: row j's).
__attribute__((always_inline)) inline __m512 scales_by_row_of_x(const VnniTile& t, int64_t group) {
  alignas(32) float scale[kInt8TileRows];
  for (int j = 0; j < kInt8TileRows; ++j) scale[j] = t.scales[j][group];
  return _mm512_broadcast_f32x8(_mm256_load_ps(scale));
}

// y[i][r0 + j] from the tile's products summed over its panels, f as sums_by_row_of_x lays
// them out: times x's scale (rounded), plus bias, ReLU: finish_tile's operations in its order,
// bit for bit.
template <int NV>
__attribute__((always_inline)) inline void finish_floats_by_row_of_x(const __m512 (&f)[NV], const VnniTile& t,
                                                                     const float* x_scale, int rows, float* y,
                                                                     int64_t ld_y) {
  alignas(32) float bias[kInt8TileRows] = {};
  for (int j = 0; j < kInt8TileRows; ++j)
    if (t.bias && j < t.nr) bias[j] = t.bias[j];
  const __m512 biases = _mm512_broadcast_f32x8(_mm256_load_ps(bias));
  const __m512 xs = _mm512_maskz_loadu_ps(static_cast<__mmask16>((1u << rows) - 1), x_scale);
  const __mmask8 cols = static_cast<__mmask8>((1u << t.nr) - 1);
  for (int v = 0; v < NV; ++v) {
    __m512 out = rounded(_mm512_mul_ps(f[v], per_row_of_x(xs, v)));
    if (t.bias) out = _mm512_add_ps(out, biases);
    if (t.relu) out = _mm512_max_ps(out, _mm512_setzero_ps());
    for (int i = 0; i < 2 && 2 * v + i < rows; ++i)
      _mm256_mask_storeu_ps(y + (2 * v + i) * ld_y, cols,
                            i == 0 ? _mm512_castps512_ps256(out) : _mm512_extractf32x8_ps(out, 1));
  }
}

// The tile's results from sums_by_row_of_x for one panel (k <= 256): panel_by_row_of_x, then
// finish_floats_by_row_of_x. offset: subtracted from the sums first (per lane).
template <int NV>
__attribute__((always_inline)) inline void finish_by_row_of_x(const __m512i (&sums)[NV], const __m512i* offset,
                                                              const VnniTile& t, const float* x_scale, int rows,
                                                              float* y, int64_t ld_y) {
  const __m512 scales = scales_by_row_of_x(t, 0);
  __m512 f[NV];
  for (int v = 0; v < NV; ++v) f[v] = panel_by_row_of_x(sums[v], offset[v], scales);
  finish_floats_by_row_of_x(f, t, x_scale, rows, y, ld_y);
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
  const int rows = static_cast<int>(c.m), lane_rows = 16 / S, bytes = 4 * S;  // R rows of S words
  const float limit = split ? 32767.0f : 127.0f;
  __m512 inv[kGroupedMaxRows];
  for (int r = 0; r < rows; ++r)
    inv[r] = row_inverse_step(c.x + r * c.ld_x, k, limit, t == 0 ? act.scale + r : nullptr);
  auto* h_out = reinterpret_cast<uint8_t*>(act.h(0));
  auto* l_out = reinterpret_cast<uint8_t*>(act.l(0));
  for (int64_t col = col0; col < col1; col += 64) {
    alignas(64) int32_t sums[16] = {};
    for (int r = 0; r < lane_rows; ++r) {
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

// y[i][r0 + j] for rows i < rows of x and the tile's rows j < nr, as int8_tile computes them:
// panel by panel (256 columns), each panel's integer sums made whole (the lanes of a row
// added, seed: panel_seeds of the tile, added once a row) and turned to floats with its
// group's scale, those added over the panels in int8_tile's order.
template <int S, bool kSplit>
void int8_grouped_tile(const VnniTile& t, const int32_t* seed, const __m512i* h, const __m512i* l,
                       const float* x_scale, int rows, float* y, int64_t ld_y, const char* prefetch) {
  constexpr int kVectors = S >= 4 ? 16 / S / 2 : 1;  // S >= 4: sums_by_row_of_x's layout
  __m512 by_row[kVectors];                          // S >= 4
  __m512 f[kInt8TileRows];                          // S == 2: finish_tile's layout
  const int64_t quads = t.k / 4;
  for (int64_t p = 0; p < t.panels; ++p) {
    const int64_t q0 = p * (kX16GemmPanelCols / 4), q1 = min64(q0 + kX16GemmPanelCols / 4, quads);
    const int64_t group = (p * kX16GemmPanelCols) / t.group;
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
#pragma GCC unroll 8
    for (int j = 0; j < kInt8TileRows; ++j)
      if constexpr (kSplit) hacc[j] = _mm512_add_epi32(_mm512_slli_epi32(hacc[j], 8), lacc[j]);
    if constexpr (S >= 4) {
      __m512i sums[kVectors];
      sums_by_row_of_x<S>(hacc, sums);
      alignas(32) int32_t minus_seed[kInt8TileRows];  // |seed| <= 2^22: times 256 within int32
      for (int j = 0; j < kInt8TileRows; ++j) {
        const int32_t s = seed[j * t.panels + p];
        minus_seed[j] = -(kSplit ? s * 256 : s);
      }
      const __m512i offset = _mm512_broadcast_i32x8(_mm256_load_si256(reinterpret_cast<const __m256i*>(minus_seed)));
      const __m512 scales = scales_by_row_of_x(t, group);
      for (int v = 0; v < kVectors; ++v) {
        const __m512 part = panel_by_row_of_x(sums[v], offset, scales);
        by_row[v] = p == 0 ? part : _mm512_add_ps(part, by_row[v]);
      }
    } else {
#pragma GCC unroll 8
      for (int j = 0; j < kInt8TileRows; ++j) {
        const int32_t s = kSplit ? seed[j * t.panels + p] * 256 : seed[j * t.panels + p];
        const __m512i sum = _mm512_add_epi32(sum_lane_pairs(hacc[j]), _mm512_set1_epi32(s));
        const __m512 part = rounded(_mm512_mul_ps(_mm512_cvtepi32_ps(sum), _mm512_set1_ps(t.scales[j][group])));
        f[j] = p == 0 ? part : _mm512_add_ps(part, f[j]);
      }
    }
  }
  if constexpr (S >= 4)
    finish_floats_by_row_of_x(by_row, t, x_scale, rows, y, ld_y);
  else
    finish_tile(f, t.nr, t.bias, t.relu, x_scale, rows, y, ld_y);
}

// As int4_tile (one panel: k <= kGroupedMaxK), S words of each weight row at a time (S <= 8:
// within one 64-column block).
template <int S>
void int4_grouped_tile(const VnniTile& t, const __m512i* h, const __m512i* l, const __m512i* xsum,
                       const float* x_scale, int rows, float* y, int64_t ld_y, const char* prefetch) {
  static_assert(S <= 8, "a lane group's words must stay in one 64-column block");
  const __m512i nibbles = _mm512_set1_epi8(0x0F);
  __m512i hacc[kInt8TileRows], lacc[kInt8TileRows];
#pragma GCC unroll 8
  for (int r = 0; r < kInt8TileRows; ++r) hacc[r] = lacc[r] = _mm512_setzero_si512();
  __m512i x_sum = _mm512_setzero_si512();
  for (int64_t b = 0; b < t.k / 64; ++b) {
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
#pragma GCC unroll 8
  for (int r = 0; r < kInt8TileRows; ++r) hacc[r] = _mm512_add_epi32(_mm512_slli_epi32(hacc[r], 8), lacc[r]);
  if constexpr (S >= 4) {
    __m512i sums[16 / S / 2], offsets[16 / S / 2];
    sums_by_row_of_x<S>(hacc, sums);
    for (int v = 0; v < 16 / S / 2; ++v) offsets[v] = _mm512_castps_si512(per_row_of_x(_mm512_castsi512_ps(offset), v));
    finish_by_row_of_x(sums, offsets, t, x_scale, rows, y, ld_y);
  } else {
    __m512 f[kInt8TileRows];
#pragma GCC unroll 8
    for (int r = 0; r < kInt8TileRows; ++r) {
      const __m512i sum = _mm512_sub_epi32(sum_lane_pairs(hacc[r]), offset);
      f[r] = rounded(_mm512_mul_ps(_mm512_cvtepi32_ps(sum), _mm512_set1_ps(t.scales[r][0])));
    }
    finish_tile(f, t.nr, t.bias, t.relu, x_scale, rows, y, ld_y);
  }
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

// The whole call (int8_vnni_grouped_applies: 4 rows, or 5 .. 8, so groups of 4 or 2 words).
inline void gemm_int8_vnni_grouped(const LinearCall& c) {
  lane_group_words(c.m) == 4 ? gemm_int8_grouped<4>(c) : gemm_int8_grouped<2>(c);
}

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
