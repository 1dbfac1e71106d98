// AVX2 + FMA + F16C kernels (compiled with -mavx2 -mfma -mf16c; reached only through
// dispatch when the CPU has them).
#include <immintrin.h>

#include <cstdint>

#include <type_traits>

#include "kernels/cpu/gemm_x16.h"
#include "kernels/cpu/gemv_simd.h"
#include "kernels/cpu/gemv_x16.h"
#include "kernels/cpu/linear_driver.h"
#include "kernels/cpu/simd_avx2.h"
#include "kernels/cpu/weight_format.h"

namespace tusk::kernels::detail {
namespace {

// ---- GEMV weight readers (see gemv_simd.h) ----

// Nibble t of every 32-bit word, in place; the last one after a shift by 4 (see below).
alignas(32) constexpr uint32_t kInt4Masks[8][8] = {
    {15u << 0, 15u << 0, 15u << 0, 15u << 0, 15u << 0, 15u << 0, 15u << 0, 15u << 0},
    {15u << 4, 15u << 4, 15u << 4, 15u << 4, 15u << 4, 15u << 4, 15u << 4, 15u << 4},
    {15u << 8, 15u << 8, 15u << 8, 15u << 8, 15u << 8, 15u << 8, 15u << 8, 15u << 8},
    {15u << 12, 15u << 12, 15u << 12, 15u << 12, 15u << 12, 15u << 12, 15u << 12, 15u << 12},
    {15u << 16, 15u << 16, 15u << 16, 15u << 16, 15u << 16, 15u << 16, 15u << 16, 15u << 16},
    {15u << 20, 15u << 20, 15u << 20, 15u << 20, 15u << 20, 15u << 20, 15u << 20, 15u << 20},
    {15u << 24, 15u << 24, 15u << 24, 15u << 24, 15u << 24, 15u << 24, 15u << 24, 15u << 24},
    {15u << 24, 15u << 24, 15u << 24, 15u << 24, 15u << 24, 15u << 24, 15u << 24, 15u << 24},
};

// 64 columns = one 32-byte block = 8 steps; step t keeps nibble t of each word in place.
struct Int4Reader {
  static constexpr int kCols = 64, kSteps = 8, kBlockBytes = 32;
  static constexpr float kOffset = 8.0f;
  static constexpr bool kScaled = true;
  // Step 7 is shifted down by 4 first (the top nibble would read as a negative int32), so its
  // prescale is 2^-24 instead of 2^-28.
  static constexpr float kPrescale[8] = {1.0f,       0x1p-4f,  0x1p-8f,  0x1p-12f,
                                         0x1p-16f,   0x1p-20f, 0x1p-24f, 0x1p-24f};
  using State = __m256i;
  static int64_t row_bytes(int64_t k) { return k / 2; }
  static int64_t main_cols(int64_t k) { return k; }
  static State load(const uint8_t* row, int64_t b) {
    return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(row + b * kBlockBytes));
  }
  static __m256 step(State v, int t) {
    const __m256i mask = _mm256_load_si256(reinterpret_cast<const __m256i*>(kInt4Masks[t]));
    return _mm256_cvtepi32_ps(_mm256_and_si256(t == 7 ? _mm256_srli_epi32(v, 4) : v, mask));
  }
  static float tail(const uint8_t*, const float*, int64_t, int64_t) { return 0.0f; }
};

struct Int8Reader {
  static constexpr int kCols = 32, kSteps = 4, kBlockBytes = 32;
  static constexpr float kOffset = 0.0f;
  static constexpr bool kScaled = true;
  using State = const uint8_t*;
  static int64_t row_bytes(int64_t k) { return k; }
  static int64_t main_cols(int64_t k) { return k; }
  static State load(const uint8_t* row, int64_t b) { return row + b * kBlockBytes; }
  static __m256 step(State p, int s) {
    const __m128i q = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(p + 8 * s));
    return _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(q));
  }
  static float tail(const uint8_t*, const float*, int64_t, int64_t) { return 0.0f; }
};

struct F16Reader {
  static constexpr int kCols = 32, kSteps = 4, kBlockBytes = 64;
  static constexpr float kOffset = 0.0f;
  static constexpr bool kScaled = false;
  using State = const uint8_t*;
  static int64_t row_bytes(int64_t k) { return 2 * k; }
  static int64_t main_cols(int64_t k) { return k - k % kCols; }
  static State load(const uint8_t* row, int64_t b) { return row + b * kBlockBytes; }
  static __m256 step(State p, int s) {
    return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 16 * s)));
  }
  static float tail(const uint8_t* row, const float* x, int64_t from, int64_t to) {
    const auto* h = reinterpret_cast<const uint16_t*>(row);
    float s = 0.0f;
    for (int64_t c = from; c < to; ++c) s += x[c] * _cvtsh_ss(h[c]);
    return s;
  }
};

// ---- x16 GEMV (see gemv_x16.h) ----

struct VecX16 : VecAvx2 {
  using I = __m256i;
  using F = __m256;
  static constexpr int kLanes16 = 16, kChains = 1;
  static I zero() { return _mm256_setzero_si256(); }
  static I load(const int16_t* p) { return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)); }
  static I dot(I acc, I w, I x) { return _mm256_add_epi32(acc, _mm256_madd_epi16(w, x)); }
  static I add(I a, I b) { return _mm256_add_epi32(a, b); }
  static F to_float(I v) { return _mm256_cvtepi32_ps(v); }
  static F fzero() { return _mm256_setzero_ps(); }
  static F fadd(F a, F b) { return _mm256_add_ps(a, b); }
};

// Step p: nibbles p (low word) and p + 4 (high word) of each 32-bit word.
struct Int4X16Reader {
  static constexpr int kCols = 64, kSteps = 4, kBlockBytes = 32;
  static constexpr float kOffset = 8.0f;
  static constexpr bool kScaled = true;
  using State = __m256i;
  static int64_t row_bytes(int64_t k) { return k / 2; }
  static int64_t main_cols(int64_t k) { return k; }
  static State load(const uint8_t* row, int64_t b) {
    return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(row + b * kBlockBytes));
  }
  static __m256i step(State v, int p) {
    const __m256i nibbles = _mm256_set1_epi32(0x000F000F);
    switch (p) {
      case 0: return _mm256_and_si256(v, nibbles);
      case 1: return _mm256_and_si256(_mm256_srli_epi32(v, 4), nibbles);
      case 2: return _mm256_and_si256(_mm256_srli_epi32(v, 8), nibbles);
      default: return _mm256_srli_epi16(v, 12);  // a 16-bit shift leaves the top nibble alone
    }
  }
};

struct Int8X16Reader {
  static constexpr int kCols = 32, kSteps = 2, kBlockBytes = 32;
  static constexpr float kOffset = 0.0f;
  static constexpr bool kScaled = true;
  using State = const uint8_t*;
  static int64_t row_bytes(int64_t k) { return k; }
  static int64_t main_cols(int64_t k) { return k; }
  static State load(const uint8_t* row, int64_t b) { return row + b * kBlockBytes; }
  static __m256i step(State p, int s) {
    return _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 16 * s)));
  }
};

struct NoX16 {};  // F16 weights: the x16 path does not apply

// ---- GEMM micro-kernel: MR x 16 tile, 2 * MR accumulators ----

constexpr int kNr = 16, kMr = 6;

template <int MR>
void micro_tile(const MicroArgs& a) {
  // Everything the loop needs in locals: accumulators whose address escapes (or fields read
  // through `a`) would be kept in memory and stored back on every iteration.
  const int64_t kc = a.kc, ld_x = a.ld_x, ld_y = a.ld_y;
  const bool full = a.nr == kNr;
  const __m256i mask0 = lane_mask(a.nr), mask1 = lane_mask(a.nr - 8);
  auto load_lo = [&](const float* p) { return full ? _mm256_loadu_ps(p) : _mm256_maskload_ps(p, mask0); };
  auto load_hi = [&](const float* p) { return full ? _mm256_loadu_ps(p + 8) : _mm256_maskload_ps(p + 8, mask1); };
  __m256 acc[MR][2];
  if (a.first) {
    const __m256 b0 = a.bias ? load_lo(a.bias) : _mm256_setzero_ps();
    const __m256 b1 = a.bias ? load_hi(a.bias) : _mm256_setzero_ps();
#pragma GCC unroll 8
    for (int i = 0; i < MR; ++i) {
      acc[i][0] = b0;
      acc[i][1] = b1;
    }
  } else {
#pragma GCC unroll 8
    for (int i = 0; i < MR; ++i) {
      acc[i][0] = load_lo(a.y + i * ld_y);
      acc[i][1] = load_hi(a.y + i * ld_y);
    }
  }
  const float* x = a.x;
  const float* panel = a.panel;
  for (int64_t p = 0; p < kc; ++p, panel += kNr) {
    const __m256 w0 = _mm256_load_ps(panel), w1 = _mm256_load_ps(panel + 8);
#pragma GCC unroll 8
    for (int i = 0; i < MR; ++i) {
      const __m256 xv = _mm256_broadcast_ss(x + i * ld_x + p);
      acc[i][0] = _mm256_fmadd_ps(xv, w0, acc[i][0]);
      acc[i][1] = _mm256_fmadd_ps(xv, w1, acc[i][1]);
    }
  }
  if (a.last && a.relu) {
#pragma GCC unroll 8
    for (int i = 0; i < MR; ++i) {
      acc[i][0] = _mm256_max_ps(acc[i][0], _mm256_setzero_ps());
      acc[i][1] = _mm256_max_ps(acc[i][1], _mm256_setzero_ps());
    }
  }
#pragma GCC unroll 8
  for (int i = 0; i < MR; ++i) {
    float* y = a.y + i * ld_y;
    if (full) {
      _mm256_storeu_ps(y, acc[i][0]);
      _mm256_storeu_ps(y + 8, acc[i][1]);
    } else {
      _mm256_maskstore_ps(y, mask0, acc[i][0]);
      _mm256_maskstore_ps(y + 8, mask1, acc[i][1]);
    }
  }
}

void micro(int mr, const MicroArgs& a) {
  switch (mr) {
    case 1: return micro_tile<1>(a);
    case 2: return micro_tile<2>(a);
    case 3: return micro_tile<3>(a);
    case 4: return micro_tile<4>(a);
    case 5: return micro_tile<5>(a);
    default: return micro_tile<6>(a);
  }
}

// ---- Policies for linear_driver.h ----

template <class Reader, class Cols8, class X16Reader>
struct Policy {
  static constexpr int kNr = detail::kNr, kMr = detail::kMr;
  using GemvPrep = detail::GemvPrep;
  static X16Prep x16_prepare(const LinearCall& c) { return prepare_x16_avx2(c); }
  static void x16_rows(const LinearCall& c, const X16Prep& p, int64_t r0, int64_t r1) {
    if constexpr (!std::is_same_v<X16Reader, NoX16>) detail::x16_rows<VecX16, X16Reader>(c, p, r0, r1);
  }
  static GemvPrep gemv_prepare(const LinearCall& c) {
    if constexpr (Reader::kOffset != 0) return prepare_int4(c, Reader::kPrescale);
    return raw_activations(c);
  }
  static void gemv_rows(const LinearCall& c, const GemvPrep& p, int64_t r0, int64_t r1) {
    detail::gemv_rows<VecAvx2, Reader>(c, p, r0, r1);
  }
  static void dequant_panel(const PackedWeights& w, int64_t r0, int nr, int64_t c0, int64_t kc, float* panel) {
    dequant_panel_avx2<kNr, Cols8>(w, r0, nr, c0, kc, panel);
  }
  static void micro(int mr, const MicroArgs& a) { detail::micro(mr, a); }
};

// ---- x16 GEMM (see gemm_x16.h): vpmaddwd + vpaddd, 6 rows x 16 weight rows ----

struct GemmX16Avx2 {
  static constexpr int kLanes = 8, kMr = 6;  // 12 accumulators + 2 weight vectors + x: 15 ymm
  using I = __m256i;
  static I zero() { return _mm256_setzero_si256(); }
  static I load(const int32_t* p) { return _mm256_load_si256(reinterpret_cast<const __m256i*>(p)); }
  static I set1(int32_t word) { return _mm256_set1_epi32(word); }
  static void dot(I& acc, I x, I w) { acc = _mm256_add_epi32(acc, _mm256_madd_epi16(x, w)); }
  static void finish(I acc, const MicroX16Args& a, int i, int h) {
    const int count = a.nr - 8 * h;
    if (count <= 0) return;
    const __m256i mask = _mm256_cmpgt_epi32(_mm256_set1_epi32(count), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
    float* y = a.y + i * a.ld_y + 8 * h;
    __m256 v = _mm256_mul_ps(_mm256_cvtepi32_ps(acc), _mm256_loadu_ps(a.scales + 8 * h));
    if (!a.first) v = _mm256_add_ps(v, _mm256_maskload_ps(y, mask));
    if (a.last) {
      v = _mm256_mul_ps(v, _mm256_set1_ps(a.x_scale[i]));
      if (a.bias) v = _mm256_add_ps(v, _mm256_maskload_ps(a.bias + 8 * h, mask));
      if (a.relu) v = _mm256_max_ps(v, _mm256_setzero_ps());
    }
    _mm256_maskstore_ps(y, mask, v);
  }
};

}  // namespace

// x16 calls with more rows than the GEMV tiles serve take the int16 GEMM (dispatch.cc has
// set call.x16 only where it applies).
void linear_avx2(const LinearCall& call) {
  if (call.x16 && call.m > kX16TileMaxRows) return gemm_x16<GemmX16Avx2>(call);
  switch (call.w.type) {
    case WeightType::Int4: return run_linear<Policy<Int4Reader, Cols8Int4, Int4X16Reader>>(call);
    case WeightType::Int8: return run_linear<Policy<Int8Reader, Cols8Int8, Int8X16Reader>>(call);
    case WeightType::F16: return run_linear<Policy<F16Reader, Cols8F16, NoX16>>(call);
  }
}

}  // namespace tusk::kernels::detail
