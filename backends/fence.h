// Completion of the work a backend has been given. A backend that runs work asynchronously
// (CUDA streams) hands out fences that complete when the GPU is done; the CPU backend's ops
// are synchronous, so its fences are complete when made. Expert pins end with a fence
// (sdk/expert_source.h): an expert's memory is reused only once the work that read it is done.
// A backend's fences complete in the order it made them (its work is one ordered stream).
#pragma once

#include <memory>

namespace tusk::backends {

class Fence {
 public:
  virtual ~Fence() = default;
  virtual bool done() const = 0;  // thread-safe
  virtual void wait() const = 0;  // blocks until done; thread-safe
};

using FencePtr = std::shared_ptr<const Fence>;

// A fence that is complete already (what synchronous backends return).
FencePtr completed_fence();

}  // namespace tusk::backends
