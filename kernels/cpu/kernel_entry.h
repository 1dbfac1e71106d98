// Internal: the arguments of one quantized_linear call and the per-ISA entry points that
// dispatch.cc picks from. Each entry lives in its own translation unit, compiled with that
// ISA's flags.
#pragma once

#include <cstddef>
#include <cstdint>

#include "kernels/cpu/quantized_linear.h"

namespace tusk::kernels::detail {

// fp32 activations: above this many rows of x the GEMM path (dequantized tiles reused across
// rows) wins.
constexpr int64_t kGemvMaxRows = 4;
// The x16 GEMV's tiles serve up to this many rows of x, in groups of kGemvMaxRows, over
// blocks of weight rows of at most kX16TileBlockBytes (they stay in L2 while reused).
constexpr int64_t kX16TileMaxRows = 8;
constexpr int64_t kX16TileBlockBytes = 128 * 1024;
// Columns of one panel of the x16 GEMM (gemm_x16.h).
constexpr int64_t kX16GemmPanelCols = 256;

struct LinearCall {
  PackedWeights w;
  const float* x;
  int64_t m, ld_x;
  const float* bias;  // [n] or null
  bool relu;
  float* y;
  int64_t ld_y;
  int threads;     // >= 1
  bool x16;        // x is quantized to int16: uses_x16(), set by dispatch.cc
  bool x8;         // quantized_linear_x8: where a level has an 8-bit kernel, x is int8 instead
  float* scratch;  // gemv_scratch_floats(...) floats, 64-byte aligned, owned by the caller
};

namespace {  // internal linkage: included by TUs built with different ISA flags

// Where quantized_linear_x16 quantizes x to int16: integer weights, m <= kX16TileMaxRows on
// every level (the GEMV; above kGemvMaxRows its tiles over groups of rows of x), and larger
// m on the SIMD levels where their GEMM applies (gemm_x16.h). Elsewhere it is the fp32 path.
inline bool x16_gemm_applies(const LinearCall& c) {
  return c.m > kX16TileMaxRows && c.w.type != WeightType::F16 &&
         (c.w.group == c.w.k || c.w.group % kX16GemmPanelCols == 0);
}
inline bool uses_x16(const LinearCall& c, Isa isa) {
  if (!c.x16 || c.w.type == WeightType::F16) return false;
  return c.m <= kX16TileMaxRows || (isa != Isa::Generic && x16_gemm_applies(c));
}

// Scratch the GEMV paths need. fp32: Int4 keeps a prescaled copy of x [m, k] and the sums of
// x per (row, group) [m, k / group] (gemv_simd.h); Int8 and F16 read x as it is.
// x16 (uses_x16): int16 x [m, k], int32 sums [m, k / group] and one float scale per row
// (x16_prep.h), at any m, for m rounded up to 16 (the VNNI GEMMs transpose x in blocks of 16
// rows, gemm_int8_vnni.h, and below 16 rows lay it out for a block's worth of lanes,
// gemm_vnni_grouped.h), plus an int32 sum per row and 64 columns (gemm_int4_vnni.h). Sized
// alike on every level: at most 16 * (k / 2 + groups + 1 + k / 64) floats a thread for m <= 16
// (132 KB at k = 4096), kept for the thread's next calls.
inline size_t gemv_scratch_floats(const PackedWeights& w, int64_t m, bool x16) {
  if (w.type == WeightType::F16) return 0;
  const size_t k = static_cast<size_t>(w.k), groups = k / static_cast<size_t>(w.group);
  if (x16) {
    return static_cast<size_t>((m + 15) / 16 * 16) * (k / 2 + groups + 1 + k / 64);
  }
  const size_t rows = static_cast<size_t>(m);
  if (m > kGemvMaxRows) return 0;
  return w.type == WeightType::Int4 ? rows * (k + groups) : 0;
}
}  // namespace

void linear_generic(const LinearCall& call);
void linear_avx2(const LinearCall& call);
void linear_avx512(const LinearCall& call);
void linear_avx512vnni(const LinearCall& call);  // the x16 GEMV with vpdpwssd, else linear_avx512

}  // namespace tusk::kernels::detail
