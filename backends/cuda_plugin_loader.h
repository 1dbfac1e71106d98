// Finds and loads libtusk_cuda.so once per process (backends/cuda_plugin.h). Where it looks,
// in order: the path in TUSK_CUDA_LIBRARY (only there, when set); the folder of the library
// or program holding this code, then ../lib beside it (build trees: bin/ and lib/); then the
// dynamic linker's own search (LD_LIBRARY_PATH, the installed library folder).
#pragma once

#include <string>

#include "backends/cuda_plugin.h"

namespace tusk::backends::cuda_plugin {

// The plugin's entry, or null with the reason (not found, not loadable, from another build).
// The library stays loaded for the life of the process: its backends may live that long.
const Entry* load(std::string* why);

}  // namespace tusk::backends::cuda_plugin
