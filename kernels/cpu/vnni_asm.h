// acc += the VNNI dot products of a and b, in place, for the AVX-512 VNNI TU only.
//
// Why asm: the intrinsics return a new accumulator, and GCC 12 copies accumulators that live
// in arrays around each call: two extra register moves per vpdpwssd / vpdpbusd in the x16
// loops, which left the VNNI micro-kernel of gemm_x16.h at ~40% of its rate.
#pragma once

#include "kernels/cpu/immintrin_avx512.h"

#include <cstdint>

namespace tusk::kernels::detail {
namespace {

// acc += sum over each 32-bit lane of the two int16 products of a and b (vpdpwssd).
__attribute__((always_inline)) inline void dpwssd(__m512i& acc, __m512i a, __m512i b) {
  __asm__("vpdpwssd %2, %1, %0" : "+v"(acc) : "v"(a), "v"(b));
}

// acc += sum over each 32-bit lane of the four products of unsigned bytes u and signed bytes s
// (vpdpbusd).
__attribute__((always_inline)) inline void dpbusd(__m512i& acc, __m512i u, __m512i s) {
  __asm__("vpdpbusd %2, %1, %0" : "+v"(acc) : "v"(u), "v"(s));
}

// acc += vpdpbusd(u, the 32-bit word at s broadcast to every lane): the broadcast is the
// instruction's own memory operand ({1to16}), no separate load.
__attribute__((always_inline)) inline void dpbusd_broadcast(__m512i& acc, __m512i u, const int32_t* s) {
  __asm__("vpdpbusd %2%{1to16%}, %1, %0" : "+v"(acc) : "v"(u), "m"(*s));
}

}  // namespace
}  // namespace tusk::kernels::detail
