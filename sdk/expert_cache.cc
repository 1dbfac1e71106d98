#include "sdk/expert_cache.h"

#include <chrono>
#include <string>

#include "common/error.h"

namespace tusk::sdk {

uint64_t FileExpertLoader::bytes(const ExpertKey& key) const {
  return file_->expert_raw_bytes(key.stack, key.layer, key.expert);
}

LoadedExpert FileExpertLoader::load(const ExpertKey& key) const { return decode_expert(*file_, key); }

CachedExpertSource::CachedExpertSource(std::shared_ptr<const ExpertLoader> loader,
                                       uint64_t budget_bytes, std::unique_ptr<EvictionPolicy> policy)
    : loader_(std::move(loader)), budget_(budget_bytes), policy_(std::move(policy)) {
  if (!loader_ || !policy_) throw Error(ErrorCode::Internal, "expert cache: no loader or no policy");
}

PinnedExpert CachedExpertSource::acquire(format::Stack stack, int layer, int expert) {
  const ExpertKey key{stack, layer, expert};
  std::lock_guard<std::mutex> lock(mutex_);
  policy_->on_request(key);
  auto it = entries_.find(key);
  if (it != entries_.end()) {
    ++stats_.hits;
    policy_->on_access(key);
    ++it->second.pins;
    return PinnedExpert(this, &it->second.expert.ffn, &it->second);
  }

  const auto start = std::chrono::steady_clock::now();
  const uint64_t bytes = loader_->bytes(key);
  make_room(bytes, key);
  // Loaded before the entry exists, so a failed load leaves the cache as it was (minus the
  // evictions, which only cost time).
  LoadedExpert loaded = loader_->load(key);
  Entry& entry = entries_[key];
  entry.expert = std::move(loaded);
  entry.bytes = bytes;
  entry.pins = 1;
  policy_->on_insert(key);

  ++stats_.misses;
  stats_.bytes_loaded += bytes;
  stats_.cache_bytes += bytes;
  if (stats_.cache_bytes > stats_.peak_cache_bytes) stats_.peak_cache_bytes = stats_.cache_bytes;
  stats_.stall_ms +=
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  return PinnedExpert(this, &entry.expert.ffn, &entry);
}

void CachedExpertSource::make_room(uint64_t bytes, const ExpertKey& wanted) {
  if (bytes > budget_)
    throw Error(ErrorCode::Internal, "expert cache: " + wanted.describe() + " needs " +
                                         std::to_string(bytes) + " bytes, more than the whole budget of " +
                                         std::to_string(budget_) + " bytes");
  const auto unpinned = [this](const ExpertKey& k) {
    auto it = entries_.find(k);
    return it != entries_.end() && it->second.pins == 0;
  };
  while (stats_.cache_bytes + bytes > budget_) {
    const auto victim = policy_->choose_victim(unpinned);
    if (!victim || !unpinned(*victim))
      // Unreachable from MoeLayer, which pins one expert at a time (see the header comment).
      throw Error(ErrorCode::Internal,
                  "expert cache: " + wanted.describe() + " (" + std::to_string(bytes) +
                      " bytes) does not fit the budget of " + std::to_string(budget_) +
                      " bytes and every cached expert is pinned");
    auto it = entries_.find(*victim);
    stats_.cache_bytes -= it->second.bytes;
    entries_.erase(it);
    policy_->on_erase(*victim);
    ++stats_.evictions;
  }
}

void CachedExpertSource::release(void* token) {
  std::lock_guard<std::mutex> lock(mutex_);
  --static_cast<Entry*>(token)->pins;
}

ExpertCacheStats CachedExpertSource::stats() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return stats_;
}

}  // namespace tusk::sdk
