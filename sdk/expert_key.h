// Names one expert of one sparse layer: what caches, policies and (later) prefetch and
// warm-start tables are keyed by.
#pragma once

#include <string>
#include <tuple>

#include "model_format/tensor_types.h"

namespace tusk::sdk {

struct ExpertKey {
  format::Stack stack = format::Stack::Encoder;
  int layer = 0;
  int expert = 0;

  bool operator<(const ExpertKey& o) const {
    return std::tuple(static_cast<int>(stack), layer, expert) <
           std::tuple(static_cast<int>(o.stack), o.layer, o.expert);
  }
  bool operator==(const ExpertKey& o) const {
    return stack == o.stack && layer == o.layer && expert == o.expert;
  }
  bool operator!=(const ExpertKey& o) const { return !(*this == o); }

  // "encoder layer 1 expert 3", for messages.
  std::string describe() const {
    return std::string(stack == format::Stack::Encoder ? "encoder" : "decoder") + " layer " +
           std::to_string(layer) + " expert " + std::to_string(expert);
  }
};

}  // namespace tusk::sdk
