// Internal: the arguments of one quantized_linear call and the per-ISA entry points that
// dispatch.cc picks from. Each entry lives in its own translation unit, compiled with that
// ISA's flags.
#pragma once

#include <cstddef>
#include <cstdint>

#include "kernels/cpu/quantized_linear.h"

namespace tusk::kernels::detail {

// Above this many rows of x the GEMM path (dequantized tiles reused across rows) wins.
constexpr int64_t kGemvMaxRows = 4;

struct LinearCall {
  PackedWeights w;
  const float* x;
  int64_t m, ld_x;
  const float* bias;  // [n] or null
  bool relu;
  float* y;
  int64_t ld_y;
  int threads;     // >= 1
  float* scratch;  // gemv_scratch_floats(w, m) floats, 64-byte aligned, owned by the caller
};

namespace {  // internal linkage: included by TUs built with different ISA flags
// Scratch the GEMV path needs: Int4 keeps a prescaled copy of x [m, k] and the sums of x per
// (row, group) [m, k / group] (see gemv_simd.h); the other types read x as it is.
inline size_t gemv_scratch_floats(const PackedWeights& w, int64_t m) {
  if (w.type != WeightType::Int4 || m > kGemvMaxRows) return 0;
  return static_cast<size_t>(m) * static_cast<size_t>(w.k + w.k / w.group);
}
}  // namespace

void linear_generic(const LinearCall& call);
void linear_avx2(const LinearCall& call);
void linear_avx512(const LinearCall& call);  // also serves Isa::Avx512Vnni

}  // namespace tusk::kernels::detail
