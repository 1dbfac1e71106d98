// Whether this library's kernels can run on the current device: cudaSuccess when its fat
// binary holds code for the device's architecture (SASS, or PTX the driver can compile),
// cudaErrorNoKernelImageForDevice (or another error) otherwise.
#pragma once

#include <cuda_runtime_api.h>

namespace tusk::backends::cuda {

cudaError_t kernel_image_status();

}  // namespace tusk::backends::cuda
