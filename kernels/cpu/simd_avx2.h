// 256-bit building blocks shared by the AVX2 and AVX-512 translation units (AVX-512VL runs
// them as they are): vector traits for gemv_simd.h, an 8x8 transpose, and the dequantization
// of a GEMM panel. Include only from TUs compiled with at least -mavx2 -mfma -mf16c.
// Internal linkage only, see linear_driver.h.
#pragma once

#include <immintrin.h>

#include <cstdint>

#include "kernels/cpu/linear_driver.h"
#include "kernels/cpu/weight_format.h"
#include "kernels/cpu/x16_prep.h"

namespace tusk::kernels::detail {
namespace {

struct VecAvx2 {
  using T = __m256;
  static constexpr int kWidth = 8;
  static T zero() { return _mm256_setzero_ps(); }
  static T load(const float* p) { return _mm256_loadu_ps(p); }
  static T fma(T a, T b, T c) { return _mm256_fmadd_ps(a, b, c); }
  static T add(T a, T b) { return _mm256_add_ps(a, b); }
  static T set1(float v) { return _mm256_set1_ps(v); }
  static float hsum(T v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
  }
  static void hsum4(T a, T b, T c, T d, float (&out)[4]) {
    const __m256 abcd = _mm256_hadd_ps(_mm256_hadd_ps(a, b), _mm256_hadd_ps(c, d));
    _mm_storeu_ps(out, _mm_add_ps(_mm256_castps256_ps128(abcd), _mm256_extractf128_ps(abcd, 1)));
  }
};

// Lanes [0, n) set: masks for the partial tiles of maskload/maskstore.
inline __m256i lane_mask(int n) {
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

// r[i][j] <- r[j][i].
inline void transpose8(__m256 r[8]) {
  const __m256 t0 = _mm256_unpacklo_ps(r[0], r[1]), t1 = _mm256_unpackhi_ps(r[0], r[1]);
  const __m256 t2 = _mm256_unpacklo_ps(r[2], r[3]), t3 = _mm256_unpackhi_ps(r[2], r[3]);
  const __m256 t4 = _mm256_unpacklo_ps(r[4], r[5]), t5 = _mm256_unpackhi_ps(r[4], r[5]);
  const __m256 t6 = _mm256_unpacklo_ps(r[6], r[7]), t7 = _mm256_unpackhi_ps(r[6], r[7]);
  const __m256 s0 = _mm256_shuffle_ps(t0, t2, _MM_SHUFFLE(1, 0, 1, 0));
  const __m256 s1 = _mm256_shuffle_ps(t0, t2, _MM_SHUFFLE(3, 2, 3, 2));
  const __m256 s2 = _mm256_shuffle_ps(t1, t3, _MM_SHUFFLE(1, 0, 1, 0));
  const __m256 s3 = _mm256_shuffle_ps(t1, t3, _MM_SHUFFLE(3, 2, 3, 2));
  const __m256 s4 = _mm256_shuffle_ps(t4, t6, _MM_SHUFFLE(1, 0, 1, 0));
  const __m256 s5 = _mm256_shuffle_ps(t4, t6, _MM_SHUFFLE(3, 2, 3, 2));
  const __m256 s6 = _mm256_shuffle_ps(t5, t7, _MM_SHUFFLE(1, 0, 1, 0));
  const __m256 s7 = _mm256_shuffle_ps(t5, t7, _MM_SHUFFLE(3, 2, 3, 2));
  r[0] = _mm256_permute2f128_ps(s0, s4, 0x20);
  r[1] = _mm256_permute2f128_ps(s1, s5, 0x20);
  r[2] = _mm256_permute2f128_ps(s2, s6, 0x20);
  r[3] = _mm256_permute2f128_ps(s3, s7, 0x20);
  r[4] = _mm256_permute2f128_ps(s0, s4, 0x31);
  r[5] = _mm256_permute2f128_ps(s1, s5, 0x31);
  r[6] = _mm256_permute2f128_ps(s2, s6, 0x31);
  r[7] = _mm256_permute2f128_ps(s3, s7, 0x31);
}

// Column dequantizers for panels: cols8(row, col, scale) = w[row][col..col+8) (col % 8 == 0)
// and scalar(row, col) for F16's tail.
struct Cols8Int4 {
  static constexpr bool kScaled = true;
  static int64_t row_bytes(int64_t k) { return k / 2; }
  static __m256 cols8(const uint8_t* row, int64_t col, float scale) {
    const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(row + (col / 64) * 32));
    const __m128i shift = _mm_cvtsi32_si128(static_cast<int>(4 * ((col % 64) / 8)));
    const __m256i u = _mm256_and_si256(_mm256_srl_epi32(v, shift), _mm256_set1_epi32(15));
    // (u - 8) * scale in one rounding, as the reference's q * scale.
    return _mm256_fmadd_ps(_mm256_cvtepi32_ps(u), _mm256_set1_ps(scale), _mm256_set1_ps(-8.0f * scale));
  }
  static float scalar(const uint8_t*, int64_t) { return 0.0f; }  // k % 64 == 0: never a tail
};

struct Cols8Int8 {
  static constexpr bool kScaled = true;
  static int64_t row_bytes(int64_t k) { return k; }
  static __m256 cols8(const uint8_t* row, int64_t col, float scale) {
    const __m128i q = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(row + col));
    return _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(q)), _mm256_set1_ps(scale));
  }
  static float scalar(const uint8_t*, int64_t) { return 0.0f; }  // k % 32 == 0: never a tail
};

struct Cols8F16 {
  static constexpr bool kScaled = false;
  static int64_t row_bytes(int64_t k) { return 2 * k; }
  static __m256 cols8(const uint8_t* row, int64_t col, float) {
    return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(row + 2 * col)));
  }
  static float scalar(const uint8_t* row, int64_t col) {
    return half_to_float(reinterpret_cast<const uint16_t*>(row)[col]);
  }
};

// panel[p][j] = w[r0 + j][c0 + p] for p < kc, j < NR (0 for j >= nr), 8x8 tiles at a time.
template <int NR, class Dq>
void dequant_panel_avx2(const PackedWeights& w, int64_t r0, int nr, int64_t c0, int64_t kc,
                        float* panel) {
  const int64_t row_bytes = Dq::row_bytes(w.k);
  const int64_t kc8 = kc & ~int64_t{7};
  const int64_t groups = Dq::kScaled ? w.k / w.group : 1;
  const uint8_t* base = static_cast<const uint8_t*>(w.data);
  for (int rb = 0; rb < NR; rb += 8) {
    const int valid = nr - rb < 0 ? 0 : (nr - rb > 8 ? 8 : nr - rb);
    for (int64_t p = 0; p < kc8; p += 8) {
      const int64_t col = c0 + p;
      __m256 v[8];
      for (int i = 0; i < 8; ++i) {
        if (i < valid) {
          const int64_t r = r0 + rb + i;
          const float scale = Dq::kScaled ? w.scales[r * groups + col / w.group] : 1.0f;
          v[i] = Dq::cols8(base + r * row_bytes, col, scale);
        } else {
          v[i] = _mm256_setzero_ps();
        }
      }
      transpose8(v);
      for (int j = 0; j < 8; ++j) _mm256_store_ps(panel + (p + j) * NR + rb, v[j]);
    }
    for (int64_t p = kc8; p < kc; ++p)  // F16 with k % 8 != 0 only
      for (int i = 0; i < 8; ++i)
        panel[p * NR + rb + i] = i < valid ? Dq::scalar(base + (r0 + rb + i) * row_bytes, c0 + p) : 0.0f;
  }
}

// Writes one 64-column Int4 block of int16 activations in the block order of x16_prep.h;
// q[t] holds the quantized columns b + 8t .. b + 8t + 7.
struct StoreInt4BlockOrder {
  void operator()(int16_t* row, int64_t b, const __m256i (&q)[8]) const {
    for (int p = 0; p < 4; ++p) {  // words [q_p[j], q_{p+4}[j]] for j = 0..7
      const __m256i pair =
          _mm256_or_si256(_mm256_and_si256(q[p], _mm256_set1_epi32(0xFFFF)), _mm256_slli_epi32(q[p + 4], 16));
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(row + b + 16 * p), pair);
    }
  }
};

// prepare_x16 (x16_prep.h) with 256-bit vectors; same values (cvtps_epi32 rounds to nearest
// even, as the scalar trick does). store_int4 lays out each Int4 block (the block order by
// default; the VNNI level has its own, x16_split_vnni.h). quantize_x16_rows_avx2 fills rows
// [i0, i1) of x16_layout (threads may fill disjoint ranges).
template <class StoreInt4 = StoreInt4BlockOrder>
void quantize_x16_rows_avx2(const LinearCall& c, int64_t i0, int64_t i1, StoreInt4 store_int4 = {}) {
  const int64_t k = c.w.k, group = c.w.group, groups = k / group;
  const auto [xq, sums, scale] = x16_scratch(c);
  const __m256 abs_mask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7FFFFFFF));
  for (int64_t i = i0; i < i1; ++i) {
    const float* x = c.x + i * c.ld_x;
    __m256 vmax = _mm256_setzero_ps();
    for (int64_t col = 0; col < k; col += 8) vmax = _mm256_max_ps(vmax, _mm256_and_ps(_mm256_loadu_ps(x + col), abs_mask));
    __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(vmax), _mm256_extractf128_ps(vmax, 1));
    m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
    const float amax = _mm_cvtss_f32(_mm_max_ss(m4, _mm_movehdup_ps(m4)));
    const __m256 inv = _mm256_set1_ps(amax > 0.0f ? 32767.0f / amax : 0.0f);
    scale[i] = amax / 32767.0f;
    int16_t* out = xq + i * k;
    auto quantize8 = [&](int64_t col) { return _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + col), inv)); };
    for (int64_t g = 0; g < groups; ++g) {
      __m256i sum = _mm256_setzero_si256();
      if (c.w.type == WeightType::Int4) {
        for (int64_t b = g * group; b < (g + 1) * group; b += 64) {
          __m256i q[8];
          for (int t = 0; t < 8; ++t) {
            q[t] = quantize8(b + 8 * t);
            sum = _mm256_add_epi32(sum, q[t]);
          }
          store_int4(out, b, q);
        }
      } else {
        for (int64_t col = g * group; col < (g + 1) * group; col += 16) {
          const __m256i a = quantize8(col), b = quantize8(col + 8);
          sum = _mm256_add_epi32(sum, _mm256_add_epi32(a, b));
          // packs interleaves 128-bit lanes; the permute restores column order.
          const __m256i packed = _mm256_permute4x64_epi64(_mm256_packs_epi32(a, b), 0xD8);
          _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + col), packed);
        }
      }
      __m128i s4 = _mm_add_epi32(_mm256_castsi256_si128(sum), _mm256_extracti128_si256(sum, 1));
      s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, 0x4E));
      s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, 0xB1));
      sums[i * groups + g] = static_cast<float>(_mm_cvtsi128_si32(s4));
    }
  }
}

template <class StoreInt4 = StoreInt4BlockOrder>
X16Prep prepare_x16_avx2(const LinearCall& c, StoreInt4 store_int4 = {}) {
  const X16Prep layout = x16_layout(c);
  quantize_x16_rows_avx2(c, 0, c.m, store_int4);
  return layout;
}

}  // namespace
}  // namespace tusk::kernels::detail
