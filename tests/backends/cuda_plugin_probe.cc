// Asks for a CUDA backend once and prints what happened, for the loader tests in
// tests/backends/CMakeLists.txt (each its own process: the plugin loads once per process, and
// TUSK_CUDA_LIBRARY picks which library it tries).
#include <cstdio>
#include <exception>

#include "backends/backend.h"
#include "common/error.h"

int main() {
  using namespace tusk::backends;
  std::printf("available: %zu device(s)\n", available_devices().size());
  try {
    auto backend = make_backend({Device::Cuda, 1});
    std::printf("backend: %s\n", device_name(backend->device()));
    return 0;
  } catch (const tusk::Error& e) {  // from this library or from the plugin's
    std::printf("error %d: %s\n", static_cast<int>(e.code()), e.what());
    return 0;
  } catch (const std::exception& e) {
    std::printf("unexpected exception: %s\n", e.what());
    return 1;
  }
}
