#include "sdk/eviction_policy.h"

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

}  // namespace tusk::sdk
