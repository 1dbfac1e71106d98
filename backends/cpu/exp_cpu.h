// e^(x - max) over rows of floats, vectorized: the softmax, log-softmax and attention of the
// CPU backend. Internal to backends/cpu.
#pragma once

#include <cstdint>
#include <cstring>

namespace tusk::backends::cpu {
namespace {  // internal linkage: inlined where used

// Four floats (GCC/Clang vector extensions: SSE2 on x86-64, NEON on arm64) and their lanes'
// masks.
typedef float F4 __attribute__((vector_size(16)));
typedef int32_t I4 __attribute__((vector_size(16)));

// e^x lane by lane for x <= 0 (values minus their row's maximum), relative error below 1.1e-7
// (about 2 ulp; checked on every float in [-87.3, 0]). Why not std::exp: it is a scalar libm
// call, and the 8000-token log-softmax of every decoding step spent ~4% of a batch-1
// translation in it; the compiler does not vectorize a scalar version of this either (its
// clamp reads as control flow under -ftrapping-math).
// x = n ln2 + r with |r| <= ln2 / 2; e^r by its degree-7 Taylor polynomial (truncation < 6e-9
// on that interval); 2^n by building the exponent bits. Below -87.3 (where e^x leaves the
// normal floats), -inf and NaN give 0.
// Any width: F a float vector type and I the int32 vector of as many lanes. (By reference:
// wide vectors by value would draw GCC's ABI note for targets without them.)
template <class F, class I>
inline __attribute__((always_inline)) void exp_nonpositive_lanes(const F& x, F& out) {
  constexpr float kLog2e = 1.44269504f, kLn2Hi = 0.693359375f, kLn2Lo = -2.12194440e-4f;
  constexpr float kRound = 12582912.0f;  // 1.5 * 2^23: adding it rounds to an integer
  const F lowest = F{} - 87.3f;
  const I keep = x >= lowest;  // all ones where x is in range
  const F xc = keep ? x : lowest;  // keeps the int conversion below in range (-inf, NaN)
  const F n = (xc * kLog2e + kRound) - kRound;
  const F r = (xc - n * kLn2Hi) - n * kLn2Lo;
  F p = F{} + 1.0f / 5040.0f;
  p = p * r + 1.0f / 720.0f;
  p = p * r + 1.0f / 120.0f;
  p = p * r + 1.0f / 24.0f;
  p = p * r + 1.0f / 6.0f;
  p = p * r + 0.5f;
  p = p * r + 1.0f;
  p = p * r + 1.0f;
  const F scale = reinterpret_cast<F>((__builtin_convertvector(n, I) + 127) << 23);
  out = reinterpret_cast<F>(reinterpret_cast<I>(p * scale) & keep);
}

inline F4 exp_nonpositive(F4 x) {
  F4 e;
  exp_nonpositive_lanes<F4, I4>(x, e);
  return e;
}

// Four values from x[c..c + count) (count <= 4), -inf past the end (e^-inf = 0).
inline F4 load4(const float* x, int64_t count) {
  F4 v = F4{} - __builtin_inff();
  std::memcpy(&v, x, static_cast<size_t>(count) * sizeof(float));
  return v;
}

// xr[c] = e^(xr[c] - m) when `store`, for m >= every xr[c]; returns the sum of those
// exponentials.
inline float exp_shifted(float* xr, int64_t cols, float m, bool store) {
  F4 sum = F4{};
  int64_t c = 0;
  for (; c + 4 <= cols; c += 4) {
    F4 v;
    std::memcpy(&v, xr + c, sizeof v);
    const F4 e = exp_nonpositive(v - m);
    sum += e;
    if (store) std::memcpy(xr + c, &e, sizeof e);
  }
  if (c < cols) {
    const F4 e = exp_nonpositive(load4(xr + c, cols - c) - m);
    sum += e;
    if (store) std::memcpy(xr + c, &e, static_cast<size_t>(cols - c) * sizeof(float));
  }
  return (sum[0] + sum[1]) + (sum[2] + sum[3]);
}

}  // namespace
}  // namespace tusk::backends::cpu
