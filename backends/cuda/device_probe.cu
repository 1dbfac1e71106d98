#include "backends/cuda/device_probe.h"

namespace tusk::backends::cuda {
namespace {
__global__ void probe_kernel() {}
}  // namespace

cudaError_t kernel_image_status() {
  cudaFuncAttributes attributes;
  return cudaFuncGetAttributes(&attributes, probe_kernel);
}

}  // namespace tusk::backends::cuda
