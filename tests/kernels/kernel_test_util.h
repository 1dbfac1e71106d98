// Shared pieces of the kernel tests: random quantized matrices, an independent scalar
// reference (unpack_weights + double accumulation) and ISA skipping.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <ostream>
#include <random>
#include <vector>

#include "kernels/cpu/quantized_linear.h"

// Readable parameters in GoogleTest messages, each beside its type (found by ADL).
namespace tusk::kernels {
inline void PrintTo(Isa isa, std::ostream* os) { *os << isa_name(isa); }
}  // namespace tusk::kernels
namespace tusk::weight_layout {
inline void PrintTo(Layout t, std::ostream* os) { *os << layout_name(t); }
}  // namespace tusk::weight_layout

namespace tusk::kernels::test {

// Written independently of the kernels' own conversion.
inline double half_value(uint16_t h) {
  const int sign = (h >> 15) ? -1 : 1;
  const int exp = (h >> 10) & 31;
  const int mant = h & 1023;
  if (exp == 0) return sign * std::ldexp(mant, -24);
  return sign * std::ldexp(1024 + mant, exp - 25);
}

// A packed [n, k] matrix with its plain values and the dequantized reference [n][k].
struct QuantMatrix {
  WeightType type;
  int64_t n, k, group;
  std::vector<int8_t> q;        // Int4 / Int8 plain values
  std::vector<uint16_t> halves;  // F16 plain values
  std::vector<float> scales;
  std::vector<uint8_t> packed;  // 64-byte aligned view at packed_data()
  std::vector<double> ref;      // dequantized values

  QuantMatrix(WeightType t, int64_t n_, int64_t k_, int64_t group_, std::mt19937& rng)
      : type(t), n(n_), k(k_), group(group_) {
    const size_t count = static_cast<size_t>(n * k);
    if (type == WeightType::F16) {
      // Exact halves in [1/16, 8) with random signs: no conversion error to worry about.
      std::uniform_int_distribution<int> exp(11, 17), mant(0, 1023), sign(0, 1);
      halves.resize(count);
      for (auto& h : halves) h = static_cast<uint16_t>((sign(rng) << 15) | (exp(rng) << 10) | mant(rng));
    } else {
      const int lo = type == WeightType::Int4 ? -8 : -127, hi = type == WeightType::Int4 ? 7 : 127;
      std::uniform_int_distribution<int> dist(lo, hi);
      q.resize(count);
      for (auto& v : q) v = static_cast<int8_t>(dist(rng));
      std::uniform_real_distribution<float> scale(0.01f, 0.1f);
      scales.resize(static_cast<size_t>(n * (k / group)));
      for (auto& s : scales) s = scale(rng);
    }
    packed.resize(packed_bytes(type, n, k) + 64);
    const void* values = type == WeightType::F16 ? static_cast<const void*>(halves.data()) : q.data();
    pack_weights(type, values, n, k, packed_data());
    ref.resize(count);
    for (int64_t r = 0; r < n; ++r)
      for (int64_t c = 0; c < k; ++c)
        ref[r * k + c] = type == WeightType::F16
                             ? half_value(halves[r * k + c])
                             : static_cast<double>(q[r * k + c]) * scales[r * (k / group) + c / group];
  }
  QuantMatrix(const QuantMatrix&) = delete;
  QuantMatrix& operator=(const QuantMatrix&) = delete;

  uint8_t* packed_data() {
    const auto address = reinterpret_cast<uintptr_t>(packed.data());
    return packed.data() + (64 - address % 64) % 64;
  }
  PackedWeights weights() {
    return {type, packed_data(), type == WeightType::F16 ? nullptr : scales.data(), n, k, group};
  }
};

inline const char* type_name(WeightType t) {
  switch (t) {
    case WeightType::Int4: return "int4";
    case WeightType::Int8: return "int8";
    case WeightType::F16: return "f16";
  }
  return "unknown";
}

// Why this CPU cannot run isa (empty when it can).
inline const char* unsupported_reason(Isa isa) {
  if (isa_supported(isa)) return "";
  if (isa == Isa::Avx2) return "CPU lacks AVX2/FMA/F16C: level not tested on this machine";
  if (!isa_supported(Isa::Avx512)) return "CPU lacks AVX-512: level not tested on this machine";
  return "CPU lacks AVX-512 VNNI: level not tested on this machine";
}

#define TUSK_SKIP_UNLESS_SUPPORTED(isa) \
  do {                                  \
    if (!::tusk::kernels::isa_supported(isa)) GTEST_SKIP() << ::tusk::kernels::test::unsupported_reason(isa); \
  } while (0)

}  // namespace tusk::kernels::test
