// Device -> backend: the one place that knows which backends this build has.
#include "backends/backend.h"

#include "common/error.h"

namespace tusk::backends {

std::unique_ptr<Backend> make_backend(const BackendOptions& options) {
  switch (options.device) {
    case Device::Cpu:
      return make_cpu_backend(options.threads);
    case Device::Cuda:
      break;
  }
  throw Error(ErrorCode::Unsupported, "the CUDA backend is not available in this build yet");
}

}  // namespace tusk::backends
