// The x16 GEMM of the AVX-512 VNNI level for Int8 weights: the same int32 sums as gemm_x16.h
// (so the same results, bit for bit), read straight from the stored weight rows, with no
// repacking.
//
// Why: gemm_x16.h widens every weight to int16 and transposes it into a panel, once per call;
// an earlier version of this kernel transposed the bytes into panels instead. At decoder batch
// sizes (m = 16) that preparation, its scale gathers and prefetches took about a third of an
// int8 NLLB-600M decode (perf). Here the roles are swapped: a vector's 16 lanes are 16 rows
// of x (their activations transposed once per call, m x k bytes, not n x k), and each weight
// word (four columns of one row) is broadcast from memory by the multiply-add itself
// (vpdpbusd's {1to16} operand). A tile is 8 weight rows (8 consecutive rows are one
// contiguous stretch of the matrix: one stream for the prefetchers) by 16 rows of x.
//
// Products. vpdpbusd multiplies unsigned by signed bytes, so each int16 activation is split as
// x = 256 h + l (h = x >> 8 signed, l = x & 255 unsigned) and
//   sum x w = 256 (sum (h + 128) w - 128 sum w) + sum l w,
// two vpdpbusd per weight word against the signed weights as stored. sum w per weight row and
// 256-column panel comes from a pass over the tile's rows (vpdpbusd with ones) and seeds the h
// accumulators. Exactness: per 256-column panel |sum h w| <= 256 * 128 * 127 (times 256
// below 2^31), sum (h + 128) w and sum l w below 256 * 255 * 127: all int32, equal to
// gemm_x16.h's sums, combined across panels in float in the same order as its finish().
//
// Layout. Activations, per block of 16 rows of x: H[q] and L[q] (q = a quad, four columns),
// one vector each whose lane i is row i's four bytes h + 128 (resp. l) of columns 4q ..
// 4q + 3; lanes past the last row hold zeros.
//
// Applies where gemm_x16.h does (x16_gemm_applies) with Int8 weights, k % 64 == 0 and
// k <= 64 panels (16384).
//
// The opt-in 8-bit variant (quantized_linear_x8) uses the same tiles with activations
// quantized to int8 (scale max|x| / 127) and stored as xq + 128 in H: one vpdpbusd per weight
// word instead of two, the arithmetic CTranslate2's int8 uses, with x's rounding error 258
// times the int16 one. Exactness of its int32 sums: |sum xq w| <= 256 * 127 * 127 a panel.
// Include only from the VNNI TU; internal linkage.
#pragma once

#include "kernels/cpu/immintrin_avx512.h"  // first

#include <cstdint>

#include "kernels/cpu/gemm_x16.h"
#include "kernels/cpu/kernel_entry.h"
#include "kernels/cpu/linear_driver.h"
#include "kernels/cpu/simd_avx2.h"
#include "kernels/cpu/vnni_asm.h"

namespace tusk::kernels::detail {
namespace {

constexpr int kInt8TileRows = 8;       // weight rows a tile
constexpr int kInt8TileXRows = 16;     // rows of x a tile (a vector's lanes)
constexpr int64_t kInt8MaxPanels = 64;  // k <= 64 * 256: the tile's sum w table

inline bool int8_vnni_gemm_applies(const LinearCall& c) {
  return c.x16 && c.m > kX16TileMaxRows && c.w.type == WeightType::Int8 && c.w.k % 64 == 0 &&
         c.w.k <= kInt8MaxPanels * kX16GemmPanelCols;
}

// Where the transposed activations live in the call's scratch: H then L vectors for each
// block of 16 rows ([blocks][2][k / 4] vectors, m rounded up to 16: gemv_scratch_floats pads
// m for this), then one scale per row.
// The Int4 kernel (gemm_int4_vnni.h) also keeps each row's sum of x per 64 columns:
// xsum(block)[chunk] is a vector of the block's 16 rows' sums. The lane groups of 2 .. 8 rows
// (gemm_vnni_grouped.h) use block 0 only: k / (4 S) vectors each of H and L, in their layout.
struct Int8Activations {
  __m512i* blocks;
  float* scale;
  __m512i* xsums;
  int64_t quads;  // k / 4
  __m512i* h(int64_t block) const { return blocks + 2 * block * quads; }
  __m512i* l(int64_t block) const { return blocks + (2 * block + 1) * quads; }
  __m512i* xsum(int64_t block) const { return xsums + block * (quads / 16); }
};

inline Int8Activations int8_activations(const LinearCall& c) {
  const int64_t blocks = ceil_div(c.m, kInt8TileXRows), quads = c.w.k / 4;
  auto* base = reinterpret_cast<__m512i*>(c.scratch);  // 64-byte aligned (dispatch.cc)
  // The scales of blocks * 16 rows: a whole number of vectors, so the sums stay aligned.
  auto* scale = reinterpret_cast<float*>(base + 2 * blocks * quads);
  return {base, scale, reinterpret_cast<__m512i*>(scale + blocks * kInt8TileXRows), quads};
}

// r[0..16): 16 rows of 16 words each; afterwards r[t] holds word t of every row (row j in
// lane j).
__attribute__((always_inline)) inline void transpose16x16(__m512i (&r)[16]) {
  __m512i t[16], u[16];
  for (int p = 0; p < 8; ++p) {
    t[2 * p] = _mm512_unpacklo_epi32(r[2 * p], r[2 * p + 1]);
    t[2 * p + 1] = _mm512_unpackhi_epi32(r[2 * p], r[2 * p + 1]);
  }
  // u[4g + e], 128-bit lane L: rows 4g .. 4g + 3 of word 4L + e.
  for (int g = 0; g < 4; ++g) {
    u[4 * g + 0] = _mm512_unpacklo_epi64(t[4 * g], t[4 * g + 2]);
    u[4 * g + 1] = _mm512_unpackhi_epi64(t[4 * g], t[4 * g + 2]);
    u[4 * g + 2] = _mm512_unpacklo_epi64(t[4 * g + 1], t[4 * g + 3]);
    u[4 * g + 3] = _mm512_unpackhi_epi64(t[4 * g + 1], t[4 * g + 3]);
  }
  for (int e = 0; e < 4; ++e) {
    const __m512i v0 = _mm512_shuffle_i32x4(u[e], u[4 + e], 0x44), v1 = _mm512_shuffle_i32x4(u[e], u[4 + e], 0xEE);
    const __m512i v2 = _mm512_shuffle_i32x4(u[8 + e], u[12 + e], 0x44), v3 = _mm512_shuffle_i32x4(u[8 + e], u[12 + e], 0xEE);
    r[e] = _mm512_shuffle_i32x4(v0, v2, 0x88);
    r[4 + e] = _mm512_shuffle_i32x4(v0, v2, 0xDD);
    r[8 + e] = _mm512_shuffle_i32x4(v1, v3, 0x88);
    r[12 + e] = _mm512_shuffle_i32x4(v1, v3, 0xDD);
  }
}

// 1 / the step of row x's quantization, limit / max|x| over its k columns (0 for a zero row),
// exactly as quantize_x16_rows_avx2 computes it; *scale = the step itself.
inline __m512 row_inverse_step(const float* x, int64_t k, float limit, float* scale) {
  __m512 vmax = _mm512_setzero_ps();
  for (int64_t col = 0; col < k; col += 16) vmax = _mm512_max_ps(vmax, _mm512_abs_ps(_mm512_loadu_ps(x + col)));
  const float amax = _mm512_reduce_max_ps(vmax);
  if (scale) *scale = amax / limit;
  return _mm512_set1_ps(amax > 0.0f ? limit / amax : 0.0f);
}

// Columns [0, 64) of x quantized with inv (row_inverse_step): as one 64-byte row of H bytes
// and one of L bytes (see quantize_block), and (kInt4) their sum of quantized values.
template <bool kInt4>
__attribute__((always_inline)) inline void quantize_64(const float* x, __m512 inv, bool split, __m512i& h_row,
                                                       __m512i& l_row, int32_t& sum) {
  const __m512i bias = _mm512_set1_epi32(kInt4 ? 0 : 128);
  // 16 bytes a (columns 16s .. 16s + 15) as one 64-byte row: in column order, or (kInt4) with
  // byte j of each lined up: quad j = bytes j of a[0..3].
  const auto row_of = [](const __m128i (&a)[4]) {
    __m128i w[4];
    if constexpr (kInt4) {
      const __m128i p01 = _mm_unpacklo_epi8(a[0], a[1]), q01 = _mm_unpackhi_epi8(a[0], a[1]);
      const __m128i p23 = _mm_unpacklo_epi8(a[2], a[3]), q23 = _mm_unpackhi_epi8(a[2], a[3]);
      w[0] = _mm_unpacklo_epi16(p01, p23);
      w[1] = _mm_unpackhi_epi16(p01, p23);
      w[2] = _mm_unpacklo_epi16(q01, q23);
      w[3] = _mm_unpackhi_epi16(q01, q23);
    } else {
      for (int s = 0; s < 4; ++s) w[s] = a[s];
    }
    return _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_set_m128i(w[1], w[0])), _mm256_set_m128i(w[3], w[2]), 1);
  };
  __m128i hq[4], lq[4];
  __m512i total = _mm512_setzero_si512();
  for (int s = 0; s < 4; ++s) {
    const __m512i q = _mm512_cvtps_epi32(_mm512_mul_ps(_mm512_loadu_ps(x + 16 * s), inv));
    hq[s] = _mm512_cvtepi32_epi8(_mm512_add_epi32(split ? _mm512_srai_epi32(q, 8) : q, bias));
    lq[s] = _mm512_cvtepi32_epi8(q);  // the low byte
    if constexpr (kInt4) total = _mm512_add_epi32(total, q);
  }
  if constexpr (kInt4) sum = _mm512_reduce_add_epi32(total);
  h_row = row_of(hq);
  l_row = row_of(lq);
}

// Quantizes columns [col0, col1) (multiples of 64) of block b of x (rows 16b .. 16b + 15,
// those below m) into its H and L vectors, and with `scales` the rows' scales. Split (int16
// activations): exactly as quantize_x16_rows_avx2 does (same amax over the whole row, same
// 32767 / amax, same round-to-nearest-even of x * inv), each value then split into its H byte
// (h + 128) and L byte. Else (8-bit activations): round-to-nearest-even of x * 127 / amax,
// plus 128, in H. 64 columns at a time: 16 rows of bytes, transposed to 16 quads.
// kInt4 (gemm_int4_vnni.h; split only): H holds h itself (signed), the quads follow the Int4
// words' column order (quad j < 8: columns j, 16 + j, 32 + j, 48 + j; quad 8 + j: those plus
// 8), and each 64 columns' sum of x is kept (xsum).
template <bool kInt4 = false>
void quantize_block(const LinearCall& c, const Int8Activations& act, int64_t b, bool split, int64_t col0,
                    int64_t col1, bool scales) {
  const int64_t i0 = b * kInt8TileXRows;
  const int rows = static_cast<int>(min64(kInt8TileXRows, c.m - i0));
  const float limit = split ? 32767.0f : 127.0f;
  __m512 inv[kInt8TileXRows];
  for (int i = 0; i < rows; ++i)
    inv[i] = row_inverse_step(c.x + (i0 + i) * c.ld_x, c.w.k, limit, scales ? act.scale + i0 + i : nullptr);
  __m512i* h_out = act.h(b);
  __m512i* l_out = act.l(b);
  for (int64_t col = col0; col < col1; col += 64) {
    __m512i hr[kInt8TileXRows], lr[kInt8TileXRows];
    alignas(64) int32_t sums[kInt8TileXRows] = {};
    for (int i = 0; i < kInt8TileXRows; ++i) {
      hr[i] = lr[i] = _mm512_setzero_si512();
      if (i < rows) quantize_64<kInt4>(c.x + (i0 + i) * c.ld_x + col, inv[i], split, hr[i], lr[i], sums[i]);
    }
    if constexpr (kInt4) _mm512_store_si512(act.xsum(b) + col / 64, _mm512_load_si512(sums));
    transpose16x16(hr);
    for (int t = 0; t < 16; ++t) _mm512_store_si512(h_out + col / 4 + t, hr[t]);
    if (!split) continue;
    transpose16x16(lr);
    for (int t = 0; t < 16; ++t) _mm512_store_si512(l_out + col / 4 + t, lr[t]);
  }
}

// Rounds v here: a product kept apart from the sum that follows it, which GCC would otherwise
// fuse into one multiply-add (rounded once), as it does not in gemm_x16.h's finish(); the
// results must be its, bit for bit.
__attribute__((always_inline)) inline __m512 rounded(__m512 v) {
  __asm__("" : "+v"(v));
  return v;
}

// y[i][j] for the block's rows i < rows and the tile's rows j < nr, from f[j] (lane i: the
// weight-scaled sum over every panel): times x's scale, plus bias, ReLU, as gemm_x16.h's
// finish() computes them.
inline void finish_tile(const __m512 (&f)[kInt8TileRows], int nr, const float* bias, bool relu, const float* x_scale,
                        int rows, float* y, int64_t ld_y) {
  const __mmask16 row_mask = static_cast<__mmask16>((1u << rows) - 1);
  const __m512 xs = _mm512_maskz_loadu_ps(row_mask, x_scale);
  __m256 lo[kInt8TileRows], hi[kInt8TileRows];
  for (int j = 0; j < kInt8TileRows; ++j) {
    __m512 v = rounded(_mm512_mul_ps(f[j], xs));
    if (bias && j < nr) v = _mm512_add_ps(v, _mm512_set1_ps(bias[j]));
    if (relu) v = _mm512_max_ps(v, _mm512_setzero_ps());
    lo[j] = _mm512_castps512_ps256(v);
    hi[j] = _mm512_extractf32x8_ps(v, 1);
  }
  transpose8(lo);  // lo[i]: row i's values of the tile's 8 weight rows
  transpose8(hi);  // hi[i]: row 8 + i's
  const __mmask8 col_mask = static_cast<__mmask8>((1u << nr) - 1);
  for (int i = 0; i < rows; ++i) _mm256_mask_storeu_ps(y + i * ld_y, col_mask, i < 8 ? lo[i] : hi[i - 8]);
}

// A tile's 8 weight rows (the Int8 and Int4 kernels').
struct VnniTile {
  const int32_t* w[kInt8TileRows];  // the tile's weight rows as words (rows past nr: row 0)
  int nr;                           // valid weight rows
  const float* scales[kInt8TileRows];  // each row's scales, one per group
  int64_t k, group, panels;
  const float* bias;  // bias + r0 or null
  bool relu;
};

// -128 * sum w of each of the tile's rows over each 256-column panel (the h accumulators'
// seed): vpdpbusd of ones against the signed bytes, one per 64 bytes (a vpsadbw pass took
// four instructions a line, as long as the products themselves at 1 .. 2 rows of x).
inline void panel_seeds(const VnniTile& t, int32_t* seed) {
  const __m512i ones = _mm512_set1_epi8(1);
  for (int j = 0; j < kInt8TileRows; ++j) {
    const auto* row = reinterpret_cast<const uint8_t*>(t.w[j]);
    for (int64_t p = 0; p < t.panels; ++p) {
      const int64_t c0 = p * kX16GemmPanelCols, kc = min64(kX16GemmPanelCols, t.k - c0);
      __m512i sums = _mm512_setzero_si512();
      for (int64_t b = c0; b < c0 + kc; b += 64) dpbusd(sums, ones, _mm512_loadu_si512(row + b));
      seed[j * t.panels + p] = -128 * _mm512_reduce_add_epi32(sums);
    }
  }
}

// y[i][r0 + j] for the block's rows i < rows and the tile's rows j < nr: scales * (x . w)
// over every panel, then x's scale, bias and ReLU, as gemm_x16.h's finish() computes them.
// seed: panel_seeds of the tile.
template <bool kSplit>
void int8_tile(const VnniTile& t, const int32_t* seed, const __m512i* h, const __m512i* l, const float* x_scale,
               int rows, float* y, int64_t ld_y, const char* prefetch) {
  __m512 f[kInt8TileRows];
  for (int64_t p = 0; p < t.panels; ++p) {
    const int64_t q0 = p * (kX16GemmPanelCols / 4), q1 = min64(q0 + kX16GemmPanelCols / 4, t.k / 4);
    __m512i hacc[kInt8TileRows], lacc[kInt8TileRows];
#pragma GCC unroll 8
    for (int j = 0; j < kInt8TileRows; ++j) {
      hacc[j] = _mm512_set1_epi32(seed[j * t.panels + p]);
      lacc[j] = _mm512_setzero_si512();
    }
    for (int64_t q = q0; q < q1; ++q) {
      if (prefetch) _mm_prefetch(prefetch + 32 * q, _MM_HINT_T1);
      const __m512i hq = _mm512_load_si512(h + q);
      const __m512i lq = kSplit ? _mm512_load_si512(l + q) : hq;
#pragma GCC unroll 8
      for (int j = 0; j < kInt8TileRows; ++j) {
        dpbusd_broadcast(hacc[j], hq, t.w[j] + q);
        if constexpr (kSplit) dpbusd_broadcast(lacc[j], lq, t.w[j] + q);
      }
    }
    const int64_t group = (p * kX16GemmPanelCols) / t.group;
#pragma GCC unroll 8
    for (int j = 0; j < kInt8TileRows; ++j) {
      __m512i sum = hacc[j];
      if constexpr (kSplit) sum = _mm512_add_epi32(_mm512_slli_epi32(sum, 8), lacc[j]);
      const __m512 v = rounded(_mm512_mul_ps(_mm512_cvtepi32_ps(sum), _mm512_set1_ps(t.scales[j][group])));
      f[j] = p == 0 ? v : _mm512_add_ps(v, f[j]);
    }
  }
  finish_tile(f, t.nr, t.bias, t.relu, x_scale, rows, y, ld_y);
}

// Thread t of count's share of quantizing x: whole blocks when there are at least as many
// blocks as threads, else a range of 64-column steps of every block (each thread then finds
// the rows' amax itself; thread 0 writes the scales).
template <bool kInt4 = false>
void quantize_share(const LinearCall& c, const Int8Activations& act, bool split, int t, int count) {
  const int64_t blocks = ceil_div(c.m, kInt8TileXRows), k = c.w.k;
  if (blocks >= count) {
    for (int64_t b = blocks * t / count; b < blocks * (t + 1) / count; ++b)
      quantize_block<kInt4>(c, act, b, split, 0, k, true);
    return;
  }
  const int64_t steps = k / 64, col0 = steps * t / count * 64, col1 = steps * (t + 1) / count * 64;
  for (int64_t b = 0; b < blocks; ++b) quantize_block<kInt4>(c, act, b, split, col0, col1, t == 0);
}

// A whole VNNI GEMM call (Int8 below, Int4 in gemm_int4_vnni.h), in one parallel region
// whose phases meet at a barrier: quantize(t, count), this thread's share of quantizing x,
// then its units of (8 weight rows from r0, rows m0 .. m1 of x) split as gemm_x16.h's
// panels are: unit(tile, r0, m0, m1, next), next the following tile's rows to prefetch. At
// decoder batch sizes (m = 16, k = 256) quantizing x alone on the calling thread, and a
// second fork, cost more than the threads gained on the tiles.
template <class Quantize, class Unit>
void run_vnni_gemm(const LinearCall& c, int64_t row_bytes, const Quantize& quantize, const Unit& unit) {
  const PanelUnits units = panel_units(c, kInt8TileRows, kInt8TileXRows, worth_threads(c));
  const int64_t groups = c.w.k / c.w.group;
  const auto* base = static_cast<const uint8_t*>(c.w.data);
  const auto tile_unit = [&](int64_t r0, int64_t m0, int64_t m1) {
    VnniTile t;
    t.nr = static_cast<int>(min64(kInt8TileRows, c.w.n - r0));
    for (int j = 0; j < kInt8TileRows; ++j) {
      const int64_t row = r0 + (j < t.nr ? j : 0);
      t.w[j] = reinterpret_cast<const int32_t*>(base + row * row_bytes);
      t.scales[j] = c.w.scales + row * groups;
    }
    t.k = c.w.k;
    t.group = c.w.group;
    t.panels = ceil_div(c.w.k, kX16GemmPanelCols);
    t.bias = c.bias ? c.bias + r0 : nullptr;
    t.relu = c.relu;
    // The next tile's rows (one contiguous stretch), fetched while this one is computed: in a
    // decoder step every matrix comes from DRAM (the layers together outgrow the caches), and
    // the tile's first pass would otherwise wait for each line (an int8 NLLB-600M decode at
    // batch 16: 23.6 s with prefetches only for matrices above 32 MB, 20.6 s with them for
    // all; matrices in cache lose nothing measurable, bench_gemm).
    const char* next = r0 + kInt8TileRows < c.w.n
                           ? reinterpret_cast<const char*>(base + (r0 + kInt8TileRows) * row_bytes) : nullptr;
    unit(t, r0, m0, m1, next);
  };
  const int threads = static_cast<int>(min64(worth_threads(c), units.count));
  parallel_team(threads, [&](int t, int count) {
    quantize(t, count);
#pragma omp barrier
    units.run(units.count * t / count, units.count * (t + 1) / count, tile_unit);
  });
}

// The whole call (int8_vnni_gemm_applies): activations as call.x8 says (split int16, or
// int8), transposed per block of 16 rows, then the tiles, each seeded with its rows' sums.
inline void gemm_int8_vnni(const LinearCall& c) {
  const bool split = !c.x8;
  const Int8Activations act = int8_activations(c);
  run_vnni_gemm(
      c, c.w.k, [&](int t, int count) { quantize_share(c, act, split, t, count); },
      [&](const VnniTile& t, int64_t r0, int64_t m0, int64_t m1, const char* next) {
        alignas(64) int32_t seed[kInt8TileRows * kInt8MaxPanels];
        panel_seeds(t, seed);
        for (int64_t i = m0; i < m1; i += kInt8TileXRows) {  // m0 is a multiple of 16
          const int64_t b = i / kInt8TileXRows;
          const int rows = static_cast<int>(min64(kInt8TileXRows, m1 - i));
          float* y = c.y + i * c.ld_y + r0;
          const char* prefetch = i == m0 ? next : nullptr;
          split ? int8_tile<true>(t, seed, act.h(b), act.l(b), act.scale + i, rows, y, c.ld_y, prefetch)
                : int8_tile<false>(t, seed, act.h(b), act.l(b), act.scale + i, rows, y, c.ld_y, prefetch);
        }
      });
}

}  // namespace
}  // namespace tusk::kernels::detail
