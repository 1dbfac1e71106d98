#include "sdk/device_expert_tier.h"

#include <algorithm>
#include <string>

#include "common/error.h"

namespace tusk::sdk {

DeviceExpertTier::DeviceExpertTier(ExpertSource& host, backends::Backend& backend,
                                   uint64_t budget_bytes)
    : host_(host), backend_(backend), budget_(budget_bytes) {}

DeviceExpertTier::~DeviceExpertTier() {
  // Work may still read cached copies: their memory goes only once it is done.
  for (auto& [key, entry] : cached_)
    if (entry->busy) entry->busy->wait();
}

std::unique_ptr<DeviceExpertTier::Entry> DeviceExpertTier::prepare(const ExpertKey& key,
                                                                   PinnedExpert host) {
  auto entry = std::make_unique<Entry>();
  entry->key = key;
  auto linear = [&](LinearWeights l) {
    if (l.weight.is_f32())
      l.weight.f32 = backend_.prepare(l.weight.f32, l.weight.out * l.weight.in, entry->keep);
    else
      l.weight.packed = backend_.prepare(l.weight.packed, entry->keep);
    if (l.bias) l.bias = backend_.prepare(l.bias, l.out, entry->keep);
    return l;
  };
  entry->ffn = {linear(host->fc1), linear(host->fc2)};
  for (const auto& t : entry->keep) entry->bytes += t.bytes();
  if (!entry->keep.empty()) copies_ = true;
  if (entry->keep.empty())
    entry->host = std::make_unique<PinnedExpert>(std::move(host));  // borrowed: keep the pin
  else {
    // The upload read the host bytes and wrote the copies: both wait for it.
    entry->busy = backend_.fence();
    host.release_after(entry->busy);
  }
  return entry;
}

void DeviceExpertTier::make_room(Lock& lock, uint64_t bytes) {
  if (budget_ == 0) return;
  if (bytes > budget_)
    throw Error(ErrorCode::InvalidArgument,
                "device expert budget (TUSK_OPT_DEVICE_EXPERT_BUDGET_BYTES) of " + std::to_string(budget_) +
                    " bytes is below one prepared expert (" + std::to_string(bytes) + " bytes)");
  while (stats_.device_bytes + bytes > budget_) {
    // The least recently used unpinned entry whose work is done; else wait for the oldest
    // unpinned one's work.
    Entry* victim = nullptr;
    Entry* waiting = nullptr;
    for (Entry* e : lru_) {
      if (e->pins > 0) continue;
      if (!e->busy || e->busy->done()) {
        victim = e;
        break;
      }
      if (!waiting) waiting = e;
    }
    if (!victim && !waiting)
      throw Error(ErrorCode::Internal, "device expert tier: every cached expert is pinned");
    if (!victim) {
      backends::FencePtr fence = waiting->busy;
      lock.unlock();
      fence->wait();
      lock.lock();
      continue;  // the cache may have changed meanwhile
    }
    stats_.device_bytes -= victim->bytes;
    ++stats_.evictions;
    lru_.erase(victim->lru);
    cached_.erase(victim->key);
  }
}

PinnedExpert DeviceExpertTier::acquire(format::Stack stack, int layer, int expert) {
  const ExpertKey key{stack, layer, expert};
  {
    Lock lock(mutex_);
    auto it = cached_.find(key);
    if (it != cached_.end()) {
      Entry* e = it->second.get();
      ++e->pins;
      ++stats_.hits;
      lru_.splice(lru_.end(), lru_, e->lru);
      return PinnedExpert(this, &e->ffn, e);
    }
    ++stats_.misses;
  }
  // Prepared outside the lock: an upload may take a while.
  std::unique_ptr<Entry> entry = prepare(key, host_.acquire(stack, layer, expert));
  entry->pins = 1;
  Entry* e = entry.get();
  if (entry->host) {
    entry.release();  // borrowed: lives until its pin ends (release deletes it)
    return PinnedExpert(this, &e->ffn, e);
  }
  Lock lock(mutex_);
  for (;;) {
    auto it = cached_.find(key);
    if (it != cached_.end()) {  // another thread placed it meanwhile: use theirs
      Entry* theirs = it->second.get();
      ++theirs->pins;
      lru_.splice(lru_.end(), lru_, theirs->lru);
      lock.unlock();
      entry->busy->wait();  // ours is dropped on return: its upload must be done first
      return PinnedExpert(this, &theirs->ffn, theirs);
    }
    try {
      make_room(lock, entry->bytes);  // may wait with the lock released
    } catch (...) {
      lock.unlock();
      entry->busy->wait();
      throw;
    }
    if (cached_.count(key) == 0) break;
  }
  insert(std::move(entry));
  return PinnedExpert(this, &e->ffn, e);
}

DeviceExpertTier::Entry* DeviceExpertTier::insert(std::unique_ptr<Entry> entry) {
  Entry* e = entry.get();
  stats_.device_bytes += e->bytes;
  stats_.peak_device_bytes = std::max(stats_.peak_device_bytes, stats_.device_bytes);
  largest_ = std::max(largest_, e->bytes);
  e->lru = lru_.insert(lru_.end(), e);
  cached_.emplace(e->key, std::move(entry));
  return e;
}

void DeviceExpertTier::hint(format::Stack stack, int layer, const std::vector<int>& experts, ExpertHint kind) {
  if (host_.wants_hints()) host_.hint(stack, layer, experts, kind);
  if (kind != ExpertHint::Soon || !copies_) return;
  for (int expert : experts) {
    const ExpertKey key{stack, layer, expert};
    {
      Lock lock(mutex_);
      if (cached_.count(key) != 0) continue;
      if (budget_ != 0 && stats_.device_bytes + largest_ > budget_) return;  // no free room
    }
    std::optional<PinnedExpert> host = host_.try_acquire(stack, layer, expert);
    if (!host) continue;  // not in host memory yet: its acquire will load it
    std::unique_ptr<Entry> entry = prepare(key, std::move(*host));
    Lock lock(mutex_);
    if (cached_.count(key) != 0 || (budget_ != 0 && stats_.device_bytes + entry->bytes > budget_)) {
      lock.unlock();
      entry->busy->wait();  // dropped: its upload must be done first
      continue;
    }
    insert(std::move(entry));
    ++stats_.prefetched;
  }
}

void DeviceExpertTier::release(void* token, backends::FencePtr work_done) {
  auto* e = static_cast<Entry*>(token);
  if (e->host) {  // borrowed: the host tier keeps the bytes until the work is done
    std::unique_ptr<Entry> owned(e);
    PinnedExpert host = std::move(*owned->host);
    if (work_done)
      host.release_after(std::move(work_done));
    // else: the host pin ends as it goes out of scope (no outstanding work)
    return;
  }
  std::lock_guard<std::mutex> lock(mutex_);
  --e->pins;
  // Fences complete in order, so the latest work's fence covers the upload's too.
  if (work_done) e->busy = std::move(work_done);
}

DeviceTierStats DeviceExpertTier::stats() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return stats_;
}

}  // namespace tusk::sdk
