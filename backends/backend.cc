// Device -> backend: the one place that knows which backends this build has; and the
// complete fence synchronous backends hand out.
#include "backends/backend.h"

#include <string>

#include "backends/cuda_plugin_loader.h"
#include "common/error.h"

namespace tusk::backends {

namespace {

class CompletedFence final : public Fence {
 public:
  bool done() const override { return true; }
  void wait() const override {}
};

// CUDA devices this process can use, with the reason when there are none.
int cuda_device_count(std::string* why) {
  const cuda_plugin::Entry* plugin = cuda_plugin::load(why);
  if (plugin == nullptr) return 0;
  char reason[512] = {0};
  const int count = plugin->device_count(reason, sizeof reason);
  if (count <= 0 && why != nullptr) *why = reason;
  return count > 0 ? count : 0;
}

}  // namespace

FencePtr completed_fence() {
  static const FencePtr fence = std::make_shared<CompletedFence>();
  return fence;
}

std::vector<Device> available_devices() {
  std::vector<Device> devices{Device::Cpu};
  if (cuda_device_count(nullptr) > 0) devices.push_back(Device::Cuda);
  return devices;
}

std::string cuda_unavailable_reason() {
  std::string why;
  return cuda_device_count(&why) > 0 ? std::string() : why;
}

std::unique_ptr<Backend> make_backend(const BackendOptions& options) {
  switch (options.device) {
    case Device::Cpu:
      if (options.compute != Compute::F32)
        throw Error(ErrorCode::Unsupported, std::string("the CPU backend computes in fp32 only; ") +
                                                compute_name(options.compute) + " compute is a CUDA option");
      return make_cpu_backend(options.threads, options.int8_activations);
    case Device::Cuda: {
      std::string why;
      const cuda_plugin::Entry* plugin = cuda_plugin::load(&why);
      if (plugin == nullptr) throw Error(ErrorCode::Unsupported, why);
      return std::unique_ptr<Backend>(plugin->create(options));
    }
  }
  throw Error(ErrorCode::InvalidArgument, "make_backend: unknown device");
}

}  // namespace tusk::backends
