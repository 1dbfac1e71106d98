// gemv_f32's dispatch: the AVX-512 kernel where the level allows it; elsewhere the caller's
// general path.
#include "kernels/cpu/gemv_f32.h"

namespace tusk::kernels {

bool gemv_f32_avx512(const float* x, int64_t m, int64_t ld_x, const float* w, int64_t n,
                     int64_t k, const float* bias, bool relu, float* y, int64_t ld_y, int threads);

bool gemv_f32(Isa isa, const float* x, int64_t m, int64_t ld_x, const float* w, int64_t n,
              int64_t k, const float* bias, bool relu, float* y, int64_t ld_y, int threads) {
  if (isa < Isa::Avx512 || m < 1 || m > 4 || n < 1 || k < 1) return false;
  return gemv_f32_avx512(x, m, ld_x, w, n, k, bias, relu, y, ld_y, threads);
}

}  // namespace tusk::kernels
