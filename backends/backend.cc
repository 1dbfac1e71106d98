// Device -> backend: the one place that knows which backends this build has; and the
// complete fence synchronous backends hand out.
#include "backends/backend.h"

#include "common/error.h"

namespace tusk::backends {

namespace {

class CompletedFence final : public Fence {
 public:
  bool done() const override { return true; }
  void wait() const override {}
};

}  // namespace

FencePtr completed_fence() {
  static const FencePtr fence = std::make_shared<CompletedFence>();
  return fence;
}

std::vector<Device> available_devices() { return {Device::Cpu}; }

std::unique_ptr<Backend> make_backend(const BackendOptions& options) {
  switch (options.device) {
    case Device::Cpu:
      return make_cpu_backend(options.threads, options.int8_activations);
    case Device::Cuda:
      break;
  }
  throw Error(ErrorCode::Unsupported, "the CUDA backend is not available in this build yet");
}

}  // namespace tusk::backends
