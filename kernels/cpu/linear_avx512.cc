// AVX-512 (F/BW/VL/DQ) kernels, compiled with -mavx512f -mavx512bw -mavx512vl -mavx512dq
// -mfma -mf16c; reached only through dispatch when the CPU has them.
#include "kernels/cpu/simd_avx512.h"

namespace tusk::kernels::detail {
namespace {

struct VecX16 : VecX16Base {
  static constexpr int kChains = 1;
  static I dot(I acc, I w, I x) { return _mm512_add_epi32(acc, _mm512_madd_epi16(w, x)); }
};

}  // namespace

void linear_avx512(const LinearCall& call) { run_avx512<VecX16>(call); }

}  // namespace tusk::kernels::detail
