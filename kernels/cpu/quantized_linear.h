// Linear layers over quantized weights, dequantized in registers (never into a full-precision
// copy of the matrix), with runtime ISA dispatch.
//
// Weights are [n, k] (out_features x in_features), symmetric, with one fp32 scale per
// (row, group of `group` consecutive input columns): w[r][c] = q[r][c] * scale[r][c / group].
// The bytes are in the stored layouts the layout library defines (model_format/layout/
// weight_layout.h: Int8 rows, Int4 64-column nibble blocks, F16 rows), used in place from the
// mmap; the kernels read them as defined there.
// quantized_linear computes x . (q * scale) with fp32 activations and fp32 accumulation on
// every ISA level; quantized_linear_x16 is the opt-in int16-activation GEMV (see below).
#pragma once

#include <cstddef>
#include <cstdint>

#include "model_format/layout/weight_layout.h"

namespace tusk::kernels {

// The kernels take the stored layouts as they are.
using WeightType = weight_layout::Layout;
using weight_layout::check_shape;
using weight_layout::pack_weights;
using weight_layout::packed_bytes;
using weight_layout::unpack_weights;

struct PackedWeights {
  WeightType type;
  const void* data;      // pack_weights() output, 64-byte aligned
  const float* scales;   // [n, k / group] row-major; null for F16
  int64_t n, k, group;
};

// out[k] = dequantized row `row` of w (embedding lookups read single rows).
void dequantize_row(const PackedWeights& w, int64_t row, float* out);

enum class Isa : uint8_t { Generic = 0, Avx2 = 1, Avx512 = 2, Avx512Vnni = 3 };

const char* isa_name(Isa isa);
// Whether this CPU (and OS) can run isa.
bool isa_supported(Isa isa);
// The best supported level, capped by the environment variable TUSK_CPU_ISA
// (generic|avx2|avx512|avx512vnni) when set; read once per process.
Isa active_isa();
// The rule active_isa() applies to a TUSK_CPU_ISA value (null or empty: no cap), exposed for
// tests: a supported level is taken as is; an unknown name or a level this CPU cannot run
// falls back to the best supported level and prints one warning to stderr per call.
Isa select_isa(const char* requested);
// Avx512Vnni differs from Avx512 only in quantized_linear_x16, where vpdpwssd fuses the
// int16 multiply-add-accumulate.

// y[m, n] = act(x[m, k] @ dequant(w)^T + bias) with x rows ld_x floats apart and y rows ld_y
// floats apart; bias may be null. Uses up to `threads` OpenMP threads (small products run on
// the calling thread). Only y[i][0..n) is written, never the padding up to ld_y.
// m <= 4 takes the GEMV path (weights streamed once, dequantized in registers); larger m the
// GEMM path (a per-thread tile of 16 or 32 rows x 256 columns is dequantized to fp32 and
// reused across all m rows). Throws std::invalid_argument when isa is not supported, the
// shape fails check_shape(), ld_x < k, ld_y < n or a needed pointer is null. Reentrant:
// concurrent calls are fine (scratch is per calling thread).
void quantized_linear(Isa isa, const PackedWeights& w, const float* x, int64_t m, int64_t ld_x,
                      const float* bias, bool relu, float* y, int64_t ld_y, int threads);

// The same product, a separate opt-in path: for Int4/Int8 weights each row of x is quantized
// to int16 (scale_i = max|x_i| / 32767, round to nearest) and the dot products are exact in
// int32 (vpmaddwd, or vpdpwssd / vpdpbusd on Avx512Vnni). It applies at m <= 8 on every level
// (m <= 4: the GEMV; 5..8: its tiles, 4 rows of x at a time) and at any m on the SIMD levels
// where each 256-column panel lies in one scale group (per-channel scales, or groups a
// multiple of 256): there an int16 GEMM on weights repacked per panel (gemm_x16.h; on
// Avx512Vnni 1.2-2.5x the fp32 GEMM, bench_gemm; for Int8 and Int4 there, the same sums from
// the stored bytes with vpdpbusd, gemm_int8_vnni.h, gemm_int4_vnni.h, and the same sums again
// for a few rows in lane groups instead of the GEMV tiles, gemm_vnni_grouped.h: with k <= 256
// 2 .. 8 rows or those past the last block of 16, and for Int8 with k > 256 4 .. 8 rows of
// matrices of 1 MiB or more; each panel in one scale group, k % 64 == 0). The only added error is the rounding of x: |y - y_fp32| <= 0.5 * scale_i * sum_c |w[r][c]| (plus fp32 rounding). Measured
// against the fp32 path on Gaussian activations with 1% outliers at 20 sigma: relative RMS
// 1e-4 to 2.5e-4, max error 3e-4 of max|y| (k = 256..8192), far below int4's own
// quantization error; plain Gaussian activations: 3e-5 to 6e-5. Why: with fp32 activations every 8
// weights cost a mask, an int->float conversion and an FMA, which keeps int4 GEMV
// compute-bound on an AVX2 core (~12 GB/s of int4 weights on the dev machine, a third of its
// copy bandwidth); int16 needs about 3.5 integer ops per 16 weights and gets within reach of
// memory speed. F16 weights, and larger m where the int16 GEMM does not apply, take the fp32
// path unchanged.
// x must be finite. Same arguments, checks and threading as quantized_linear.
void quantized_linear_x16(Isa isa, const PackedWeights& w, const float* x, int64_t m, int64_t ld_x,
                          const float* bias, bool relu, float* y, int64_t ld_y, int threads);

// An approximation offered as an option (never the default): quantized_linear_x16, except that
// where the Avx512Vnni level's Int8 kernels read the stored bytes (k a multiple of 64 up to
// 16384; m > 8, or with k <= 256 also 4 and 6 .. 8 rows, or with k > 256 4 .. 8 rows of a
// matrix of 1 MiB or more, each panel in one scale group, gemm_vnni_grouped.h) each row of x
// is quantized to int8 (scale max|x| / 127), as CTranslate2's int8 does: one vpdpbusd per 4
// columns instead of two, about twice the multiply rate, with x's rounding error
// |y - y_fp32| <= 0.5 * (max|x_i| / 127) * sum_c |w[r][c]|, 258 times the int16 bound.
// Everywhere else it is quantized_linear_x16, bit for bit; so are the rows of a larger call
// that run apart on the GEMV tiles (of m > 8 rows with k <= 256, up to 3 past the last block
// of 16, or past 8 more, vnni_tiled_rows).
void quantized_linear_x8(Isa isa, const PackedWeights& w, const float* x, int64_t m, int64_t ld_x,
                         const float* bias, bool relu, float* y, int64_t ld_y, int threads);

}  // namespace tusk::kernels
