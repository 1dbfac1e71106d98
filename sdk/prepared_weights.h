// A model's dense weights made readable by one backend (Backend::prepare): the CPU borrows the
// model's dense bytes, a device backend holds copies. Made once per model and device, shared by every
// translator on that device (Model::weights_for).
#pragma once

#include <memory>
#include <vector>

#include "backends/backend.h"
#include "sdk/weights.h"

namespace tusk::sdk {

struct PreparedWeights {
  backends::Device device = backends::Device::Cpu;
  GraphWeights graph;                  // views the backend's ops read
  std::vector<backends::Tensor> keep;  // what the views point into, when the backend copied
};

std::shared_ptr<const PreparedWeights> prepare_weights(const GraphWeights& host,
                                                       backends::Backend& backend);

}  // namespace tusk::sdk
