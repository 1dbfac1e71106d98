// Functions that both the host compiler and nvcc build: under nvcc they are device functions
// too, so CPU code, CUDA kernels and host tests share one definition of the same rule.
#pragma once

#if defined(__CUDACC__)
#define TUSK_HOST_DEVICE __host__ __device__ inline
#else
#define TUSK_HOST_DEVICE inline
#endif
