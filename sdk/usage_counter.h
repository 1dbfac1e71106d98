// Counts acquires per expert on their way to another expert source: how calibration measures
// which experts a language pair uses. Pins, hints and results are the wrapped source's.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <utility>

#include "sdk/expert_source.h"

namespace tusk::sdk {

class UsageCounter final : public ExpertSource {
 public:
  explicit UsageCounter(ExpertSource& inner) : inner_(inner) {}

  PinnedExpert acquire(format::Stack stack, int layer, int expert) override {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      ++counts_[{stack, layer, expert}];
    }
    return inner_.acquire(stack, layer, expert);  // the pin releases through inner_
  }
  int max_pinned() const override { return inner_.max_pinned(); }
  std::optional<PinnedExpert> try_acquire(format::Stack stack, int layer, int expert) override {
    return inner_.try_acquire(stack, layer, expert);  // not a use: not counted
  }
  bool wants_hints() const override { return inner_.wants_hints(); }
  void hint(format::Stack stack, int layer, const std::vector<int>& experts, ExpertHint kind) override {
    inner_.hint(stack, layer, experts, kind);
  }

  // The counts since the last take, and a fresh start.
  std::map<ExpertKey, uint64_t> take() {
    std::lock_guard<std::mutex> lock(mutex_);
    return std::exchange(counts_, {});
  }

 protected:
  void release(void*, backends::FencePtr) override {}  // never called: handles point at inner_

 private:
  ExpertSource& inner_;
  std::mutex mutex_;
  std::map<ExpertKey, uint64_t> counts_;
};

}  // namespace tusk::sdk
