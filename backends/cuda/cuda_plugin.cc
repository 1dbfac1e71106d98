// libtusk_cuda.so's one export (backends/cuda_plugin.h): device discovery and backend creation,
// with the reasons a CUDA device cannot be used spelled out for the user.
#include "backends/cuda_plugin.h"

#include <cuda_runtime_api.h>

#include <cstdio>
#include <string>

#include "backends/cuda/cuda_backend.h"
#include "backends/cuda/device_probe.h"
#include "common/error.h"

namespace tusk::backends::cuda {
namespace {

// The devices, or the runtime's reason there are none, in words a user can act on.
int count_devices(std::string* why) {
  int count = 0;
  const cudaError_t status = cudaGetDeviceCount(&count);
  if (status == cudaSuccess && count > 0) return count;
  if (status == cudaErrorInsufficientDriver)
    *why = "CUDA: the NVIDIA driver is missing or older than this build's CUDA runtime (" +
           std::to_string(CUDART_VERSION / 1000) + "." + std::to_string(CUDART_VERSION % 1000 / 10) + ")";
  else if (status == cudaErrorNoDevice || (status == cudaSuccess && count == 0))
    *why = "CUDA: no CUDA-capable GPU is visible to this process";
  else
    *why = std::string("CUDA: the runtime could not list devices: ") + cudaGetErrorString(status);
  cudaGetLastError();
  return 0;
}

int device_count(char* why, size_t why_size) {
  std::string reason;
  const int count = count_devices(&reason);
  if (count == 0 && why != nullptr && why_size > 0) std::snprintf(why, why_size, "%s", reason.c_str());
  return count;
}

Backend* create(const BackendOptions& options) {
  std::string why;
  const int count = count_devices(&why);
  if (count == 0) throw Error(ErrorCode::Unsupported, why);
  if (options.device_index < 0 || options.device_index >= count)
    throw Error(ErrorCode::InvalidArgument, "CUDA: device cuda:" + std::to_string(options.device_index) +
                                                " does not exist; this machine has " + std::to_string(count) +
                                                " (cuda:0 .. cuda:" + std::to_string(count - 1) + ")");
  if (cudaSetDevice(options.device_index) != cudaSuccess)
    throw Error(ErrorCode::Unsupported, "CUDA: cannot use device cuda:" + std::to_string(options.device_index));
  if (const cudaError_t status = kernel_image_status(); status != cudaSuccess) {
    cudaDeviceProp prop{};
    cudaGetDeviceProperties(&prop, options.device_index);
    cudaGetLastError();
    throw Error(ErrorCode::Unsupported, "CUDA: this build has no kernels for " + std::string(prop.name) +
                                            " (compute capability " + std::to_string(prop.major) + "." +
                                            std::to_string(prop.minor) + "; built for " TUSK_CUDA_ARCHITECTURES
                                            "): " + cudaGetErrorString(status));
  }
  return make_cuda_backend(options).release();
}

const cuda_plugin::Entry kEntry{TUSK_BACKEND_ABI, &device_count, &create};

}  // namespace
}  // namespace tusk::backends::cuda

extern "C" __attribute__((visibility("default"))) const tusk::backends::cuda_plugin::Entry* tusk_cuda_plugin_entry() {
  return &tusk::backends::cuda::kEntry;
}
