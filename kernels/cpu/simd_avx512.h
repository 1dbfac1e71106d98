// The AVX-512 (F/BW/VL/DQ) level, shared by linear_avx512.cc and linear_avx512vnni.cc,
// which differ only in the int16 dot product of the x16 GEMV. Include only from TUs
// compiled with -mavx512f -mavx512bw -mavx512vl -mavx512dq -mfma -mf16c.
// Internal linkage only, see linear_driver.h.
#pragma once

#include "kernels/cpu/immintrin_avx512.h"  // first

#include <cstdint>
#include <type_traits>

#include "kernels/cpu/gemm_x16.h"
#include "kernels/cpu/gemv_simd.h"
#include "kernels/cpu/gemv_x16.h"
#include "kernels/cpu/linear_driver.h"
#include "kernels/cpu/simd_avx2.h"
#include "kernels/cpu/weight_format.h"
#include "kernels/cpu/x16_short_rows_avx512.h"

namespace tusk::kernels::detail {
namespace {

struct Vec512 {
  using T = __m512;
  static constexpr int kWidth = 16;
  static T zero() { return _mm512_setzero_ps(); }
  static T load(const float* p) { return _mm512_loadu_ps(p); }
  static T fma(T a, T b, T c) { return _mm512_fmadd_ps(a, b, c); }
  static T add(T a, T b) { return _mm512_add_ps(a, b); }
  static T set1(float v) { return _mm512_set1_ps(v); }
  static float hsum(T v) { return _mm512_reduce_add_ps(v); }
  static void hsum4(T a, T b, T c, T d, float (&out)[4]) {
    auto half = [](T v) { return _mm256_add_ps(_mm512_castps512_ps256(v), _mm512_extractf32x8_ps(v, 1)); };
    VecAvx2::hsum4(half(a), half(b), half(c), half(d), out);
  }
};

// ---- GEMV weight readers (see gemv_simd.h) ----

// The 32-byte block is broadcast to both halves of a zmm; step s masks nibble 2s in lanes
// 0..7 and nibble 2s+1 in lanes 8..15, i.e. columns 16s..16s+15 in order. The unsigned
// conversion reads the top nibble exactly, so every prescale is 2^(-4t).
alignas(64) constexpr uint32_t kInt4Masks[4][16] = {
    {15u << 0, 15u << 0, 15u << 0, 15u << 0, 15u << 0, 15u << 0, 15u << 0, 15u << 0,
     15u << 4, 15u << 4, 15u << 4, 15u << 4, 15u << 4, 15u << 4, 15u << 4, 15u << 4},
    {15u << 8, 15u << 8, 15u << 8, 15u << 8, 15u << 8, 15u << 8, 15u << 8, 15u << 8,
     15u << 12, 15u << 12, 15u << 12, 15u << 12, 15u << 12, 15u << 12, 15u << 12, 15u << 12},
    {15u << 16, 15u << 16, 15u << 16, 15u << 16, 15u << 16, 15u << 16, 15u << 16, 15u << 16,
     15u << 20, 15u << 20, 15u << 20, 15u << 20, 15u << 20, 15u << 20, 15u << 20, 15u << 20},
    {15u << 24, 15u << 24, 15u << 24, 15u << 24, 15u << 24, 15u << 24, 15u << 24, 15u << 24,
     15u << 28, 15u << 28, 15u << 28, 15u << 28, 15u << 28, 15u << 28, 15u << 28, 15u << 28},
};

struct Int4Reader {
  static constexpr int kCols = 64, kSteps = 4, kBlockBytes = 32;
  static constexpr float kOffset = 8.0f;
  static constexpr bool kScaled = true;
  static constexpr float kPrescale[8] = {1.0f,     0x1p-4f,  0x1p-8f,  0x1p-12f,
                                         0x1p-16f, 0x1p-20f, 0x1p-24f, 0x1p-28f};
  using State = __m512i;
  static int64_t row_bytes(int64_t k) { return k / 2; }
  static int64_t main_cols(int64_t k) { return k; }
  static State load(const uint8_t* row, int64_t b) {
    return _mm512_broadcast_i64x4(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(row + b * kBlockBytes)));
  }
  static __m512 step(State v, int s) {
    const __m512i mask = _mm512_load_si512(kInt4Masks[s]);
    return _mm512_cvtepu32_ps(_mm512_and_si512(v, mask));
  }
  static float tail(const uint8_t*, const float*, int64_t, int64_t) { return 0.0f; }
};

struct Int8Reader {
  static constexpr int kCols = 32, kSteps = 2, kBlockBytes = 32;
  static constexpr float kOffset = 0.0f;
  static constexpr bool kScaled = true;
  using State = const uint8_t*;
  static int64_t row_bytes(int64_t k) { return k; }
  static int64_t main_cols(int64_t k) { return k; }
  static State load(const uint8_t* row, int64_t b) { return row + b * kBlockBytes; }
  static __m512 step(State p, int s) {
    const __m128i q = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 16 * s));
    return _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(q));
  }
  static float tail(const uint8_t*, const float*, int64_t, int64_t) { return 0.0f; }
};

struct F16Reader {
  static constexpr int kCols = 64, kSteps = 4, kBlockBytes = 128;
  static constexpr float kOffset = 0.0f;
  static constexpr bool kScaled = false;
  using State = const uint8_t*;
  static int64_t row_bytes(int64_t k) { return 2 * k; }
  static int64_t main_cols(int64_t k) { return k - k % kCols; }
  static State load(const uint8_t* row, int64_t b) { return row + b * kBlockBytes; }
  static __m512 step(State p, int s) {
    return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + 32 * s)));
  }
  static float tail(const uint8_t* row, const float* x, int64_t from, int64_t to) {
    const auto* h = reinterpret_cast<const uint16_t*>(row);
    float s = 0.0f;
    for (int64_t c = from; c < to; ++c) s += x[c] * _cvtsh_ss(h[c]);
    return s;
  }
};

// ---- x16 GEMM (see gemm_x16.h); the TU supplies dot (vpmaddwd + vpaddd, or vpdpwssd) ----

struct GemmX16Avx512Base {
  static constexpr int kLanes = 16, kMr = 8;
  using I = __m512i;
  static I zero() { return _mm512_setzero_si512(); }
  static I load(const int32_t* p) { return _mm512_load_si512(p); }
  static I set1(int32_t word) { return _mm512_set1_epi32(word); }
  static void finish(I acc, const MicroX16Args& a, int i, int h) {
    const int count = a.nr - 16 * h;
    if (count <= 0) return;
    const __mmask16 mask = count >= 16 ? __mmask16{0xFFFF} : static_cast<__mmask16>((1u << count) - 1);
    float* y = a.y + i * a.ld_y + 16 * h;
    __m512 v = _mm512_mul_ps(_mm512_cvtepi32_ps(acc), _mm512_loadu_ps(a.scales + 16 * h));
    if (!a.first) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(mask, y));
    if (a.last) {
      v = _mm512_mul_ps(v, _mm512_set1_ps(a.x_scale[i]));
      if (a.bias) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(mask, a.bias + 16 * h));
      if (a.relu) v = _mm512_max_ps(v, _mm512_setzero_ps());
    }
    _mm512_mask_storeu_ps(y, mask, v);
  }
};

// ---- x16 GEMV (see gemv_x16.h); the TU supplies the dot product (vpmaddwd or vpdpwssd) ----

struct VecX16Base : Vec512 {
  using I = __m512i;
  using F = __m512;
  static constexpr int kLanes16 = 32;
  static constexpr int kShortRowPass = 16;  // x16_short_rows_avx512.h
  static I zero() { return _mm512_setzero_si512(); }
  static I load(const int16_t* p) { return _mm512_loadu_si512(p); }
  static I add(I a, I b) { return _mm512_add_epi32(a, b); }
  static F to_float(I v) { return _mm512_cvtepi32_ps(v); }
  static F fzero() { return _mm512_setzero_ps(); }
  static F fadd(F a, F b) { return _mm512_add_ps(a, b); }
};

// The block is broadcast to both halves; step s shifts lanes 0..7 by 8s and lanes 8..15 by
// 8s + 4, giving the AVX2 steps 2s and 2s + 1 side by side (the same activation order).
alignas(64) constexpr uint32_t kX16Shifts[2][16] = {
    {0, 0, 0, 0, 0, 0, 0, 0, 4, 4, 4, 4, 4, 4, 4, 4},
    {8, 8, 8, 8, 8, 8, 8, 8, 12, 12, 12, 12, 12, 12, 12, 12},
};

struct Int4X16Reader {
  static constexpr int kCols = 64, kSteps = 2, kBlockBytes = 32;
  static constexpr float kOffset = 8.0f;
  static constexpr bool kScaled = true;
  using State = __m512i;
  static int64_t row_bytes(int64_t k) { return k / 2; }
  static int64_t main_cols(int64_t k) { return k; }
  static State load(const uint8_t* row, int64_t b) {
    return _mm512_broadcast_i64x4(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(row + b * kBlockBytes)));
  }
  static __m512i step(State v, int s) {
    const __m512i shifted = _mm512_srlv_epi32(v, _mm512_load_si512(kX16Shifts[s]));
    return _mm512_and_si512(shifted, _mm512_set1_epi32(0x000F000F));
  }
};

struct Int8X16Reader {
  static constexpr int kCols = 32, kSteps = 1, kBlockBytes = 32;
  static constexpr float kOffset = 0.0f;
  static constexpr bool kScaled = true;
  using State = const uint8_t*;
  static int64_t row_bytes(int64_t k) { return k; }
  static int64_t main_cols(int64_t k) { return k; }
  static State load(const uint8_t* row, int64_t b) { return row + b * kBlockBytes; }
  static __m512i step(State p, int) {
    return _mm512_cvtepi8_epi16(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
  }
};

struct NoX16 {};  // F16 weights: the x16 path does not apply

// ---- GEMM micro-kernel: MR x 32 tile, 2 * MR zmm accumulators ----

constexpr int kNr = 32, kMr = 8;

template <int MR>
void micro_tile(const MicroArgs& a) {
  // Loop state in locals so the accumulators stay in registers (see linear_avx2.cc).
  const int64_t kc = a.kc, ld_x = a.ld_x;
  const __mmask16 mask0 = a.nr >= 16 ? 0xFFFF : static_cast<__mmask16>((1u << a.nr) - 1);
  const __mmask16 mask1 =
      a.nr >= 32 ? 0xFFFF : (a.nr > 16 ? static_cast<__mmask16>((1u << (a.nr - 16)) - 1) : 0);
  __m512 acc[MR][2];
  if (a.first) {
    __m512 b0 = _mm512_setzero_ps(), b1 = _mm512_setzero_ps();
    if (a.bias) {
      b0 = _mm512_maskz_loadu_ps(mask0, a.bias);
      b1 = _mm512_maskz_loadu_ps(mask1, a.bias + 16);
    }
#pragma GCC unroll 8
    for (int i = 0; i < MR; ++i) {
      acc[i][0] = b0;
      acc[i][1] = b1;
    }
  } else {
#pragma GCC unroll 8
    for (int i = 0; i < MR; ++i) {
      acc[i][0] = _mm512_maskz_loadu_ps(mask0, a.y + i * a.ld_y);
      acc[i][1] = _mm512_maskz_loadu_ps(mask1, a.y + i * a.ld_y + 16);
    }
  }
  const float* x = a.x;
  const float* panel = a.panel;
  for (int64_t p = 0; p < kc; ++p, panel += kNr) {
    const __m512 w0 = _mm512_load_ps(panel), w1 = _mm512_load_ps(panel + 16);
#pragma GCC unroll 8
    for (int i = 0; i < MR; ++i) {
      const __m512 xv = _mm512_set1_ps(x[i * ld_x + p]);
      acc[i][0] = _mm512_fmadd_ps(xv, w0, acc[i][0]);
      acc[i][1] = _mm512_fmadd_ps(xv, w1, acc[i][1]);
    }
  }
  if (a.last && a.relu) {
#pragma GCC unroll 8
    for (int i = 0; i < MR; ++i) {
      acc[i][0] = _mm512_max_ps(acc[i][0], _mm512_setzero_ps());
      acc[i][1] = _mm512_max_ps(acc[i][1], _mm512_setzero_ps());
    }
  }
#pragma GCC unroll 8
  for (int i = 0; i < MR; ++i) {
    _mm512_mask_storeu_ps(a.y + i * a.ld_y, mask0, acc[i][0]);
    _mm512_mask_storeu_ps(a.y + i * a.ld_y + 16, mask1, acc[i][1]);
  }
}

void micro(int mr, const MicroArgs& a) {
  switch (mr) {
    case 1: return micro_tile<1>(a);
    case 2: return micro_tile<2>(a);
    case 3: return micro_tile<3>(a);
    case 4: return micro_tile<4>(a);
    case 5: return micro_tile<5>(a);
    case 6: return micro_tile<6>(a);
    case 7: return micro_tile<7>(a);
    default: return micro_tile<8>(a);
  }
}

// ---- Policies for linear_driver.h, and the entry for one x16 dot product ----

template <class VI, class Rd>
void x16_rows_avx512(const LinearCall& c, const X16Prep& p, int64_t r0, int64_t r1) {
  if (x16_short_rows_apply<Rd>(c)) r0 = x16_short_rows<VI, Rd>(c, p, r0, r1);
  if (r0 < r1) detail::x16_rows<VI, Rd>(c, p, r0, r1);
}

// Split: NoX16, or a second x16 path for the calls its applies(call) accepts, with its own
// activation layout (Store), vector traits (Vec) and weight reader (Reader).
template <class Reader, class Cols8, class X16Reader, class VecX16, class Split = NoX16>
struct Policy {
  static constexpr int kNr = detail::kNr, kMr = detail::kMr;
  static constexpr bool kSplit = !std::is_same_v<Split, NoX16>;
  using GemvPrep = detail::GemvPrep;
  static X16Prep x16_prepare(const LinearCall& c) {
    if constexpr (kSplit)
      if (Split::applies(c)) return prepare_x16_avx2(c, typename Split::Store{});
    return prepare_x16_avx2(c);
  }
  static void x16_rows(const LinearCall& c, const X16Prep& p, int64_t r0, int64_t r1) {
    if constexpr (kSplit)
      if (Split::applies(c)) return x16_rows_avx512<typename Split::Vec, typename Split::Reader>(c, p, r0, r1);
    if constexpr (!std::is_same_v<X16Reader, NoX16>) x16_rows_avx512<VecX16, X16Reader>(c, p, r0, r1);
  }
  static GemvPrep gemv_prepare(const LinearCall& c) {
    if constexpr (Reader::kOffset != 0) return prepare_int4(c, Reader::kPrescale);
    return raw_activations(c);
  }
  static void gemv_rows(const LinearCall& c, const GemvPrep& p, int64_t r0, int64_t r1) {
    detail::gemv_rows<Vec512, Reader>(c, p, r0, r1);
  }
  static void dequant_panel(const PackedWeights& w, int64_t r0, int nr, int64_t c0, int64_t kc, float* panel) {
    dequant_panel_avx2<kNr, Cols8>(w, r0, nr, c0, kc, panel);
  }
  static void micro(int mr, const MicroArgs& a) { detail::micro(mr, a); }
};

// Int4Split: the VNNI level's split-byte Int4 x16 path (x16_split_vnni.h), or NoX16.
template <class VecX16, class Int4Split = NoX16>
void run_avx512(const LinearCall& call) {
  switch (call.w.type) {
    case WeightType::Int4: return run_linear<Policy<Int4Reader, Cols8Int4, Int4X16Reader, VecX16, Int4Split>>(call);
    case WeightType::Int8: return run_linear<Policy<Int8Reader, Cols8Int8, Int8X16Reader, VecX16>>(call);
    case WeightType::F16: return run_linear<Policy<F16Reader, Cols8F16, NoX16, VecX16>>(call);
  }
}

}  // namespace
}  // namespace tusk::kernels::detail
