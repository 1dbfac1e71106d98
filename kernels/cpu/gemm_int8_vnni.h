// The x16 GEMM of the AVX-512 VNNI level for Int8 weights: the same int32 sums as gemm_x16.h
// (so the same results, bit for bit), from a panel of the stored bytes instead of one widened
// to int16.
//
// Why: gemm_x16.h widens every weight to int16 and transposes 8 x 8 words per 128 weights to
// build its panels, once per call. At decoder batch sizes (m = 16) that preparation cost more
// than the multiply-adds (45% against 34% of an int8 NLLB-600M decode, perf). Here a panel
// keeps the weights as bytes, four columns (a quad) to a 32-bit word: a 16 x 16 word transpose
// per 1024 weights, a quarter of the shuffles, and half the panel bytes.
//
// Products. vpdpbusd multiplies unsigned by signed bytes, so each int16 activation is split as
// x = 256 h + l (h = x >> 8 signed, l = x & 255 unsigned) and
//   sum x w = 256 (sum (h + 128) w - 128 sum w) + sum l w,
// two vpdpbusd per quad against the signed weights as stored; sum w per weight row comes from
// the panel itself (one vpdpbusd against ones per quad word) and seeds the h accumulator.
// Exactness: per 256-column panel |sum h w| <= 256 * 128 * 127 (times 256 below 2^31),
// sum (h + 128) w and sum l w below 256 * 255 * 127: all int32, equal to gemm_x16.h's sums,
// combined across panels through the same finish().
//
// Layout. Activations: two byte rows per x row, H = h + 128 and L = l in column order (a
// quad is one broadcast word). Panel: word [q][j] = row r0 + j's columns 4q .. 4q + 3.
//
// Applies where gemm_x16.h does (x16_gemm_applies) with Int8 weights and k % 64 == 0.
//
// The opt-in 8-bit variant (quantized_linear_x8) uses the same panels with activations
// quantized to int8 (scale max|x| / 127) and stored as xq + 128: one vpdpbusd per quad and
// row instead of two, the arithmetic CTranslate2's int8 uses, with x's rounding error 258
// times the int16 one. Exactness of its int32 sums: |sum xq w| <= 256 * 127 * 127 a panel.
// Include only from the VNNI TU; internal linkage.
#pragma once

#include "kernels/cpu/immintrin_avx512.h"  // first

#include <cstdint>

#include "kernels/cpu/gemm_x16.h"
#include "kernels/cpu/kernel_entry.h"
#include "kernels/cpu/simd_avx512.h"
#include "kernels/cpu/vnni_asm.h"
#include "kernels/cpu/x16_prep.h"

namespace tusk::kernels::detail {
namespace {

constexpr int kInt8VnniNr = 32, kInt8VnniMr = 6;

inline bool int8_vnni_gemm_applies(const LinearCall& c) {
  return c.x16 && c.m > kX16TileMaxRows && c.w.type == WeightType::Int8 && c.w.k % 64 == 0;
}

constexpr int kInt8X8Mr = 8;

// H rows, then L rows, each [m][k] bytes, in the call's x16 scratch (the same bytes as int16
// x); one scale per row where x16_layout keeps it.
struct SplitRows {
  const uint8_t* h;
  const uint8_t* l;
  int64_t ld;  // bytes between rows
  const float* scale;
};

// Quantizes rows [i0, i1) of x to bytes. Split (int16 activations): exactly as
// quantize_x16_rows_avx2 does (same amax, same 32767 / amax, same round-to-nearest-even of
// x * inv), each value then split into its H byte (h + 128) and L byte, H rows then L rows.
// Else (8-bit activations): round-to-nearest-even of x * 127 / amax, plus 128, in the H rows.
// The scales go where x16_layout keeps them.
inline void quantize_rows_to_bytes(const LinearCall& c, int64_t i0, int64_t i1, bool split) {
  const int64_t k = c.w.k;
  const X16Scratch s = x16_scratch(c);
  auto* h_rows = reinterpret_cast<uint8_t*>(s.x);
  uint8_t* l_rows = h_rows + c.m * k;
  const float limit = split ? 32767.0f : 127.0f;
  const __m512i bias = _mm512_set1_epi32(128);
  for (int64_t i = i0; i < i1; ++i) {
    const float* x = c.x + i * c.ld_x;
    __m512 vmax = _mm512_setzero_ps();
    for (int64_t col = 0; col < k; col += 16) vmax = _mm512_max_ps(vmax, _mm512_abs_ps(_mm512_loadu_ps(x + col)));
    const float amax = _mm512_reduce_max_ps(vmax);
    const __m512 inv = _mm512_set1_ps(amax > 0.0f ? limit / amax : 0.0f);
    s.scale[i] = amax / limit;
    uint8_t* h = h_rows + i * k;
    uint8_t* l = l_rows + i * k;
    for (int64_t col = 0; col < k; col += 16) {
      const __m512i q = _mm512_cvtps_epi32(_mm512_mul_ps(_mm512_loadu_ps(x + col), inv));
      const __m512i high = split ? _mm512_srai_epi32(q, 8) : q;
      _mm_storeu_si128(reinterpret_cast<__m128i*>(h + col), _mm512_cvtepi32_epi8(_mm512_add_epi32(high, bias)));
      if (split) _mm_storeu_si128(reinterpret_cast<__m128i*>(l + col), _mm512_cvtepi32_epi8(q));  // low byte
    }
  }
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

// The panel of rows r0 .. r0 + nr (zeros up to 32), columns c0 .. c0 + kc (kc % 64 == 0), the
// rows' scales of its group (0 past nr), and -128 * sum w per row (the h accumulators' seed).
inline void repack_int8_panel(const PackedWeights& w, int64_t r0, int nr, int64_t c0, int64_t kc, int32_t* panel,
                              float* scales, int32_t* seed) {
  const int64_t groups = w.k / w.group;
  const auto* base = static_cast<const uint8_t*>(w.data);
  for (int j = 0; j < kInt8VnniNr; ++j) scales[j] = j < nr ? w.scales[(r0 + j) * groups + c0 / w.group] : 0.0f;
  const __m512i ones = _mm512_set1_epi8(1);
  for (int half = 0; half < 2; ++half) {
    const int valid = nr - 16 * half < 0 ? 0 : (nr - 16 * half > 16 ? 16 : nr - 16 * half);
    __m512i sum = _mm512_setzero_si512();
    for (int64_t b = 0; b < kc; b += 64) {
      __m512i r[16];
      for (int j = 0; j < 16; ++j)
        r[j] = j < valid ? _mm512_loadu_si512(base + (r0 + 16 * half + j) * w.k + c0 + b) : _mm512_setzero_si512();
      transpose16x16(r);
      for (int t = 0; t < 16; ++t) {
        dpbusd(sum, ones, r[t]);
        _mm512_store_si512(panel + (b / 4 + t) * kInt8VnniNr + 16 * half, r[t]);
      }
    }
    _mm512_store_si512(seed + 16 * half, _mm512_mullo_epi32(sum, _mm512_set1_epi32(-128)));
  }
}

// Prefetches of the same columns of the next panel, spread over a chunk's work: 32 rows read in
// 256-byte pieces are too many streams for the hardware prefetchers, a large matrix (the
// output projection) comes from DRAM, and one burst of 128 prefetches overflows the misses
// a core keeps in flight (one burst per chunk: 18 ms a call where spread gives 13.3 ms, the
// 64051 x 1024 rows of bench_gemm --shapes nllb600m, m = 16). Only for matrices above a
// last-level cache's size (32 MB on the EPYC dev VM).
constexpr int64_t kPrefetchMinBytes = int64_t{32} << 20;

class PanelPrefetch {
 public:
  // Nothing when disabled or past the last row.
  PanelPrefetch(bool enabled, const PackedWeights& w, int64_t r0, int64_t c0, int64_t kc, int64_t parts)
      : base_(static_cast<const char*>(w.data)), k_(w.k), lines_per_row_(kc / 64),
        total_(enabled && r0 < w.n ? min64(kInt8VnniNr, w.n - r0) * (kc / 64) : 0), parts_(parts) {
    if (total_ > 0) base_ += r0 * w.k + c0;
  }
  // The next of `parts` equal shares.
  void next() {
    const int64_t until = total_ * ++part_ / parts_;
    for (; issued_ < until; ++issued_)
      _mm_prefetch(base_ + (issued_ / lines_per_row_) * k_ + (issued_ % lines_per_row_) * 64, _MM_HINT_T1);
  }

 private:
  const char* base_;
  int64_t k_, lines_per_row_, total_, parts_, part_ = 0, issued_ = 0;
};

struct MicroInt8Args {
  MicroX16Args out;     // y, scales, first/last, bias, relu, x_scale: finished as gemm_x16.h does
  const uint8_t* h;     // H[row 0][c0], rows ld apart
  const uint8_t* l;
  int64_t ld;
  const int32_t* seed;  // [32]
};

// y tile (+)= scales * (x tile . panel) for MR rows of x. kSplit: int16 activations as H and
// L bytes, two accumulator pairs a row (the H pair seeded with -128 sum w); else the 8-bit
// variant, one pair seeded the same way (its bytes are xq + 128).
template <int MR, bool kSplit>
void micro_int8_vnni(const MicroInt8Args& a) {
  __m512i hacc[MR][2], lacc[kSplit ? MR : 1][2];
  const __m512i s0 = _mm512_load_si512(a.seed), s1 = _mm512_load_si512(a.seed + 16);
#pragma GCC unroll 8
  for (int i = 0; i < MR; ++i) {
    hacc[i][0] = s0;
    hacc[i][1] = s1;
    if constexpr (kSplit) lacc[i][0] = lacc[i][1] = _mm512_setzero_si512();
  }
  const auto* h = reinterpret_cast<const int32_t*>(a.h);  // a quad per word
  const auto* l = reinterpret_cast<const int32_t*>(a.l);
  const int64_t ld = a.ld / 4, quads = a.out.kc / 4;
  const int32_t* panel = a.out.panel;
  for (int64_t q = 0; q < quads; ++q, panel += kInt8VnniNr) {
    const __m512i w0 = _mm512_load_si512(panel), w1 = _mm512_load_si512(panel + 16);
#pragma GCC unroll 8
    for (int i = 0; i < MR; ++i) {
      const __m512i hb = _mm512_set1_epi32(h[i * ld + q]);
      dpbusd(hacc[i][0], hb, w0);
      dpbusd(hacc[i][1], hb, w1);
      if constexpr (kSplit) {
        const __m512i lb = _mm512_set1_epi32(l[i * ld + q]);
        dpbusd(lacc[i][0], lb, w0);
        dpbusd(lacc[i][1], lb, w1);
      }
    }
  }
#pragma GCC unroll 8
  for (int i = 0; i < MR; ++i)
    for (int half = 0; half < 2; ++half) {
      __m512i sum = hacc[i][half];
      if constexpr (kSplit) sum = _mm512_add_epi32(_mm512_slli_epi32(sum, 8), lacc[i][half]);
      GemmX16Avx512Base::finish(sum, a.out, i, half);
    }
}

// Micro-tile heights: 6 rows (24 accumulators) split, 8 (16) with 8-bit activations.
template <bool kSplit>
void micro_int8_rows(int mr, const MicroInt8Args& a) {
  static_assert(kInt8VnniMr == 6 && kInt8X8Mr == 8, "micro-tile heights below");
  switch (mr) {
    case 1: return micro_int8_vnni<1, kSplit>(a);
    case 2: return micro_int8_vnni<2, kSplit>(a);
    case 3: return micro_int8_vnni<3, kSplit>(a);
    case 4: return micro_int8_vnni<4, kSplit>(a);
    case 5: return micro_int8_vnni<5, kSplit>(a);
    case 6: return micro_int8_vnni<6, kSplit>(a);
    case 7: if constexpr (!kSplit) return micro_int8_vnni<7, kSplit>(a); [[fallthrough]];
    default: return micro_int8_vnni<kSplit ? kInt8VnniMr : kInt8X8Mr, kSplit>(a);
  }
}

// The whole call (int8_vnni_gemm_applies): activations as call.x8 says (split int16, or
// int8), then panels as gemm_x16.h schedules them.
inline void gemm_int8_vnni(const LinearCall& c) {
  parallel_ranges(c.m * c.w.k >= kMinParallelMacs ? c.threads : 1, c.m, [&](int64_t i0, int64_t i1) {
    quantize_rows_to_bytes(c, i0, i1, /*split=*/!c.x8);
  });
  const int64_t mr = c.x8 ? kInt8X8Mr : kInt8VnniMr;
  const X16Scratch s = x16_scratch(c);
  const auto* h_rows = reinterpret_cast<const uint8_t*>(s.x);  // x8: the int8 rows
  const uint8_t* l_rows = h_rows + c.m * c.w.k;                 // x8: unused
  // Matrices that stay in the caches between calls (the attention and FFN layers) gain nothing
  // from prefetches (~10% lost on a 1024 x 1024 layer).
  const bool from_dram = c.w.n * c.w.k > kPrefetchMinBytes;
  for_each_panel_unit(c, kInt8VnniNr, mr, [&](int64_t r0, int64_t m0, int64_t m1) {
    alignas(64) int32_t panel[kX16GemmPanelCols / 4 * kInt8VnniNr];
    alignas(64) float scales[kInt8VnniNr];
    alignas(64) int32_t seed[kInt8VnniNr];
    MicroInt8Args a;
    a.out.ld_y = c.ld_y;
    a.out.panel = panel;
    a.out.scales = scales;
    a.out.nr = static_cast<int>(min64(kInt8VnniNr, c.w.n - r0));
    a.out.bias = c.bias ? c.bias + r0 : nullptr;
    a.out.relu = c.relu;
    a.ld = c.w.k;
    a.seed = seed;
    for (int64_t c0 = 0; c0 < c.w.k; c0 += kX16GemmPanelCols) {
      a.out.kc = min64(kX16GemmPanelCols, c.w.k - c0);
      PanelPrefetch prefetch(from_dram, c.w, r0 + kInt8VnniNr, c0, a.out.kc, 1 + ceil_div(m1 - m0, mr));
      prefetch.next();
      repack_int8_panel(c.w, r0, a.out.nr, c0, a.out.kc, panel, scales, seed);
      a.out.first = c0 == 0;
      a.out.last = c0 + a.out.kc == c.w.k;
      for (int64_t i = m0; i < m1; i += mr) {
        a.h = h_rows + i * c.w.k + c0;
        a.l = l_rows + i * c.w.k + c0;
        a.out.y = c.y + i * c.ld_y + r0;
        a.out.x_scale = s.scale + i;
        const int rows = static_cast<int>(min64(mr, m1 - i));
        c.x8 ? micro_int8_rows<false>(rows, a) : micro_int8_rows<true>(rows, a);
        prefetch.next();
      }
    }
  });
}

}  // namespace
}  // namespace tusk::kernels::detail
