// AVX-512 (F/BW/VL/DQ) kernels, compiled with -mavx512f -mavx512bw -mavx512vl -mavx512dq
// -mfma -mf16c; reached only through dispatch when the CPU has them.
#include "kernels/cpu/simd_avx512.h"

namespace tusk::kernels::detail {
namespace {

struct VecX16 : VecX16Base {
  static constexpr int kChains = 1;
  static I dot(I acc, I w, I x) { return _mm512_add_epi32(acc, _mm512_madd_epi16(w, x)); }
};

struct GemmX16 : GemmX16Avx512Base {
  static void dot(I& acc, I x, I w) { acc = _mm512_add_epi32(acc, _mm512_madd_epi16(x, w)); }
};

}  // namespace

// x16 calls with more rows than the GEMV tiles serve take the int16 GEMM (dispatch.cc has
// set call.x16 only where it applies).
void linear_avx512(const LinearCall& call) {
  if (call.x16 && call.m > kX16TileMaxRows) return gemm_x16<GemmX16>(call);
  run_avx512<VecX16>(call);
}

}  // namespace tusk::kernels::detail
