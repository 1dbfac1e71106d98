// TUSK_VECTOR_CLONES: built for AVX-512, AVX2 and the baseline, the loader picking one per
// machine (GCC target_clones, an IFUNC). Not under ThreadSanitizer: the IFUNC resolver is
// instrumented too and runs while libraries are relocated, before TSan's runtime starts, and
// crashes the process; that build keeps the baseline version only.
#pragma once

#if defined(__SANITIZE_THREAD__)
#define TUSK_VECTOR_CLONES
#else
#define TUSK_VECTOR_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#endif
