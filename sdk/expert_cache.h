// An expert source bounded by a byte budget: experts are decoded from their frames on first
// use (or ahead of it, by a prefetch thread), kept while they fit, and evicted (unpinned ones
// only, in the order an EvictionPolicy picks) to make room. Owned by one translator
// (DESIGN.md, "Threads"); the bytes counted are decoded expert bytes
// (ModelFile::expert_raw_bytes), the memory an expert costs once loaded.
//
// Why a budget of one largest expert always works: MoeLayer::forward pins at most
// max_pinned() experts at once (budget / largest expert, at least 1) and releases them before
// pinning more, and encoder and decoder run one after the other on the translator's thread,
// so when a miss needs room the pinned experts and the new one fit the budget together.
// The prefetcher never waits for room: it loads only what fits after evicting experts nobody
// is about to use, and skips the rest. A miss may evict anything unpinned and, if the budget
// is held by loads in flight, waits for them to finish and then evicts them.
//
// Pins end with a fence (PinnedExpert::release_after): an expert whose fence is not done yet
// is not evicted, and its bytes are not reused, until it is; a miss that needs its room waits
// for the fence. With the CPU backend the fences are complete at once.
//
// Prefetch (optional): the MoE layers send hints (ExpertSource::hint). A Now hint (the experts
// the layer about to run will acquire, in order) replaces the prefetch queue; Soon hints
// (predictions for the next sparse layer) queue behind it. One background thread loads the
// queue front to back outside the cache's lock, so loading expert e+1 overlaps computing
// with expert e, and the next layer's experts load while this one computes. Hinted experts
// not yet acquired are protected from the prefetcher's own evictions.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include "model_format/model_file.h"
#include "sdk/eviction_policy.h"
#include "sdk/expert_source.h"

namespace tusk::sdk {

// Where a cache gets experts from. The file-backed loader below is the real one; tests use
// fakes, and later loaders may read frames differently (pread instead of mmap, a device tier).
class ExpertLoader {
 public:
  virtual ~ExpertLoader() = default;
  // Decoded bytes of key: what it costs in the cache. Must be the same before and after load.
  virtual uint64_t bytes(const ExpertKey& key) const = 0;
  // Decodes key into `into`, which may hold an evicted expert whose bytes can be reused.
  // Thread-safe (the prefetch thread and the compute thread load concurrently).
  virtual void load(const ExpertKey& key, LoadedExpert& into) const = 0;
};

class FileExpertLoader final : public ExpertLoader {
 public:
  // direct: O_DIRECT reads (format::ModelFile::load_expert).
  explicit FileExpertLoader(std::shared_ptr<const format::ModelFile> file, bool direct = false)
      : file_(std::move(file)), direct_(direct) {}
  uint64_t bytes(const ExpertKey& key) const override;
  void load(const ExpertKey& key, LoadedExpert& into) const override;

 private:
  std::shared_ptr<const format::ModelFile> file_;
  bool direct_;
};

// Counters since the cache was made. A hit is an acquire served from the cache (including an
// expert the prefetcher loaded, or was still loading), a miss one that loaded on the calling
// thread; hits + misses = acquires.
struct ExpertCacheStats {
  uint64_t hits = 0;
  uint64_t misses = 0;
  uint64_t evictions = 0;
  uint64_t bytes_loaded = 0;      // decoded bytes brought in by misses and prefetches
  uint64_t prefetch_issued = 0;   // experts the prefetcher loaded
  uint64_t prefetch_used = 0;     // of those, acquired before eviction
  uint64_t peak_cache_bytes = 0;  // most decoded bytes held at once (never above the budget)
  uint64_t cache_bytes = 0;       // decoded bytes held now (loads in flight included)
  uint64_t preloaded = 0;         // experts loaded by preload (warm start)
  double stall_ms = 0.0;          // time acquire waited: loading on a miss, or for a load in flight
};

class CachedExpertSource final : public ExpertSource {
 public:
  // budget_bytes must hold the largest expert the loader can be asked for (the translator
  // checks that against the model); a smaller budget is an error on the miss that needs it.
  // prefetch starts the background thread that acts on hints; without it hints are ignored.
  // keep = false drops each expert as soon as its last pin goes (no reuse at all): naive
  // on-demand loading, the baseline the benchmarks compare paging with.
  // largest_expert_bytes: the largest expert the loader holds, so that max_pinned() can allow
  // budget / largest pins at once (0, unknown: one at a time).
  CachedExpertSource(std::shared_ptr<const ExpertLoader> loader, uint64_t budget_bytes,
                     std::unique_ptr<EvictionPolicy> policy, bool prefetch = false, bool keep = true,
                     uint64_t largest_expert_bytes = 0);
  ~CachedExpertSource() override;

  // Thread-safe. Loads outside the cache's lock; concurrent acquires of one expert share one
  // load. Throws Internal if the expert cannot fit because everything else is pinned (see the
  // header comment: cannot happen for MoeLayer), and whatever the loader throws.
  PinnedExpert acquire(format::Stack stack, int layer, int expert) override;

  // With n pinned largest experts and n + 1 fitting the budget, a miss always finds room.
  int max_pinned() const override;
  // A loaded expert (a hit that counts as none); nothing while it is missing or loading.
  std::optional<PinnedExpert> try_acquire(format::Stack stack, int layer, int expert) override;
  bool wants_hints() const override { return prefetch_; }
  void hint(format::Stack stack, int layer, const std::vector<int>& experts, ExpertHint kind) override;

  ExpertCacheStats stats() const;  // thread-safe
  uint64_t budget_bytes() const { return budget_; }
  // Waits until the prefetch queue is empty and no prefetch load is in flight (tests, bench).
  void wait_idle();
  // Loads keys on the calling thread, in order, as far as they fit without evicting pinned or
  // hinted experts; returns how many it loaded (those already in are not counted). For warm
  // starts.
  uint64_t preload(const std::vector<ExpertKey>& keys);

 protected:
  void release(void* token, backends::FencePtr work_done) override;

 private:
  struct Entry {
    LoadedExpert expert;
    uint64_t bytes = 0;
    int pins = 0;
    bool ready = false;       // false while a load is in flight
    bool prefetched = false;  // loaded by the prefetcher
    bool used = false;        // acquired at least once
    backends::FencePtr busy;  // the last work that read it; evictable once done
  };
  using Lock = std::unique_lock<std::mutex>;

  // No pin, loaded, and no work reading it still running.
  static bool idle(const Entry& e) { return e.ready && e.pins == 0 && (!e.busy || e.busy->done()); }

  // Reserves an entry of `bytes` for key after evicting (policy order) until it fits. For the
  // prefetcher (!for_miss) only unprotected experts go, and nothing is reserved (null) when
  // they are not enough. A miss first spares the protected experts, then evicts any unpinned
  // one, then waits for loads in flight.
  Entry* reserve(Lock& lock, const ExpertKey& key, uint64_t bytes, bool for_miss);
  // Evicts the policy's victim among evictable; its bytes move to *spare if that is empty,
  // so the load that needed the room reuses them instead of allocating.
  bool evict_one(const EvictionPolicy::Evictable& evictable, LoadedExpert* spare);
  // Loads key into its reserved entry with the lock released; on failure the entry goes.
  void fill(Lock& lock, const ExpertKey& key, Entry& entry);
  void prefetch_loop();

  const std::shared_ptr<const ExpertLoader> loader_;
  const uint64_t budget_;
  const uint64_t largest_;  // the largest expert (0: unknown)
  const bool prefetch_;
  const bool keep_;
  mutable std::mutex mutex_;
  std::condition_variable loaded_;  // an entry became ready or was dropped after a failed load
  std::condition_variable work_;    // the queue grew, or the cache is closing
  std::unique_ptr<EvictionPolicy> policy_;
  std::map<ExpertKey, Entry> entries_;  // map: entries do not move, so &Entry is a pin token
  std::deque<ExpertKey> queue_;         // prefetch order
  std::set<ExpertKey> protected_;       // hinted, not yet acquired
  int in_flight_ = 0;                   // prefetch loads running
  bool closing_ = false;
  ExpertCacheStats stats_;
  std::thread worker_;  // last: started once everything above exists
};

}  // namespace tusk::sdk
