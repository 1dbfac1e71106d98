#include "sdk/expert_cache.h"

#include <algorithm>
#include <chrono>
#include <limits>
#include <string>

#include "common/error.h"

namespace tusk::sdk {

namespace {

double ms_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

uint64_t FileExpertLoader::bytes(const ExpertKey& key) const {
  return file_->expert_raw_bytes(key.stack, key.layer, key.expert);
}

void FileExpertLoader::load(const ExpertKey& key, LoadedExpert& into) const {
  decode_expert(*file_, key, into, direct_);
}

CachedExpertSource::CachedExpertSource(std::shared_ptr<const ExpertLoader> loader,
                                       uint64_t budget_bytes, std::unique_ptr<EvictionPolicy> policy,
                                       bool prefetch, bool keep, uint64_t largest_expert_bytes)
    : loader_(std::move(loader)), budget_(budget_bytes), largest_(largest_expert_bytes),
      prefetch_(prefetch && keep), keep_(keep), policy_(std::move(policy)) {
  if (!loader_ || !policy_) throw Error(ErrorCode::Internal, "expert cache: no loader or no policy");
  if (prefetch_) worker_ = std::thread([this] { prefetch_loop(); });
}

int CachedExpertSource::max_pinned() const {
  if (largest_ == 0 || budget_ < largest_) return 1;
  return static_cast<int>(std::min<uint64_t>(budget_ / largest_, std::numeric_limits<int>::max()));
}

CachedExpertSource::~CachedExpertSource() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    closing_ = true;
  }
  work_.notify_all();
  if (worker_.joinable()) worker_.join();
}

std::optional<PinnedExpert> CachedExpertSource::try_acquire(format::Stack stack, int layer, int expert) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = entries_.find(ExpertKey{stack, layer, expert});
  if (it == entries_.end() || !it->second.ready) return std::nullopt;
  ++it->second.pins;
  return PinnedExpert(this, &it->second.expert.ffn, &it->second);
}

PinnedExpert CachedExpertSource::acquire(format::Stack stack, int layer, int expert) {
  const ExpertKey key{stack, layer, expert};
  const auto start = std::chrono::steady_clock::now();
  Lock lock(mutex_);
  policy_->on_request(key);
  protected_.erase(key);
  bool waited = false;
  for (;;) {
    auto it = entries_.find(key);
    if (it != entries_.end()) {
      Entry& entry = it->second;
      if (!entry.ready) {  // the prefetcher (or another caller) is loading it
        // A load takes tens of microseconds, about what waking from a condition variable
        // costs, so poll instead of sleeping.
        waited = true;
        lock.unlock();
        std::this_thread::yield();
        lock.lock();
        continue;  // look again: the load may have failed
      }
      ++stats_.hits;
      if (entry.prefetched && !entry.used) ++stats_.prefetch_used;
      entry.used = true;
      ++entry.pins;
      policy_->on_access(key);
      if (waited) stats_.stall_ms += ms_since(start);
      return PinnedExpert(this, &entry.expert.ffn, &entry);
    }

    // A miss: this thread loads it, so the prefetcher need not.
    queue_.erase(std::remove(queue_.begin(), queue_.end(), key), queue_.end());
    Entry* entry = reserve(lock, key, loader_->bytes(key), /*for_miss=*/true);
    if (!entry) {  // waited for loads in flight to free the budget; the key may be in by now
      waited = true;
      continue;
    }
    entry->pins = 1;
    entry->used = true;
    fill(lock, key, *entry);
    ++stats_.misses;
    policy_->on_access(key);
    stats_.stall_ms += ms_since(start);
    return PinnedExpert(this, &entry->expert.ffn, entry);
  }
}

bool CachedExpertSource::evict_one(const EvictionPolicy::Evictable& evictable, LoadedExpert* spare) {
  const auto victim = policy_->choose_victim(evictable);
  if (!victim || !evictable(*victim)) return false;
  auto it = entries_.find(*victim);
  if (spare->weights.bytes() == 0) *spare = std::move(it->second.expert);
  stats_.cache_bytes -= it->second.bytes;
  entries_.erase(it);
  policy_->on_erase(*victim);
  ++stats_.evictions;
  return true;
}

CachedExpertSource::Entry* CachedExpertSource::reserve(Lock& lock, const ExpertKey& key, uint64_t bytes,
                                                       bool for_miss) {
  if (bytes > budget_)
    throw Error(ErrorCode::Internal, "expert cache: " + key.describe() + " needs " + std::to_string(bytes) +
                                         " bytes, more than the whole budget of " +
                                         std::to_string(budget_) + " bytes");
  const auto unpinned = [this](const ExpertKey& k) {
    auto it = entries_.find(k);
    return it != entries_.end() && idle(it->second);
  };
  const auto unprotected = [&](const ExpertKey& k) { return unpinned(k) && protected_.count(k) == 0; };
  const auto fits = [&] { return stats_.cache_bytes + bytes <= budget_; };
  LoadedExpert spare;

  if (!for_miss) {
    // Evict only if that makes it fit: a prefetch that cannot be placed is skipped whole.
    uint64_t freeable = 0;
    for (const auto& [k, e] : entries_)
      if (unprotected(k)) freeable += e.bytes;
    if (stats_.cache_bytes - freeable + bytes > budget_) return nullptr;
    while (!fits() && evict_one(unprotected, &spare)) {
    }
    if (!fits()) return nullptr;  // unreachable: freeable said it would
  } else {
    while (!fits() && evict_one(unprotected, &spare)) {
    }
    while (!fits() && evict_one(unpinned, &spare)) {
    }
    if (!fits()) {
      // An unpinned expert still read by work in flight: wait for that work, then retry.
      for (const auto& [k, e] : entries_) {
        if (!e.ready || e.pins > 0 || idle(e)) continue;
        const backends::FencePtr busy = e.busy;
        lock.unlock();
        busy->wait();
        lock.lock();
        return nullptr;
      }
      const bool loading = std::any_of(entries_.begin(), entries_.end(),
                                       [](const auto& kv) { return !kv.second.ready; });
      // Unreachable from MoeLayer, which pins one expert at a time (see the header comment).
      if (!loading)
        throw Error(ErrorCode::Internal, "expert cache: " + key.describe() + " (" + std::to_string(bytes) +
                                             " bytes) does not fit the budget of " +
                                             std::to_string(budget_) + " bytes and every cached expert is pinned");
      loaded_.wait(lock);  // a load in flight holds the budget: once it is in, it can go
      return nullptr;
    }
  }
  Entry& entry = entries_[key];
  entry.expert = std::move(spare);
  entry.bytes = bytes;
  stats_.cache_bytes += bytes;
  stats_.peak_cache_bytes = std::max(stats_.peak_cache_bytes, stats_.cache_bytes);
  policy_->on_insert(key);
  return &entry;
}

void CachedExpertSource::fill(Lock& lock, const ExpertKey& key, Entry& entry) {
  // The entry is not ready, so nobody evicts it while the lock is released: &entry stays valid.
  lock.unlock();
  try {
    loader_->load(key, entry.expert);
  } catch (...) {
    lock.lock();
    stats_.cache_bytes -= entry.bytes;
    entries_.erase(key);
    policy_->on_erase(key);
    loaded_.notify_all();
    throw;
  }
  lock.lock();
  entry.ready = true;
  stats_.bytes_loaded += entry.bytes;
  loaded_.notify_all();
}

void CachedExpertSource::hint(format::Stack stack, int layer, const std::vector<int>& experts, ExpertHint kind) {
  if (!prefetch_) return;
  bool queued = false;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (kind == ExpertHint::Now) {
      queue_.clear();
      protected_.clear();
    }
    for (int e : experts) {
      const ExpertKey key{stack, layer, e};
      protected_.insert(key);
      if (entries_.count(key) == 0 && std::find(queue_.begin(), queue_.end(), key) == queue_.end()) {
        queue_.push_back(key);
        queued = true;
      }
    }
  }
  // Waking the thread costs the caller a system call: only when there is something to load.
  if (queued) work_.notify_one();
}

void CachedExpertSource::prefetch_loop() {
  Lock lock(mutex_);
  for (;;) {
    work_.wait(lock, [this] { return closing_ || !queue_.empty(); });
    if (closing_) return;
    const ExpertKey key = queue_.front();
    queue_.pop_front();
    if (entries_.count(key) == 0) {
      try {
        Entry* entry = reserve(lock, key, loader_->bytes(key), /*for_miss=*/false);
        if (entry) {
          entry->prefetched = true;
          ++stats_.prefetch_issued;
          ++in_flight_;
          try {
            fill(lock, key, *entry);
          } catch (...) {
            // Dropped; the acquire that needs it loads it itself and reports the error.
          }
          --in_flight_;
        }
      } catch (...) {
        // Same: a prefetch never fails a translation.
      }
    }
    loaded_.notify_all();  // also wakes wait_idle
  }
}

uint64_t CachedExpertSource::preload(const std::vector<ExpertKey>& keys) {
  uint64_t loaded = 0;
  Lock lock(mutex_);
  for (const ExpertKey& key : keys) {
    if (entries_.count(key)) continue;
    Entry* entry = reserve(lock, key, loader_->bytes(key), /*for_miss=*/false);
    if (!entry) continue;
    fill(lock, key, *entry);
    ++stats_.preloaded;
    ++loaded;
  }
  return loaded;
}

void CachedExpertSource::wait_idle() {
  Lock lock(mutex_);
  loaded_.wait(lock, [this] { return !prefetch_ || closing_ || (queue_.empty() && in_flight_ == 0); });
}

void CachedExpertSource::release(void* token, backends::FencePtr work_done) {
  Lock lock(mutex_);
  Entry* entry = static_cast<Entry*>(token);
  // One backend runs work in order: the latest fence covers the earlier ones.
  if (work_done && !work_done->done()) entry->busy = std::move(work_done);
  if (--entry->pins > 0 || keep_) return;
  // Without keeping (the naive baseline), the bytes go now: once the work reading them is done.
  if (entry->busy && !entry->busy->done()) {
    const backends::FencePtr busy = entry->busy;
    lock.unlock();
    busy->wait();
    lock.lock();
  }
  // Found by address: while the lock was released another miss may have evicted it, or
  // another acquire pinned it again.
  for (auto it = entries_.begin(); it != entries_.end(); ++it)
    if (&it->second == entry) {
      if (entry->pins > 0 || !entry->ready) return;
      stats_.cache_bytes -= entry->bytes;
      policy_->on_erase(it->first);
      entries_.erase(it);
      ++stats_.evictions;
      return;
    }
}

ExpertCacheStats CachedExpertSource::stats() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return stats_;
}

}  // namespace tusk::sdk
