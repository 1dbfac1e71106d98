#include "sdk/eviction_policy.h"

#include <tuple>

namespace tusk::sdk {

void LruPolicy::touch(const ExpertKey& key) {
  auto it = where_.find(key);
  if (it != where_.end()) {
    order_.splice(order_.end(), order_, it->second);  // move to the most recent end
    return;
  }
  where_[key] = order_.insert(order_.end(), key);
}

void LruPolicy::on_insert(const ExpertKey& key) { touch(key); }

void LruPolicy::on_access(const ExpertKey& key) { touch(key); }

void LruPolicy::on_erase(const ExpertKey& key) {
  auto it = where_.find(key);
  if (it == where_.end()) return;
  order_.erase(it->second);
  where_.erase(it);
}

std::optional<ExpertKey> LruPolicy::choose_victim(const Evictable& evictable) {
  for (const ExpertKey& key : order_)
    if (evictable(key)) return key;
  return std::nullopt;
}

bool LayerDistancePolicy::needed_only_next_batch(const ExpertKey& position, const ExpertKey& key) {
  if (key.stack != format::Stack::Encoder) return false;
  if (position.stack == format::Stack::Decoder) return true;
  const bool passed = key.layer < position.layer ||
                      (key.layer == position.layer && key.expert < position.expert);
  return passed;
}

// Inserting is not a use: a prefetched expert counts only once it is acquired.
void LayerDistancePolicy::on_insert(const ExpertKey& key) { cached_[key] = &uses_[key]; }  // map nodes do not move

void LayerDistancePolicy::on_access(const ExpertKey& key) {
  Use& u = uses_[key];
  ++u.count;
  u.last = ++clock_;
  cached_[key] = &u;
}

void LayerDistancePolicy::on_erase(const ExpertKey& key) { cached_.erase(key); }

std::optional<ExpertKey> LayerDistancePolicy::choose_victim(const Evictable& evictable) {
  // Larger rank = evicted sooner: (rule 1, fewer acquires, older last acquire).
  const auto rank = [this](const ExpertKey& key, const Use& u) {
    return std::tuple(needed_only_next_batch(position_, key), ~u.count, ~u.last);
  };
  std::optional<ExpertKey> best;
  std::tuple<bool, uint64_t, uint64_t> best_rank;
  for (const auto& [key, u] : cached_) {
    if (!evictable(key)) continue;
    const auto r = rank(key, *u);
    if (!best || r > best_rank) {
      best = key;
      best_rank = r;
    }
  }
  return best;
}

}  // namespace tusk::sdk
