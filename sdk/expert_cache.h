// An expert source bounded by a byte budget: experts are decoded from their frames on first
// use, kept while they fit, and evicted (unpinned ones only, in the order an EvictionPolicy
// picks) to make room. Owned by one translator (DESIGN.md, "Threads"); the bytes counted are
// decoded expert bytes (ModelFile::expert_raw_bytes), the memory an expert costs once loaded.
//
// Why a budget of one largest expert always works: MoeLayer::forward acquires one expert at a
// time and releases it before acquiring the next, and encoder and decoder run one after the
// other on the translator's thread, so at most one expert is pinned when a miss needs room.
// Everything else can be evicted. Prefetch (a background thread loading ahead) will add pins
// of its own and must keep the same guarantee for the compute thread.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>

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
  // Decodes key. Thread-safe.
  virtual LoadedExpert load(const ExpertKey& key) const = 0;
};

class FileExpertLoader final : public ExpertLoader {
 public:
  explicit FileExpertLoader(std::shared_ptr<const format::ModelFile> file) : file_(std::move(file)) {}
  uint64_t bytes(const ExpertKey& key) const override;
  LoadedExpert load(const ExpertKey& key) const override;

 private:
  std::shared_ptr<const format::ModelFile> file_;
};

// Counters since the cache was made. A hit is an acquire served from the cache, a miss one
// that had to load; hits + misses = acquires.
struct ExpertCacheStats {
  uint64_t hits = 0;
  uint64_t misses = 0;
  uint64_t evictions = 0;
  uint64_t bytes_loaded = 0;      // decoded bytes brought in by misses (and later prefetches)
  uint64_t prefetch_issued = 0;   // experts a prefetcher started loading (no prefetch yet: 0)
  uint64_t prefetch_used = 0;     // of those, acquired before eviction (0 for now)
  uint64_t peak_cache_bytes = 0;  // most decoded bytes held at once (never above the budget)
  uint64_t cache_bytes = 0;       // decoded bytes held now
  double stall_ms = 0.0;          // time acquire spent loading on a miss (the caller waited)
};

class CachedExpertSource final : public ExpertSource {
 public:
  // budget_bytes must hold the largest expert the loader can be asked for (the translator
  // checks that against the model); a smaller budget is an error on the miss that needs it.
  CachedExpertSource(std::shared_ptr<const ExpertLoader> loader, uint64_t budget_bytes,
                     std::unique_ptr<EvictionPolicy> policy);

  // Thread-safe. A miss loads while holding the cache's lock (one compute thread per
  // translator; prefetch will load outside it). Throws Internal if the expert cannot fit
  // because everything else is pinned (see the header comment: cannot happen for MoeLayer).
  PinnedExpert acquire(format::Stack stack, int layer, int expert) override;

  ExpertCacheStats stats() const;  // thread-safe
  uint64_t budget_bytes() const { return budget_; }

 protected:
  void release(void* token) override;

 private:
  struct Entry {
    LoadedExpert expert;
    uint64_t bytes = 0;
    int pins = 0;
  };
  // Evicts unpinned entries, in the policy's order, until `bytes` more fit the budget.
  void make_room(uint64_t bytes, const ExpertKey& wanted);

  const std::shared_ptr<const ExpertLoader> loader_;
  const uint64_t budget_;
  mutable std::mutex mutex_;
  std::unique_ptr<EvictionPolicy> policy_;
  std::map<ExpertKey, Entry> entries_;  // map: entries do not move, so &Entry is a pin token
  ExpertCacheStats stats_;
};

}  // namespace tusk::sdk
