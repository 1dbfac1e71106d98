// The device tier of expert paging: file -> host (the paging cache, or the resident experts)
// -> device. Experts are prepared for the backend's device (Backend::prepare) on acquire and
// kept within a budget of device bytes.
//
// A backend that reads host memory in place (the CPU) prepares by borrowing: nothing is copied
// or kept, each device pin holds the expert's host pin and hands it the fence, so the host
// tier's budget is the only one that counts. A backend that copies (a GPU) keeps prepared
// experts while they fit the device budget, evicting unpinned ones, least recently used first,
// once the fence of the last work that read them is done (a miss that needs the room waits for
// it); the host pin ends with the fence of the upload that read the host bytes.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <vector>

#include "backends/backend.h"
#include "sdk/expert_source.h"

namespace tusk::sdk {

struct DeviceTierStats {
  uint64_t hits = 0, misses = 0, evictions = 0;
  uint64_t prefetched = 0;  // experts copied on a Soon hint, ahead of their acquire
  uint64_t device_bytes = 0, peak_device_bytes = 0;  // prepared copies held (0 when borrowing)
};

class DeviceExpertTier final : public ExpertSource {
 public:
  // budget_bytes: device bytes of prepared experts to keep; 0 keeps every expert prepared
  // (no limit). host and backend must outlive the tier.
  DeviceExpertTier(ExpertSource& host, backends::Backend& backend, uint64_t budget_bytes);
  ~DeviceExpertTier() override;

  // Thread-safe where the backend is: prepare() and fence() run on the acquiring thread (a
  // translator's tier is used by its own thread). Throws InvalidArgument when one expert's
  // prepared bytes exceed the budget.
  PinnedExpert acquire(format::Stack stack, int layer, int expert) override;
  // Without a device budget, the host's limit; with one, one at a time (prepared sizes are
  // learnt only on load).
  int max_pinned() const override { return budget_ == 0 ? host_.max_pinned() : 1; }
  // Hints go to the host tier; a backend that copies also takes Soon hints itself: it starts
  // copying the predicted experts the host tier holds already (try_acquire), into free budget
  // only (a prefetch never evicts), so the uploads overlap the work in flight.
  bool wants_hints() const override { return host_.wants_hints() || copies_.load(); }
  void hint(format::Stack stack, int layer, const std::vector<int>& experts, ExpertHint kind) override;

  DeviceTierStats stats() const;

 protected:
  void release(void* token, backends::FencePtr work_done) override;

 private:
  struct Entry {
    ExpertKey key;
    ExpertFfn ffn;                          // views of keep (copied), or of the host pin
    std::vector<backends::Tensor> keep;     // the prepared copies; empty when borrowed
    std::unique_ptr<PinnedExpert> host;     // borrowed: the host pin, held while pinned here
    uint64_t bytes = 0;
    int pins = 0;
    backends::FencePtr busy;                // the last work that read it
    std::list<Entry*>::iterator lru;        // cached entries only
  };
  using Lock = std::unique_lock<std::mutex>;

  std::unique_ptr<Entry> prepare(const ExpertKey& key, PinnedExpert host);
  void make_room(Lock& lock, uint64_t bytes);
  // Adds a prepared copy to the cache (the caller made room); returns it.
  Entry* insert(std::unique_ptr<Entry> entry);

  ExpertSource& host_;
  backends::Backend& backend_;
  const uint64_t budget_;
  mutable std::mutex mutex_;
  std::map<ExpertKey, std::unique_ptr<Entry>> cached_;  // copied experts
  std::list<Entry*> lru_;                                 // least recently used first
  DeviceTierStats stats_;
  std::atomic<bool> copies_{false};  // the backend copies (known from the first prepare)
  uint64_t largest_ = 0;             // the largest prepared copy so far
};

}  // namespace tusk::sdk
