// Linear layers over quantized weights, dequantized in registers (never into a full-precision
// copy of the matrix), with runtime ISA dispatch.
//
// Weights are [n, k] (out_features x in_features), symmetric, with one fp32 scale per
// (row, group of `group` consecutive input columns): w[r][c] = q[r][c] * scale[r][c / group].
// group == k means one scale per output channel. The byte layout of `data` belongs to this
// module: producers quantize to plain int8 values and call pack_weights(); the .tusk file
// stores the packed bytes as they are, so the engine uses them in place from the mmap.
#pragma once

#include <cstddef>
#include <cstdint>

namespace tusk::kernels {

enum class WeightType : uint8_t {
  Int8 = 0,  // q in [-127, 127], one byte each
  Int4 = 1,  // q in [-8, 7], two per byte
  F16 = 2,   // IEEE half, no scales (scales == nullptr)
};

struct PackedWeights {
  WeightType type;
  const void* data;      // pack_weights() output, 64-byte aligned
  const float* scales;   // [n, k / group] row-major; null for F16
  int64_t n, k, group;
};

// Bytes pack_weights() writes for an [n, k] matrix: n*k (Int8), n*k/2 (Int4), 2*n*k (F16).
size_t packed_bytes(WeightType type, int64_t n, int64_t k);

// Shape rules for a type: Int4 needs k % 64 == 0 and group % 64 == 0 (kernels work on
// 64-column blocks); Int8 needs k % 32 == 0 and group % 32 == 0; group must divide k.
// Returns null when valid, else a static message.
const char* check_shape(WeightType type, int64_t n, int64_t k, int64_t group);

// Packs plain values: Int8/Int4 from int8_t q[n*k] (row-major, already clamped to the type's
// range); F16 from uint16_t halves[n*k]. `out` must hold packed_bytes().
void pack_weights(WeightType type, const void* values, int64_t n, int64_t k, void* out);
// The inverse, for tests and `tusk inspect`: writes int8_t (Int8/Int4) or uint16_t (F16).
void unpack_weights(WeightType type, const void* packed, int64_t n, int64_t k, void* values);

// out[k] = dequantized row `row` of w (embedding lookups read single rows).
void dequantize_row(const PackedWeights& w, int64_t row, float* out);

enum class Isa : uint8_t { Generic = 0, Avx2 = 1, Avx512 = 2, Avx512Vnni = 3 };

const char* isa_name(Isa isa);
// Whether this CPU (and OS) can run isa.
bool isa_supported(Isa isa);
// The best supported level, capped by the environment variable TUSK_CPU_ISA
// (generic|avx2|avx512|avx512vnni) when set; read once per process.
Isa active_isa();

// y[m, n] = act(x[m, k] @ dequant(w)^T + bias) with x rows ld_x floats apart and y rows ld_y
// floats apart; bias may be null. Uses up to `threads` OpenMP threads. isa must be supported.
void quantized_linear(Isa isa, const PackedWeights& w, const float* x, int64_t m, int64_t ld_x,
                      const float* bias, bool relu, float* y, int64_t ld_y, int threads);

}  // namespace tusk::kernels
