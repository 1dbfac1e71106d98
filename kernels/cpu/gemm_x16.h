// The x16 GEMM of the SIMD levels: m > kX16TileMaxRows rows of int16 activations against
// Int4 / Int8 weights repacked per panel to int16, multiplied with vpdpwssd (AVX-512 VNNI) or
// vpmaddwd + vpaddd (AVX-512, AVX2), over G, the level's vector traits:
//   G::kLanes (int32 lanes of a vector), G::kMr (rows of x a micro-tile holds), G::I,
//   G::zero(), G::load(p) (aligned), G::set1(word), G::dot(acc, x, w) (acc += pairwise
//   products, in place), G::finish(acc, args, i, h) (row i, half h of the y tile: convert,
//   scale per weight row, add the earlier panels' sum; the last panel applies x's scale, bias
//   and ReLU; writes only the tile's nr valid columns).
//
// Why: the fp32 GEMM (linear_driver.h run_gemm) dequantizes a panel to floats and runs
// 16 (AVX-512) or 8 (AVX2) multiply-adds per FMA. Here a panel of 2 * kLanes weight rows x 256
// columns is repacked to int16 pairs (the weight values themselves, no scale), and one
// vpdpwssd does twice an FMA's multiply-adds, from a panel half the size. The sums are
// exact int32 per panel, so, as in the x16 GEMV, the only added error is the rounding of x
// to int16 (quantized_linear.h), and a row's result does not depend on the other rows of x.
//
// Layout. panel[p][j] (int32 lane j of pair p) holds row r0 + j's weights of the two columns
// of pair p (see the pairings below) as two int16; a pair's rows fill two vectors. The
// activations are int16 in the same pairing, so a pair of them is one broadcast 32-bit word.
//
// Exactness: per panel a lane sums at most 128 pairs, |pair| <= 2 * 128 * 32767, below 2^31.
// Panels are combined in float (y holds the running sum), scaled per row and panel.
//
// Applies where x16_gemm_applies (kernel_entry.h): m > kX16TileMaxRows, Int4 / Int8,
// groups that hold whole panels (per channel, or a multiple of kX16GemmPanelCols). Measured
// on the VNNI level (bench_gemm, a Sapphire Rapids VM, this model's shapes, m = 16..480, 1
// and 2 threads): 1.2-2.5x the fp32 GEMM and 1.1-2.6x oneDNN fp32, up to ~150 GMAC/s a core.
// Include only from TUs compiled with at least AVX2 + FMA; internal linkage.
#pragma once

#include <immintrin.h>

#include <cstdint>

#include "kernels/cpu/kernel_entry.h"
#include "kernels/cpu/linear_driver.h"
#include "kernels/cpu/simd_avx2.h"
#include "kernels/cpu/x16_prep.h"

namespace tusk::kernels::detail {
namespace {

// Which two columns share a 32-bit word (a pair) is free, as long as the weights and the
// activations agree; each type takes the pairing its packed rows give cheaply.
//   Int8: columns 2p and 2p + 1 (a row's bytes widened in order).
//   Int4: in each 64-column block (32 bytes, weight_format.h: nibble t of 32-bit lane w is
//   column 8t + w), pair 8s + w holds columns 16s + w and 16s + 8 + w, nibbles 2s and 2s + 1
//   of lane w: a shift and a mask per nibble build a row's pairs, with no shuffles before
//   the 8 x 8 transpose that every panel needs.

// Int4 activations in that pairing: q[t] holds columns b + 8t .. b + 8t + 7.
struct StoreInt4Pairs {
  void operator()(int16_t* row, int64_t b, const __m256i (&q)[8]) const {
    for (int s = 0; s < 4; ++s) {
      const __m256i pair =
          _mm256_or_si256(_mm256_and_si256(q[2 * s], _mm256_set1_epi32(0xFFFF)), _mm256_slli_epi32(q[2 * s + 1], 16));
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(row + b + 16 * s), pair);
    }
  }
};

// 8 pairs of one weight row as int32 words of two int16 (Int4: nibble minus 8): Int8 pairs
// 8g .. 8g + 7 (columns 16g ..), Int4 pairs 8S .. 8S + 7 of a 64-column block.
__attribute__((always_inline)) inline __m256i int8_pairs8(const uint8_t* row, int64_t g) {
  return _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(row + 16 * g)));
}

template <int S>
__attribute__((always_inline)) inline __m256i int4_pairs8(__m256i block) {
  const __m256i nibble = _mm256_set1_epi32(15);
  const __m256i lo = _mm256_and_si256(_mm256_srli_epi32(block, 8 * S), nibble);
  const __m256i hi = _mm256_and_si256(_mm256_srli_epi32(block, 8 * S + 4), nibble);
  return _mm256_sub_epi16(_mm256_or_si256(lo, _mm256_slli_epi32(hi, 16)), _mm256_set1_epi16(8));
}

// Stores v[0..8) (8 pairs of 8 rows each, row-major) as pairs first .. first + 7 of rows
// rb .. rb + 7 of a panel of NR rows.
template <int NR>
__attribute__((always_inline)) inline void store_pairs(__m256i (&v)[8], int32_t* panel, int64_t first, int rb) {
  __m256 f[8];
  for (int i = 0; i < 8; ++i) f[i] = _mm256_castsi256_ps(v[i]);
  transpose8(f);  // f[q]: pair first + q of the 8 rows
  for (int q = 0; q < 8; ++q)
    _mm256_store_si256(reinterpret_cast<__m256i*>(panel + (first + q) * NR + rb), _mm256_castps_si256(f[q]));
}

// The panel of rows r0 .. r0 + nr (zeros up to NR) and columns c0 .. c0 + kc, and
// the rows' scales of the group holding it (0 past nr). 8 rows at a time: 8 pairs of each,
// transposed to 8 pairs of 8 rows.
template <WeightType T, int NR>
void repack_panel(const PackedWeights& w, int64_t r0, int nr, int64_t c0, int64_t kc, int32_t* panel,
                  float* scales) {
  const int64_t row_bytes = T == WeightType::Int4 ? w.k / 2 : w.k, groups = w.k / w.group;
  const auto* base = static_cast<const uint8_t*>(w.data);
  for (int j = 0; j < NR; ++j) scales[j] = j < nr ? w.scales[(r0 + j) * groups + c0 / w.group] : 0.0f;
  for (int rb = 0; rb < NR; rb += 8) {
    const int valid = nr - rb < 0 ? 0 : (nr - rb > 8 ? 8 : nr - rb);
    const uint8_t* rows[8];
    for (int i = 0; i < 8; ++i) rows[i] = base + (i < valid ? r0 + rb + i : r0) * row_bytes;  // in range
    __m256i v[8];
    if constexpr (T == WeightType::Int4) {
      for (int64_t b = 0; b < kc; b += 64) {  // one 32-byte block a row
        __m256i blocks[8];
        for (int i = 0; i < 8; ++i)
          blocks[i] = i < valid ? _mm256_loadu_si256(reinterpret_cast<const __m256i*>(rows[i] + (c0 + b) / 2))
                                : _mm256_set1_epi32(0x88888888);  // nibbles 8: zeros
        for (int i = 0; i < 8; ++i) v[i] = int4_pairs8<0>(blocks[i]);
        store_pairs<NR>(v, panel, b / 2, rb);
        for (int i = 0; i < 8; ++i) v[i] = int4_pairs8<1>(blocks[i]);
        store_pairs<NR>(v, panel, b / 2 + 8, rb);
        for (int i = 0; i < 8; ++i) v[i] = int4_pairs8<2>(blocks[i]);
        store_pairs<NR>(v, panel, b / 2 + 16, rb);
        for (int i = 0; i < 8; ++i) v[i] = int4_pairs8<3>(blocks[i]);
        store_pairs<NR>(v, panel, b / 2 + 24, rb);
      }
    } else {
      for (int64_t g = 0; g < kc / 16; ++g) {
        for (int i = 0; i < 8; ++i) v[i] = i < valid ? int8_pairs8(rows[i] + c0, g) : _mm256_setzero_si256();
        store_pairs<NR>(v, panel, 8 * g, rb);
      }
    }
  }
}

struct MicroX16Args {
  const int16_t* x;  // x[row 0][c0], rows ld_x apart
  int64_t ld_x;
  const int32_t* panel;  // [kc / 2][2 * G::kLanes]
  const float* scales;   // [2 * G::kLanes], this panel's
  int64_t kc;
  float* y;  // y[row 0][r0], rows ld_y apart
  int64_t ld_y;
  int nr;
  const float* x_scale;  // [rows], from row 0
  const float* bias;     // bias + r0 or null; used when last
  bool first, last, relu;
};

// y tile (+)= scales * (x tile . panel); the last panel also applies x's scale, bias, ReLU.
template <class G, int MR>
void micro_x16(const MicroX16Args& a) {
  using I = typename G::I;
  constexpr int NR = 2 * G::kLanes;
  I acc[MR][2];
#pragma GCC unroll 8
  for (int i = 0; i < MR; ++i) acc[i][0] = acc[i][1] = G::zero();
  const auto* x = reinterpret_cast<const int32_t*>(a.x);  // a pair of columns per word
  const int64_t ld = a.ld_x / 2;
  for (int64_t p = 0; p < a.kc / 2; ++p) {
    const I w0 = G::load(a.panel + p * NR);
    const I w1 = G::load(a.panel + p * NR + G::kLanes);
#pragma GCC unroll 8
    for (int i = 0; i < MR; ++i) {
      const I xb = G::set1(x[i * ld + p]);
      G::dot(acc[i][0], xb, w0);
      G::dot(acc[i][1], xb, w1);
    }
  }
#pragma GCC unroll 8
  for (int i = 0; i < MR; ++i) {
    G::finish(acc[i][0], a, i, 0);
    G::finish(acc[i][1], a, i, 1);
  }
}

template <class G>
void micro_x16(int mr, const MicroX16Args& a) {
  static_assert(G::kMr == 6 || G::kMr == 8, "micro-tile heights below");
  switch (mr) {
    case 1: return micro_x16<G, 1>(a);
    case 2: return micro_x16<G, 2>(a);
    case 3: return micro_x16<G, 3>(a);
    case 4: return micro_x16<G, 4>(a);
    case 5: return micro_x16<G, 5>(a);
    case 6: return micro_x16<G, 6>(a);
    case 7: if constexpr (G::kMr == 8) return micro_x16<G, 7>(a); [[fallthrough]];
    default: return micro_x16<G, G::kMr>(a);
  }
}

// Work units as in run_gemm: (panel of nr weight rows, block of x rows), x split only when
// there are fewer panels than threads; run(u0, u1, body) calls body(r0, m0, m1) for units
// [u0, u1) on the calling thread.
struct PanelUnits {
  int64_t nr, m, m_blocks, block_rows, count;

  template <class Body>
  void run(int64_t u0, int64_t u1, const Body& body) const {
    for (int64_t u = u0; u < u1; ++u) {
      const int64_t m0 = (u % m_blocks) * block_rows;
      body((u / m_blocks) * nr, m0, min64(m, m0 + block_rows));
    }
  }
};

inline PanelUnits panel_units(const LinearCall& c, int64_t nr, int64_t mr, int threads) {
  const int64_t panels = ceil_div(c.w.n, nr);
  int64_t m_blocks = panels >= threads ? 1 : ceil_div(threads, panels);
  const int64_t block_rows = ceil_div(ceil_div(c.m, m_blocks), mr) * mr;
  m_blocks = ceil_div(c.m, block_rows);
  return {nr, c.m, m_blocks, block_rows, panels * m_blocks};
}

// Every unit, split between the call's threads.
template <class Body>
void for_each_panel_unit(const LinearCall& c, int64_t nr, int64_t mr, const Body& body) {
  const int threads = worth_threads(c);
  const PanelUnits units = panel_units(c, nr, mr, threads);
  parallel_ranges(threads, units.count, [&](int64_t u0, int64_t u1) { units.run(u0, u1, body); });
}

template <class G, WeightType T>
void run_gemm_x16(const LinearCall& c, const X16Prep& prep) {
  constexpr int NR = 2 * G::kLanes;
  const int64_t n = c.w.n, k = c.w.k;
  for_each_panel_unit(c, NR, G::kMr, [&](int64_t r0, int64_t m0, int64_t m1) {
    alignas(64) int32_t panel[kX16GemmPanelCols / 2 * NR];
    alignas(64) float scales[NR];
    MicroX16Args a;
    a.ld_x = prep.ld_x;
    a.ld_y = c.ld_y;
    a.panel = panel;
    a.scales = scales;
    a.nr = static_cast<int>(min64(NR, n - r0));
    a.bias = c.bias ? c.bias + r0 : nullptr;
    a.relu = c.relu;
    for (int64_t c0 = 0; c0 < k; c0 += kX16GemmPanelCols) {
      a.kc = min64(kX16GemmPanelCols, k - c0);
      repack_panel<T, NR>(c.w, r0, a.nr, c0, a.kc, panel, scales);
      a.first = c0 == 0;
      a.last = c0 + a.kc == k;
      for (int64_t i = m0; i < m1; i += G::kMr) {
        a.x = prep.x + i * prep.ld_x + c0;
        a.y = c.y + i * c.ld_y + r0;
        a.x_scale = prep.scale + i;
        micro_x16<G>(static_cast<int>(min64(G::kMr, m1 - i)), a);
      }
    }
  });
}

// The whole call: int16 activations in the pairing above (rows split between the threads:
// at m = 480, k = 1024 one thread quantizing them took a third of the time), then the GEMM.
template <class G>
void gemm_x16(const LinearCall& c) {
  const X16Prep prep = x16_layout(c);
  parallel_ranges(c.m * c.w.k >= kMinParallelMacs ? c.threads : 1, c.m, [&](int64_t i0, int64_t i1) {
    quantize_x16_rows_avx2(c, i0, i1, StoreInt4Pairs{});
  });
  if (c.w.type == WeightType::Int4)
    run_gemm_x16<G, WeightType::Int4>(c, prep);
  else
    run_gemm_x16<G, WeightType::Int8>(c, prep);
}

}  // namespace
}  // namespace tusk::kernels::detail
