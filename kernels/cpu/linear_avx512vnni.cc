// AVX-512 VNNI: the AVX-512 kernels with the x16 GEMV's multiply-add-accumulate fused into
// one vpdpwssd, and Int4 x16 with vpdpbusd on split bytes where it applies
// (x16_split_vnni.h). Compiled with the AVX-512 flags plus -mavx512vnni; reached only through
// dispatch when the CPU has VNNI. (The fp32-activation paths have no integer dot product,
// so they are the AVX-512 ones, compiled again here.)
#include "kernels/cpu/simd_avx512.h"
#include "kernels/cpu/x16_split_vnni.h"

namespace tusk::kernels::detail {
namespace {

struct VecX16 : VecX16Base {
  static constexpr int kChains = 2;
  static I dot(I acc, I w, I x) { return _mm512_dpwssd_epi32(acc, w, x); }
};

}  // namespace

void linear_avx512vnni(const LinearCall& call) { run_avx512<VecX16, X16SplitInt4>(call); }

}  // namespace tusk::kernels::detail
