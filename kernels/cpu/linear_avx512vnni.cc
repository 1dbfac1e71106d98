// AVX-512 VNNI: the AVX-512 kernels with the x16 GEMV's multiply-add-accumulate fused into
// one vpdpwssd, Int4 x16 with vpdpbusd on split bytes where it applies (x16_split_vnni.h),
// and the x16 GEMMs with vpdpbusd from the stored rows: Int8 (gemm_int8_vnni.h, also the
// opt-in 8-bit activations) and Int4 (gemm_int4_vnni.h), in lane groups up to 8 rows of x
// (gemm_vnni_grouped.h). Compiled with the AVX-512
// flags plus -mavx512vnni; reached only through dispatch when the CPU has VNNI. (The
// fp32-activation paths have no integer dot product, so they are the AVX-512 ones, compiled
// again here.)
#include "kernels/cpu/gemm_int4_vnni.h"
#include "kernels/cpu/gemm_int8_vnni.h"
#include "kernels/cpu/gemm_vnni_grouped.h"
#include "kernels/cpu/simd_avx512.h"
#include "kernels/cpu/vnni_asm.h"
#include "kernels/cpu/x16_split_vnni.h"

namespace tusk::kernels::detail {
namespace {

struct VecX16 : VecX16Base {
  static constexpr int kChains = 2;
  static I dot(I acc, I w, I x) {
    dpwssd(acc, w, x);
    return acc;
  }
};

struct GemmX16 : GemmX16Avx512Base {
  static void dot(I& acc, I x, I w) { dpwssd(acc, x, w); }
};

}  // namespace

// x16 calls with more rows than the GEMV tiles serve take the int16 GEMM (dispatch.cc has
// set call.x16 only where it applies); where the VNNI tiles would leave lanes idle on the
// last rows, those run as calls of their own (vnni_tiled_rows).
void linear_avx512vnni(const LinearCall& call) {
  if (call.x16 && call.m > kX16TileMaxRows) {
    const int64_t tiled = vnni_tiled_rows(call);
    if (tiled < call.m) {
      LinearCall part = call;
      part.m = tiled;
      if (tiled > 0) linear_avx512vnni(part);  // whole blocks: no rows left over
      for (int64_t row = tiled; row < call.m; row += part.m) {
        part.m = min64(kGroupedMaxRows, call.m - row);
        part.x = call.x + row * call.ld_x;
        part.y = call.y + row * call.ld_y;
        linear_avx512vnni(part);
      }
      return;
    }
  }
  if (int8_vnni_grouped_applies(call)) return gemm_int8_vnni_grouped(call);
  if (int4_vnni_grouped_applies(call)) return gemm_int4_vnni_grouped(call);
  if (int8_vnni_gemm_applies(call)) return gemm_int8_vnni(call);
  if (int4_vnni_gemm_applies(call)) return gemm_int4_vnni(call);
  if (call.x16 && call.m > kX16TileMaxRows) return gemm_x16<GemmX16>(call);
  run_avx512<VecX16, X16SplitInt4>(call);
}

}  // namespace tusk::kernels::detail
