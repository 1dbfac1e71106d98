// <immintrin.h> for the AVX-512 TUs. GCC 12's AVX-512 intrinsics start from
// _mm512_undefined_*() and trip -Wuninitialized inside the header itself (GCC bug 105593,
// fixed in 13): silenced for that header only. Include it before anything that includes
// <immintrin.h>, so this is the inclusion that counts.
#pragma once

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>
#pragma GCC diagnostic pop
#else
#include <immintrin.h>
#endif
