// The CUDA backend (inside libtusk_cuda.so; libtusk.so reaches it through
// backends/cuda_plugin.h). The caller has checked that the device exists and can run our
// kernels (cuda_plugin.cc).
#pragma once

#include <memory>

#include "backends/backend.h"

namespace tusk::backends::cuda {

std::unique_ptr<Backend> make_cuda_backend(const BackendOptions& options);

}  // namespace tusk::backends::cuda
