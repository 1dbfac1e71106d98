// Which cached expert to drop when a new one needs room. The cache owns residency, pins and
// byte accounting; a policy only keeps the order it wants to evict in. Swapping the policy
// never changes a translation, only hit rate and speed.
//
// Contract (the cache keeps it; a policy may rely on it):
//   - every call is made with the cache's lock held, so a policy needs no locking of its own;
//   - on_insert(k) once when k enters the cache, then on_access(k) on every later acquire of k
//     while it stays, then on_erase(k) once when it leaves (evicted or the cache destroyed need
//     not be reported); k is never inserted twice without an erase in between;
//   - choose_victim() is asked only while the cache is over budget for a new entry; it returns
//     a key it was told about (inserted, not erased) for which evictable(key) is true, or
//     nothing if no such key exists. evictable is false for experts pinned by a running layer.
//     The cache then erases that key (and calls on_erase) before asking again.
//
// Policies that use what translation knows (layer distance, language pair, encoder experts
// first) see the stack and layer in every key; further hints can be added as new virtual
// calls with empty defaults so existing policies keep compiling.
#pragma once

#include <functional>
#include <list>
#include <map>
#include <optional>

#include "sdk/expert_key.h"

namespace tusk::sdk {

class EvictionPolicy {
 public:
  using Evictable = std::function<bool(const ExpertKey&)>;

  virtual ~EvictionPolicy() = default;
  virtual void on_insert(const ExpertKey& key) = 0;
  virtual void on_access(const ExpertKey& key) = 0;
  virtual void on_erase(const ExpertKey& key) = 0;
  virtual std::optional<ExpertKey> choose_victim(const Evictable& evictable) = 0;
};

// Least recently used first. Inserts and accesses move a key to the most recent end (O(log n));
// the victim is the least recent evictable key, found by skipping the pinned ones from the old
// end (few: the MoE layer pins one expert at a time).
class LruPolicy final : public EvictionPolicy {
 public:
  void on_insert(const ExpertKey& key) override;
  void on_access(const ExpertKey& key) override;
  void on_erase(const ExpertKey& key) override;
  std::optional<ExpertKey> choose_victim(const Evictable& evictable) override;

 private:
  void touch(const ExpertKey& key);

  std::list<ExpertKey> order_;  // least recent first
  std::map<ExpertKey, std::list<ExpertKey>::iterator> where_;
};

}  // namespace tusk::sdk
