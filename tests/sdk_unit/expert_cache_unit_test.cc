// LruPolicy and CachedExpertSource without a model: a fake loader hands out experts whose
// fc1.out names them, so the tests see what was loaded, kept, evicted and pinned.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <vector>

#include "common/error.h"
#include "sdk/eviction_policy.h"
#include "sdk/expert_cache.h"

namespace {

using tusk::sdk::CachedExpertSource;
using tusk::sdk::ExpertKey;
using tusk::sdk::LoadedExpert;
using tusk::sdk::LayerDistancePolicy;
using tusk::sdk::LruPolicy;
using tusk::sdk::PinnedExpert;
using tusk::format::Stack;

constexpr uint64_t kExpertBytes = 100;

ExpertKey enc(int expert, int layer = 1) { return {Stack::Encoder, layer, expert}; }
ExpertKey dec(int expert, int layer = 1) { return {Stack::Decoder, layer, expert}; }
int64_t tag(const ExpertKey& k) { return (k.stack == Stack::Decoder ? 1000 : 0) + k.layer * 100 + k.expert; }

class FakeLoader final : public tusk::sdk::ExpertLoader {
 public:
  uint64_t bytes(const ExpertKey& key) const override {
    auto it = sizes.find(key);
    return it == sizes.end() ? kExpertBytes : it->second;
  }
  void load(const ExpertKey& key, LoadedExpert& into) const override {
    std::lock_guard<std::mutex> lock(mutex_);
    if (key == failing) throw tusk::Error(tusk::ErrorCode::InvalidModel, "damaged frame");
    loads.push_back(key);
    into.ffn.fc1.out = tag(key);
  }
  std::map<ExpertKey, uint64_t> sizes;
  ExpertKey failing{Stack::Decoder, 99, 99};
  mutable std::vector<ExpertKey> loads;

 private:
  mutable std::mutex mutex_;
};

struct Cache {
  explicit Cache(uint64_t budget,
                 std::unique_ptr<tusk::sdk::EvictionPolicy> policy = std::make_unique<LruPolicy>(),
                 bool prefetch = false)
      : loader(std::make_shared<FakeLoader>()), source(loader, budget, std::move(policy), prefetch) {}
  int64_t get(const ExpertKey& k) { return source.acquire(k.stack, k.layer, k.expert)->fc1.out; }
  std::shared_ptr<FakeLoader> loader;
  CachedExpertSource source;
};

TEST(LruPolicyTest, EvictsLeastRecentlyUsedFirst) {
  LruPolicy lru;
  const auto any = [](const ExpertKey&) { return true; };
  EXPECT_FALSE(lru.choose_victim(any).has_value());
  lru.on_insert(enc(0));
  lru.on_insert(enc(1));
  lru.on_insert(enc(2));
  EXPECT_EQ(*lru.choose_victim(any), enc(0));
  lru.on_access(enc(0));  // 1 is now the least recent
  EXPECT_EQ(*lru.choose_victim(any), enc(1));
  lru.on_erase(enc(1));
  EXPECT_EQ(*lru.choose_victim(any), enc(2));
  lru.on_erase(enc(2));
  lru.on_erase(enc(0));
  EXPECT_FALSE(lru.choose_victim(any).has_value());
}

TEST(LruPolicyTest, SkipsKeysThatAreNotEvictable) {
  LruPolicy lru;
  lru.on_insert(enc(0));
  lru.on_insert(enc(1));
  lru.on_insert(enc(2));
  EXPECT_EQ(*lru.choose_victim([](const ExpertKey& k) { return k != enc(0); }), enc(1));
  EXPECT_FALSE(lru.choose_victim([](const ExpertKey&) { return false; }).has_value());
}

TEST(ExpertCacheUnit, MissThenHitThenLruEviction) {
  Cache c(2 * kExpertBytes + 50);  // room for two
  EXPECT_EQ(c.get(enc(0)), tag(enc(0)));
  EXPECT_EQ(c.get(enc(1)), tag(enc(1)));
  EXPECT_EQ(c.get(enc(0)), tag(enc(0)));  // hit: 1 becomes the least recent
  EXPECT_EQ(c.get(enc(2)), tag(enc(2)));  // evicts 1
  EXPECT_EQ(c.get(enc(0)), tag(enc(0)));  // still there
  EXPECT_EQ(c.get(enc(1)), tag(enc(1)));  // reloaded, evicts 2
  EXPECT_EQ(c.loader->loads, (std::vector<ExpertKey>{enc(0), enc(1), enc(2), enc(1)}));
  const auto s = c.source.stats();
  EXPECT_EQ(s.hits, 2u);
  EXPECT_EQ(s.misses, 4u);
  EXPECT_EQ(s.evictions, 2u);
  EXPECT_EQ(s.bytes_loaded, 4 * kExpertBytes);
  EXPECT_EQ(s.peak_cache_bytes, 2 * kExpertBytes);
  EXPECT_EQ(s.cache_bytes, 2 * kExpertBytes);
  EXPECT_EQ(s.prefetch_issued, 0u);
  EXPECT_GE(s.stall_ms, 0.0);
}

TEST(ExpertCacheUnit, KeysDifferByStackAndLayer) {
  Cache c(10 * kExpertBytes);
  const ExpertKey a{Stack::Encoder, 1, 3}, b{Stack::Decoder, 1, 3}, d{Stack::Encoder, 3, 3};
  EXPECT_EQ(c.get(a), tag(a));
  EXPECT_EQ(c.get(b), tag(b));
  EXPECT_EQ(c.get(d), tag(d));
  EXPECT_EQ(c.source.stats().misses, 3u);
}

TEST(ExpertCacheUnit, PinnedExpertIsNeverEvicted) {
  Cache c(2 * kExpertBytes);
  PinnedExpert held = c.source.acquire(Stack::Encoder, 1, 0);  // least recent, but pinned
  const auto* weights = &*held;
  c.get(enc(1));
  c.get(enc(2));  // must evict 1, not the pinned 0
  c.get(enc(3));  // evicts 2
  EXPECT_EQ(&*held, weights);
  EXPECT_EQ(held->fc1.out, tag(enc(0)));
  EXPECT_EQ(c.get(enc(0)), tag(enc(0)));  // a hit: it stayed
  EXPECT_EQ(c.loader->loads, (std::vector<ExpertKey>{enc(0), enc(1), enc(2), enc(3)}));
}

TEST(ExpertCacheUnit, EverythingPinnedAndNoRoomIsAnInternalError) {
  Cache c(2 * kExpertBytes);
  {
    PinnedExpert a = c.source.acquire(Stack::Encoder, 1, 0);
    PinnedExpert b = c.source.acquire(Stack::Encoder, 1, 1);
    try {
      c.get(enc(2));
      FAIL() << "expected an error";
    } catch (const tusk::Error& e) {
      EXPECT_EQ(e.code(), tusk::ErrorCode::Internal);
      EXPECT_NE(std::string(e.what()).find("pinned"), std::string::npos) << e.what();
    }
  }
  EXPECT_EQ(c.get(enc(2)), tag(enc(2)));  // pins released: room again
}

TEST(ExpertCacheUnit, ExpertLargerThanTheBudgetIsAnInternalError) {
  Cache c(kExpertBytes);
  c.loader->sizes[enc(5)] = kExpertBytes + 1;
  EXPECT_THROW(c.get(enc(5)), tusk::Error);
  EXPECT_EQ(c.get(enc(0)), tag(enc(0)));
}

TEST(ExpertCacheUnit, FailedLoadLeavesTheCacheUsable) {
  Cache c(2 * kExpertBytes);
  c.loader->failing = enc(7);
  c.get(enc(0));
  EXPECT_THROW(c.get(enc(7)), tusk::Error);
  EXPECT_THROW(c.get(enc(7)), tusk::Error);  // not cached as if it had loaded
  const auto s = c.source.stats();
  EXPECT_LE(s.cache_bytes, 2 * kExpertBytes);
  EXPECT_EQ(c.get(enc(1)), tag(enc(1)));
  EXPECT_EQ(c.get(enc(2)), tag(enc(2)));
}

// Several threads acquiring and releasing at once: each holds one pin at a time, so a budget
// of (threads) experts always has room; the counters must add up.
TEST(ExpertCacheUnit, ConcurrentAcquiresAreSafe) {
  constexpr int kThreads = 4, kRounds = 2000;
  Cache c(kThreads * kExpertBytes);
  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kRounds; ++i) {
        const ExpertKey k = enc((i * 7 + t * 3) % 8, i % 2);
        if (c.get(k) != tag(k)) wrong.fetch_add(1);
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(wrong.load(), 0);
  const auto s = c.source.stats();
  EXPECT_EQ(s.hits + s.misses, static_cast<uint64_t>(kThreads) * kRounds);
  EXPECT_LE(s.peak_cache_bytes, kThreads * kExpertBytes);
  EXPECT_EQ(s.misses - s.evictions, s.cache_bytes / kExpertBytes);
}

// Sparse layers 1 and 3 in both stacks below.
TEST(LayerDistancePolicyTest, WhileDecodingEncoderExpertsGoFirst) {
  LayerDistancePolicy policy;
  const auto any = [](const ExpertKey&) { return true; };
  EXPECT_FALSE(policy.choose_victim(any).has_value());
  for (const ExpertKey& k : {enc(0, 1), enc(1, 3), dec(0, 1), dec(1, 3)}) {
    policy.on_request(k);
    policy.on_insert(k);
    policy.on_access(k);
  }
  for (int i = 0; i < 3; ++i) policy.on_access(enc(0, 1));  // frequency does not save it
  policy.on_request(dec(2, 1));
  EXPECT_EQ(*policy.choose_victim(any), enc(1, 3));
  policy.on_erase(enc(1, 3));
  EXPECT_EQ(*policy.choose_victim(any), enc(0, 1));
  policy.on_erase(enc(0, 1));
  EXPECT_EQ(policy.choose_victim(any)->stack, Stack::Decoder);
}

TEST(LayerDistancePolicyTest, WhileEncodingPassedEncoderExpertsGoFirst) {
  using P = LayerDistancePolicy;
  const ExpertKey at = enc(2, 3);
  EXPECT_TRUE(P::needed_only_next_batch(at, enc(0, 1)));
  EXPECT_TRUE(P::needed_only_next_batch(at, enc(1, 3)));
  EXPECT_FALSE(P::needed_only_next_batch(at, enc(3, 3)));  // may still run in this pass
  EXPECT_FALSE(P::needed_only_next_batch(at, dec(0, 1)));  // the decoder comes next
  EXPECT_FALSE(P::needed_only_next_batch(dec(0, 3), dec(0, 1)));
  EXPECT_TRUE(P::needed_only_next_batch(dec(0, 3), enc(7, 3)));
}

TEST(LayerDistancePolicyTest, ThenLeastFrequentlyThenLeastRecentlyUsed) {
  LayerDistancePolicy policy;
  const auto any = [](const ExpertKey&) { return true; };
  policy.on_request(dec(0));
  for (const ExpertKey& k : {dec(0), dec(1), dec(2)}) {
    policy.on_insert(k);  // as the cache reports a miss: insert, then the acquire
    policy.on_access(k);
  }
  policy.on_access(dec(0));
  policy.on_access(dec(2));
  EXPECT_EQ(*policy.choose_victim(any), dec(1));  // acquired once, the others twice
  policy.on_erase(dec(1));
  EXPECT_EQ(*policy.choose_victim(any), dec(0));  // tie on count: 0 is less recent than 2
  // Counts outlive eviction: dec(1) comes back with 2 acquires, more recent than dec(0).
  policy.on_insert(dec(1));
  policy.on_access(dec(1));
  EXPECT_EQ(*policy.choose_victim(any), dec(0));
  EXPECT_EQ(*policy.choose_victim([](const ExpertKey& k) { return k != dec(0); }), dec(2));
  EXPECT_FALSE(policy.choose_victim([](const ExpertKey&) { return false; }).has_value());
}

TEST(ExpertCacheUnit, LayerDistanceKeepsTheExpertsEveryStepUses) {
  // Each decoder step: the same two experts, then two that change every step; room for 3.
  // LRU always evicts the one needed next (no hits after the first step); the policy keeps
  // the two frequent ones.
  Cache lru(3 * kExpertBytes);
  Cache policy(3 * kExpertBytes, std::make_unique<LayerDistancePolicy>());
  constexpr int kSteps = 6;
  for (int step = 0; step < kSteps; ++step)
    for (const ExpertKey& k : {dec(0, 1), dec(0, 3), dec(1 + step, 1), dec(1 + step, 3)}) {
      lru.get(k);
      policy.get(k);
    }
  EXPECT_EQ(lru.source.stats().hits, 0u);
  EXPECT_GE(policy.source.stats().hits, 2u * (kSteps - 2));
}

// Prefetch: a cache with the background thread, hints sent as the MoE layer sends them.
struct PrefetchingCache : Cache {
  explicit PrefetchingCache(uint64_t budget) : Cache(budget, std::make_unique<LruPolicy>(), true) {}
  void hint(std::vector<int> experts, tusk::sdk::ExpertHint kind, int layer = 1) {
    source.hint(Stack::Decoder, layer, experts, kind);
  }
};

TEST(ExpertCachePrefetch, HintedExpertsAreLoadedAheadAndCountedWhenUsed) {
  PrefetchingCache c(10 * kExpertBytes);
  EXPECT_TRUE(c.source.wants_hints());
  c.hint({0, 1}, tusk::sdk::ExpertHint::Now);
  c.hint({2, 5}, tusk::sdk::ExpertHint::Soon, /*layer=*/3);
  c.source.wait_idle();
  auto s = c.source.stats();
  EXPECT_EQ(s.prefetch_issued, 4u);
  EXPECT_EQ(s.misses, 0u);
  EXPECT_EQ(s.cache_bytes, 4 * kExpertBytes);
  EXPECT_EQ(c.get(dec(0)), tag(dec(0)));
  EXPECT_EQ(c.get(dec(1)), tag(dec(1)));
  EXPECT_EQ(c.get(dec(2, 3)), tag(dec(2, 3)));
  EXPECT_EQ(c.get(dec(0)), tag(dec(0)));  // a second use is not a second prefetch use
  EXPECT_EQ(c.get(dec(7)), tag(dec(7)));  // not hinted: a miss
  s = c.source.stats();
  EXPECT_EQ(s.hits, 4u);
  EXPECT_EQ(s.misses, 1u);
  EXPECT_EQ(s.prefetch_used, 3u);  // 5 of layer 3 was never acquired
  EXPECT_EQ(s.bytes_loaded, 5 * kExpertBytes);
}

TEST(ExpertCachePrefetch, WithoutPrefetchHintsDoNothing) {
  Cache c(10 * kExpertBytes);
  EXPECT_FALSE(c.source.wants_hints());
  c.source.hint(Stack::Decoder, 1, {0, 1}, tusk::sdk::ExpertHint::Now);
  c.source.wait_idle();
  EXPECT_EQ(c.source.stats().prefetch_issued, 0u);
  EXPECT_TRUE(c.loader->loads.empty());
}

TEST(ExpertCachePrefetch, NeverEvictsHintedExpertsAndSkipsWhatCannotFit) {
  PrefetchingCache c(2 * kExpertBytes);
  c.hint({0, 1, 2, 3}, tusk::sdk::ExpertHint::Now);  // room for two: 2 and 3 are skipped
  c.source.wait_idle();
  auto s = c.source.stats();
  EXPECT_EQ(s.prefetch_issued, 2u);
  EXPECT_EQ(s.evictions, 0u);
  EXPECT_EQ(c.loader->loads, (std::vector<ExpertKey>{dec(0), dec(1)}));
  // A new Now hint replaces the old one: 0 and 1 lose their protection and make room.
  c.hint({4, 5}, tusk::sdk::ExpertHint::Now);
  c.source.wait_idle();
  s = c.source.stats();
  EXPECT_EQ(s.prefetch_issued, 4u);
  EXPECT_EQ(s.evictions, 2u);
  EXPECT_LE(s.peak_cache_bytes, 2 * kExpertBytes);
  EXPECT_EQ(c.get(dec(4)), tag(dec(4)));
  EXPECT_EQ(c.get(dec(5)), tag(dec(5)));
  EXPECT_EQ(c.source.stats().misses, 0u);
}

TEST(ExpertCachePrefetch, AMissMayStillEvictPrefetchedExperts) {
  PrefetchingCache c(kExpertBytes);  // the minimum budget: one expert
  c.hint({0}, tusk::sdk::ExpertHint::Soon);
  c.source.wait_idle();
  EXPECT_EQ(c.source.stats().prefetch_issued, 1u);
  EXPECT_EQ(c.get(dec(3)), tag(dec(3)));  // evicts the protected, prefetched 0
  const auto s = c.source.stats();
  EXPECT_EQ(s.evictions, 1u);
  EXPECT_EQ(s.prefetch_used, 0u);
  EXPECT_EQ(s.cache_bytes, kExpertBytes);
}

TEST(ExpertCachePrefetch, AFailedPrefetchIsReportedByTheAcquireThatNeedsIt) {
  PrefetchingCache c(10 * kExpertBytes);
  c.loader->failing = dec(2);
  c.hint({1, 2, 3}, tusk::sdk::ExpertHint::Now);
  c.source.wait_idle();
  EXPECT_EQ(c.source.stats().cache_bytes, 2 * kExpertBytes);  // 1 and 3; 2 was dropped
  EXPECT_EQ(c.get(dec(1)), tag(dec(1)));
  EXPECT_THROW(c.get(dec(2)), tusk::Error);
  EXPECT_EQ(c.get(dec(3)), tag(dec(3)));
  EXPECT_EQ(c.source.stats().prefetch_used, 2u);
}

TEST(ExpertCachePrefetch, ComputeAndPrefetchRaceSafely) {
  // Compute acquires what is hinted while the thread loads it; every acquire gets the right
  // expert and the budget holds. Run under TSan by the sanitizer label when it exists.
  PrefetchingCache c(3 * kExpertBytes);
  for (int step = 0; step < 200; ++step) {
    const std::vector<int> now = {step % 8, (step + 3) % 8};
    c.hint(now, tusk::sdk::ExpertHint::Now);
    c.hint({(step + 1) % 8, (step + 4) % 8}, tusk::sdk::ExpertHint::Soon, 3);
    for (int e : now) ASSERT_EQ(c.get(dec(e)), tag(dec(e)));
  }
  c.source.wait_idle();
  const auto s = c.source.stats();
  EXPECT_EQ(s.hits + s.misses, 400u);
  EXPECT_LE(s.peak_cache_bytes, 3 * kExpertBytes);
  EXPECT_LE(s.prefetch_used, s.prefetch_issued);
}

TEST(LayerDistancePolicyTest, APrefetchedExpertNeverUsedHasNoUses) {
  LayerDistancePolicy policy;
  const auto any = [](const ExpertKey&) { return true; };
  policy.on_request(dec(0));
  policy.on_insert(dec(0));
  policy.on_access(dec(0));
  policy.on_insert(dec(1));  // prefetched, not acquired: evicted first despite being newer
  EXPECT_EQ(*policy.choose_victim(any), dec(1));
}

}  // namespace

// ---- pins that end with a fence (asynchronous backends) --------------------------------------

namespace {

// A fence the test completes by hand, as a GPU stream would.
class ManualFence final : public tusk::backends::Fence {
 public:
  bool done() const override {
    std::lock_guard<std::mutex> lock(mutex_);
    return done_;
  }
  void wait() const override {
    std::unique_lock<std::mutex> lock(mutex_);
    cv_.wait(lock, [this] { return done_; });
  }
  void complete() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      done_ = true;
    }
    cv_.notify_all();
  }

 private:
  mutable std::mutex mutex_;
  mutable std::condition_variable cv_;
  bool done_ = false;
};

}  // namespace

// An expert released with unfinished work is neither evicted nor reloaded into until the
// work is done: a miss that needs its room waits for the fence.
TEST(ExpertCacheFence, AMissWaitsForTheWorkReadingItsVictim) {
  Cache c(kExpertBytes);  // room for one expert
  auto fence = std::make_shared<ManualFence>();
  {
    PinnedExpert a = c.source.acquire(Stack::Encoder, 1, 0);
    a.release_after(fence);
  }
  std::atomic<bool> got{false};
  std::thread other([&] {
    EXPECT_EQ(c.get(enc(1)), tag(enc(1)));
    got = true;
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_FALSE(got.load()) << "enc(1) was loaded while enc(0)'s work was still running";
  EXPECT_EQ(c.loader->loads.size(), 1u);  // enc(0)'s bytes are untouched
  EXPECT_EQ(c.source.stats().evictions, 0u);
  fence->complete();
  other.join();
  EXPECT_TRUE(got.load());
  EXPECT_EQ(c.loader->loads.size(), 2u);
  EXPECT_EQ(c.source.stats().evictions, 1u);
}

// The prefetcher never waits: it skips what it could only place by evicting busy experts.
TEST(ExpertCacheFence, PrefetchSkipsBusyVictims) {
  Cache c(kExpertBytes, std::make_unique<LruPolicy>(), /*prefetch=*/true);
  auto fence = std::make_shared<ManualFence>();
  c.source.acquire(Stack::Encoder, 1, 0).release_after(fence);
  c.source.hint(Stack::Encoder, 1, {1}, tusk::sdk::ExpertHint::Now);
  c.source.wait_idle();
  EXPECT_EQ(c.source.stats().prefetch_issued, 0u);
  EXPECT_EQ(c.loader->loads.size(), 1u);
  fence->complete();
  EXPECT_EQ(c.get(enc(1)), tag(enc(1)));  // now a miss evicts enc(0)
  EXPECT_EQ(c.source.stats().evictions, 1u);
}

// A completed fence (the CPU backend's) releases at once; the keep = false baseline frees an
// expert only once its work is done.
TEST(ExpertCacheFence, CompletedFencesReleaseAtOnceAndNoKeepWaits) {
  Cache c(2 * kExpertBytes);
  c.source.acquire(Stack::Encoder, 1, 0).release_after(tusk::backends::completed_fence());
  EXPECT_EQ(c.get(enc(1)), tag(enc(1)));
  EXPECT_EQ(c.get(enc(2)), tag(enc(2)));  // evicts enc(0) at once
  EXPECT_EQ(c.source.stats().evictions, 1u);

  auto loader = std::make_shared<FakeLoader>();
  CachedExpertSource naive(loader, kExpertBytes, std::make_unique<LruPolicy>(), false, /*keep=*/false);
  auto fence = std::make_shared<ManualFence>();
  std::thread finisher([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(30));
    fence->complete();
  });
  naive.acquire(Stack::Encoder, 1, 0).release_after(fence);  // returns once the work is done
  EXPECT_TRUE(fence->done());
  EXPECT_EQ(naive.stats().cache_bytes, 0u);
  finisher.join();
}

namespace {

// max_pinned: with the largest expert known, as many pins as leave room for one more miss;
// unknown, one at a time. And that many pins at once never leave a miss without room.
TEST(ExpertCacheUnit, MaxPinnedIsWhatTheBudgetHoldsBesidesOneMiss) {
  auto loader = std::make_shared<FakeLoader>();
  EXPECT_EQ(CachedExpertSource(loader, 3 * kExpertBytes + 7, std::make_unique<LruPolicy>()).max_pinned(), 1);
  CachedExpertSource source(loader, 3 * kExpertBytes + 7, std::make_unique<LruPolicy>(), false, true, kExpertBytes);
  ASSERT_EQ(source.max_pinned(), 3);
  for (int round = 0; round < 4; ++round) {  // pins of 3 distinct experts, then released, again
    std::vector<tusk::sdk::PinnedExpert> pins;
    for (int e = 0; e < source.max_pinned(); ++e) pins.push_back(source.acquire(Stack::Encoder, 1, 3 * round + e));
    for (auto& p : pins) EXPECT_GE(p->fc1.out, 100);
  }
  EXPECT_LE(source.stats().peak_cache_bytes, 3 * kExpertBytes + 7);
}

}  // namespace

namespace {

// try_acquire: a pin on what is loaded, nothing for what is not, and no trace in the counters.
TEST(ExpertCacheUnit, TryAcquirePinsOnlyWhatIsLoadedAndCountsNothing) {
  Cache c(3 * kExpertBytes);
  EXPECT_FALSE(c.source.try_acquire(Stack::Encoder, 1, 0).has_value());
  EXPECT_EQ(c.get(enc(0)), tag(enc(0)));
  {
    std::optional<tusk::sdk::PinnedExpert> pin = c.source.try_acquire(Stack::Encoder, 1, 0);
    ASSERT_TRUE(pin.has_value());
    EXPECT_EQ((*pin)->fc1.out, tag(enc(0)));
    EXPECT_EQ(c.get(enc(1)), tag(enc(1)));
    EXPECT_EQ(c.get(enc(2)), tag(enc(2)));
    EXPECT_EQ(c.get(enc(3)), tag(enc(3)));  // the budget is full: 0 is pinned, so 1 goes
    EXPECT_EQ(c.source.stats().evictions, 1u);
  }
  const auto s = c.source.stats();
  EXPECT_EQ(s.hits, 0u);
  EXPECT_EQ(s.misses, 4u);
  EXPECT_FALSE(c.source.try_acquire(Stack::Encoder, 1, 1).has_value());  // evicted
}

}  // namespace
