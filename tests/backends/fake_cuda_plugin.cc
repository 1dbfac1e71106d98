// Stand-ins for libtusk_cuda.so that build without CUDA, so the loader's refusals are tested
// on every machine. FAKE_PLUGIN picks one: 1 an entry from another build (wrong ABI), 2 no
// entry at all, 3 the right entry that finds no GPU and refuses to create a backend (its
// tusk::Error must reach the caller across the library boundary).
#include "backends/cuda_plugin.h"

#include <cstdio>

#include "common/error.h"

#if FAKE_PLUGIN != 2
namespace {

int device_count(char* why, size_t size) {
  std::snprintf(why, size, "fake plugin: no GPU here");
  return 0;
}

tusk::backends::Backend* create(const tusk::backends::BackendOptions&) {
  throw tusk::Error(tusk::ErrorCode::Unsupported, "fake plugin: create refused");
}

#if FAKE_PLUGIN == 1
const tusk::backends::cuda_plugin::Entry kEntry{"another-build", &device_count, &create};
#elif FAKE_PLUGIN == 3
const tusk::backends::cuda_plugin::Entry kEntry{TUSK_BACKEND_ABI, &device_count, &create};
#endif

}  // namespace

extern "C" __attribute__((visibility("default"))) const tusk::backends::cuda_plugin::Entry* tusk_cuda_plugin_entry() {
  return &kEntry;
}
#else
extern "C" __attribute__((visibility("default"))) int not_a_plugin() { return 0; }
#endif
