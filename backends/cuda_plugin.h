// The seam between libtusk.so and libtusk_cuda.so: the CUDA backend lives in its own library,
// loaded at run time (dlopen) when a translator asks for a CUDA device, so libtusk.so itself
// needs no CUDA library and runs unchanged on machines without one.
//
// The plugin exports one C function, kEntrySymbol, returning its Entry. Both sides are built
// from the same sources in one build: `abi` is a digest of the headers the seam passes types
// through (CMake's TUSK_BACKEND_ABI), and the loader refuses a plugin from another build.
#pragma once

#include <cstddef>

#include "backends/backend.h"

namespace tusk::backends::cuda_plugin {

constexpr const char* kEntrySymbol = "tusk_cuda_plugin_entry";
constexpr const char* kLibraryName = "libtusk_cuda.so";

struct Entry {
  const char* abi;
  // CUDA devices this process can use; 0 with a reason in `why` (no driver, no GPU). Never
  // throws.
  int (*device_count)(char* why, size_t why_size);
  // A backend on device options.device_index; throws tusk::Error with a clear message when it
  // cannot (no driver, no such device, no kernel image for the GPU's architecture).
  Backend* (*create)(const BackendOptions& options);
};

using EntryFunction = const Entry* (*)();

}  // namespace tusk::backends::cuda_plugin
