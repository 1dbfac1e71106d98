// Expert paging through the C ABI (TUSK_OPT_EXPERT_BUDGET_BYTES, tusk_translator_stats,
// tusk_model_expert_bytes): under every accepted budget the translations are exactly those of
// the fully resident model, the counters add up, and a budget below the largest expert is
// refused at translator creation.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "tusk_test_util.h"

namespace {

using namespace tusk_test;

const char* const kDirection = "en-de";

struct ExpertBytes {
  uint64_t total = 0, largest = 0;
};

ExpertBytes expert_bytes(const tusk_model_t* model) {
  ExpertBytes b;
  check(tusk_model_expert_bytes(model, &b.total, &b.largest), "tusk_model_expert_bytes");
  return b;
}

tusk_stats_t stats_of(const tusk_translator_t* tr) {
  tusk_stats_t s{};
  s.struct_size = sizeof s;
  check(tusk_translator_stats(tr, &s), "tusk_translator_stats");
  return s;
}

// eviction and prefetch: -1 = the library default.
Options budget_options(uint64_t budget, int64_t max_batch_size = 32, int64_t eviction = -1,
                       int64_t prefetch = -1) {
  Options options = make_options({{TUSK_OPT_THREADS, test_threads()},
                                  {TUSK_OPT_MAX_BATCH_SIZE, max_batch_size},
                                  {TUSK_OPT_EXPERT_BUDGET_BYTES, static_cast<int64_t>(budget)}});
  if (eviction >= 0)
    check(tusk_options_set_int(options.get(), TUSK_OPT_EXPERT_EVICTION, eviction),
          "tusk_options_set_int");
  if (prefetch >= 0)
    check(tusk_options_set_int(options.get(), TUSK_OPT_EXPERT_PREFETCH, prefetch),
          "tusk_options_set_int");
  return options;
}

std::string describe(const tusk_stats_t& s) {
  return "hits " + std::to_string(s.hits) + ", misses " + std::to_string(s.misses) +
         ", evictions " + std::to_string(s.evictions) + ", bytes_loaded " +
         std::to_string(s.bytes_loaded) + ", peak " + std::to_string(s.peak_cache_bytes) +
         ", prefetch issued " + std::to_string(s.prefetch_issued) + " used " +
         std::to_string(s.prefetch_used) + ", stall_ms " + std::to_string(s.stall_ms);
}

// One model and the fully resident translations of the 50 en-de golden sources, shared by
// the suite.
class ExpertBudget : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    model_ = open_model().release();
    bytes_ = expert_bytes(model_);
    texts_ = new std::vector<std::string>(sources(load_golden(kDirection)));
    resident_ = new std::vector<Hyp>(translate_with(0));
  }
  static void TearDownTestSuite() {
    delete resident_;
    delete texts_;
    tusk_model_close(model_);
  }

  static std::vector<Hyp> translate_with(uint64_t budget, tusk_stats_t* stats = nullptr,
                                         int64_t max_batch_size = 32, int64_t eviction = -1,
                                         int64_t prefetch = -1) {
    const Options options = budget_options(budget, max_batch_size, eviction, prefetch);
    const Translator tr = make_translator(model_, options.get());
    const auto [src, tgt] = split_direction(kDirection);
    std::vector<Hyp> out;
    if (max_batch_size == 1) {
      for (const auto& t : *texts_) out.push_back(translate(tr.get(), src, tgt, {t}).at(0));
    } else {
      out = translate(tr.get(), src, tgt, *texts_);
    }
    if (stats) *stats = stats_of(tr.get());
    return out;
  }

  // Bit for bit: the same weights run in the same order, only fetched differently.
  static void expect_same(const std::vector<Hyp>& got, const std::vector<Hyp>& want,
                          const std::string& what) {
    ASSERT_EQ(got.size(), want.size()) << what;
    for (size_t i = 0; i < got.size(); ++i) {
      EXPECT_EQ(got[i].ids, want[i].ids) << what << ": sentence " << i;
      EXPECT_EQ(got[i].text, want[i].text) << what << ": sentence " << i;
      EXPECT_TRUE(got[i] == want[i]) << what << ": sentence " << i
                                     << " differs in log-probabilities or score";
    }
  }
  static void expect_same_as_resident(const std::vector<Hyp>& got, const std::string& what) {
    expect_same(got, *resident_, what);
  }

  static tusk_model_t* model_;
  static ExpertBytes bytes_;
  static std::vector<std::string>* texts_;
  static std::vector<Hyp>* resident_;
};

tusk_model_t* ExpertBudget::model_ = nullptr;
ExpertBytes ExpertBudget::bytes_;
std::vector<std::string>* ExpertBudget::texts_ = nullptr;
std::vector<Hyp>* ExpertBudget::resident_ = nullptr;

TEST_F(ExpertBudget, ModelReportsExpertBytes) {
  EXPECT_GT(bytes_.largest, 0u);
  EXPECT_LE(bytes_.largest, bytes_.total);
  uint64_t total = 0;
  EXPECT_EQ(tusk_model_expert_bytes(model_, &total, nullptr), TUSK_OK);  // either out may be NULL
  EXPECT_EQ(total, bytes_.total);
  EXPECT_EQ(tusk_model_expert_bytes(nullptr, &total, nullptr), TUSK_ERROR_INVALID_ARGUMENT);
}

// Every budget from the minimum to all experts, with and without prefetch: identical output,
// consistent counters.
TEST_F(ExpertBudget, EveryBudgetTranslatesLikeResident) {
  struct Case {
    const char* name;
    uint64_t budget;
  };
  const std::vector<Case> cases = {
      {"minimum (largest expert)", bytes_.largest},
      {"12.5%", bytes_.total / 8},
      {"25%", bytes_.total / 4},
      {"50%", bytes_.total / 2},
      {"100%", bytes_.total},
  };
  // At 100% without prefetch nothing is evicted, so each expert used misses exactly once.
  tusk_stats_t all{};
  const auto full = translate_with(bytes_.total, &all, 32, -1, /*prefetch=*/0);
  const uint64_t distinct_experts = all.misses;
  const uint64_t acquires = all.hits + all.misses;
  ASSERT_GT(distinct_experts, 0u);
  EXPECT_EQ(all.evictions, 0u);

  for (const int64_t prefetch : {0, 1}) {
    for (const Case& c : cases) {
      const std::string name = std::string(c.name) + (prefetch ? ", prefetch" : ", no prefetch");
      SCOPED_TRACE(name);
      ASSERT_GE(c.budget, bytes_.largest) << "the test model's experts are too uneven for this case";
      tusk_stats_t s{};
      const auto got = translate_with(c.budget, &s, 32, -1, prefetch);
      expect_same_as_resident(got, name);
      const std::string stats = describe(s);
      EXPECT_EQ(s.struct_size, sizeof(tusk_stats_t));
      // The layers ask for the same experts whatever the budget.
      EXPECT_EQ(s.hits + s.misses, acquires) << stats;
      EXPECT_LE(s.peak_cache_bytes, c.budget) << stats;
      EXPECT_GT(s.bytes_loaded, 0u) << stats;
      const uint64_t loads = s.misses + s.prefetch_issued;
      EXPECT_LE(s.bytes_loaded, loads * bytes_.largest) << stats;
      EXPECT_LE(s.evictions, loads) << stats;
      EXPECT_LE(s.prefetch_used, s.prefetch_issued) << stats;
      // Each expert used was loaded by its first acquire or ahead of it.
      EXPECT_GE(s.misses + s.prefetch_used, distinct_experts) << stats;
      EXPECT_GE(s.stall_ms, 0.0);
      if (!prefetch) {
        EXPECT_EQ(s.prefetch_issued, 0u) << stats;
        EXPECT_EQ(s.prefetch_used, 0u) << stats;
      } else if (c.budget >= bytes_.total) {
        // With room for everything nothing blocks the thread, which has hundreds of layers'
        // compute time to get ahead at least once. (Tighter budgets may legitimately leave
        // it nothing it is allowed to place.)
        EXPECT_GT(s.prefetch_used, 0u) << stats;
      }
      if (c.budget == bytes_.largest) {
        EXPECT_GT(s.evictions, 0u) << stats;
      }
      if (c.budget >= bytes_.total) {
        EXPECT_EQ(s.evictions, 0u) << stats;
        EXPECT_EQ(s.misses + s.prefetch_used, distinct_experts) << stats;
      }
      std::printf("[ budget %-36s %10llu bytes ] %s, hit rate %.3f\n", name.c_str(),
                  static_cast<unsigned long long>(c.budget), stats.c_str(),
                  static_cast<double>(s.hits) / static_cast<double>(s.hits + s.misses));
    }
  }
}

// The interactive case: one sentence per call, the cache carrying over between calls.
TEST_F(ExpertBudget, OneSentenceAtATimeTranslatesLikeResident) {
  // Compared with resident one-sentence calls: batching alone changes the last bits of the
  // log-probabilities (other GEMM shapes).
  const auto resident = translate_with(0, nullptr, /*max_batch_size=*/1);
  tusk_stats_t s{};
  const auto got = translate_with(bytes_.total / 4, &s, /*max_batch_size=*/1);
  expect_same(got, resident, "25%, one sentence per call");
  EXPECT_LE(s.peak_cache_bytes, bytes_.total / 4);
  std::printf("[ 25%%, one sentence per call ] %s, hit rate %.3f\n", describe(s).c_str(),
              static_cast<double>(s.hits) / static_cast<double>(s.hits + s.misses));
}

// Each eviction policy, named explicitly, at the tightest budget and at 25% (batched and one
// sentence per call): the policy changes hit rates only.
TEST_F(ExpertBudget, EveryEvictionPolicyTranslatesLikeResident) {
  const auto resident_one = translate_with(0, nullptr, /*max_batch_size=*/1);
  for (const int64_t eviction : {TUSK_EVICTION_LRU, TUSK_EVICTION_LAYER_DISTANCE, TUSK_EVICTION_NONE}) {
    const std::string policy = eviction == TUSK_EVICTION_LRU    ? "lru"
                               : eviction == TUSK_EVICTION_NONE ? "none"
                                                                : "layer-distance";
    SCOPED_TRACE(policy);
    for (const uint64_t budget : {bytes_.largest, bytes_.total / 4}) {
      tusk_stats_t s{};
      expect_same_as_resident(translate_with(budget, &s, 32, eviction),
                              policy + ", budget " + std::to_string(budget));
      EXPECT_LE(s.peak_cache_bytes, budget) << describe(s);
    }
    tusk_stats_t s{};
    expect_same(translate_with(bytes_.total / 4, &s, 1, eviction), resident_one,
                policy + ", 25%, one sentence per call");
    std::printf("[ %s, 25%%, one sentence per call ] hit rate %.3f\n", policy.c_str(),
                static_cast<double>(s.hits) / static_cast<double>(s.hits + s.misses));
    if (eviction == TUSK_EVICTION_NONE) {  // nothing kept, nothing prefetched
      EXPECT_EQ(s.hits, 0u) << describe(s);
      EXPECT_EQ(s.prefetch_issued, 0u) << describe(s);
      EXPECT_EQ(s.evictions, s.misses) << describe(s);
    }
  }
}

// O_DIRECT reads (past the page cache): the same translations, at the tightest budget and 25%,
// with and without prefetch.
TEST_F(ExpertBudget, DirectIoTranslatesLikeResident) {
  for (const int64_t prefetch : {0, 1})
    for (const uint64_t budget : {bytes_.largest, bytes_.total / 4}) {
      Options options = budget_options(budget, 32, -1, prefetch);
      check(tusk_options_set_int(options.get(), TUSK_OPT_EXPERT_DIRECT_IO, 1), "tusk_options_set_int");
      const Translator tr = make_translator(model_, options.get());
      const auto [src, tgt] = split_direction(kDirection);
      expect_same_as_resident(translate(tr.get(), src, tgt, *texts_),
                              "direct I/O, budget " + std::to_string(budget) + ", prefetch " +
                                  std::to_string(prefetch));
      EXPECT_LE(stats_of(tr.get()).peak_cache_bytes, budget);
    }
}

TEST_F(ExpertBudget, UnknownEvictionPolicyIsRefused) {
  const Options options = make_options();
  EXPECT_EQ(tusk_options_set_int(options.get(), TUSK_OPT_EXPERT_EVICTION, 3),
            TUSK_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(tusk_options_set_int(options.get(), TUSK_OPT_EXPERT_EVICTION, -1),
            TUSK_ERROR_INVALID_ARGUMENT);
}

TEST_F(ExpertBudget, BelowTheLargestExpertIsRefused) {
  for (const uint64_t budget : {uint64_t{1}, bytes_.largest - 1}) {
    const Options options = budget_options(budget);
    tusk_translator_t* out = nullptr;
    EXPECT_EQ(tusk_translator_create(model_, options.get(), &out), TUSK_ERROR_INVALID_ARGUMENT)
        << "budget " << budget;
    EXPECT_EQ(out, nullptr);
    const std::string message = tusk_last_error();
    EXPECT_NE(message.find("minimum"), std::string::npos) << message;
    EXPECT_NE(message.find(std::to_string(bytes_.largest) + " bytes"), std::string::npos) << message;
  }
}

TEST_F(ExpertBudget, ResidentTranslatorReportsNoPaging) {
  const Options options = budget_options(0);
  const Translator tr = make_translator(model_, options.get());
  const auto [src, tgt] = split_direction(kDirection);
  translate(tr.get(), src, tgt, {texts_->front()});
  const tusk_stats_t s = stats_of(tr.get());
  EXPECT_EQ(s.hits, 0u);
  EXPECT_EQ(s.misses, 0u);
  EXPECT_EQ(s.evictions, 0u);
  EXPECT_EQ(s.bytes_loaded, 0u);
  EXPECT_EQ(s.peak_cache_bytes, bytes_.total);
}

TEST_F(ExpertBudget, CountersAccumulateAcrossCalls) {
  const Options options = budget_options(bytes_.total / 4);
  const Translator tr = make_translator(model_, options.get());
  const tusk_stats_t fresh = stats_of(tr.get());
  EXPECT_EQ(fresh.hits + fresh.misses, 0u);
  EXPECT_EQ(fresh.peak_cache_bytes, 0u);  // nothing loaded before the first translation
  const auto [src, tgt] = split_direction(kDirection);
  translate(tr.get(), src, tgt, {(*texts_)[0]});
  const tusk_stats_t one = stats_of(tr.get());
  translate(tr.get(), src, tgt, {(*texts_)[1]});
  const tusk_stats_t two = stats_of(tr.get());
  EXPECT_GT(one.hits + one.misses, 0u);
  EXPECT_GT(two.hits + two.misses, one.hits + one.misses);
  EXPECT_GE(two.bytes_loaded, one.bytes_loaded);
}

// struct_size lets the struct grow: only whole fields within the caller's size are written.
TEST_F(ExpertBudget, StatsRespectStructSize) {
  const Options options = budget_options(bytes_.largest);
  const Translator tr = make_translator(model_, options.get());
  const auto [src, tgt] = split_direction(kDirection);
  translate(tr.get(), src, tgt, {texts_->front()});
  const tusk_stats_t full = stats_of(tr.get());

  // An older caller knowing only struct_size, hits and misses (20 bytes: 2 whole fields after it).
  tusk_stats_t small;
  std::memset(&small, 0xAB, sizeof small);
  small.struct_size = 20;
  ASSERT_EQ(tusk_translator_stats(tr.get(), &small), TUSK_OK) << tusk_last_error();
  EXPECT_EQ(small.struct_size, 16u);
  EXPECT_EQ(small.hits, full.hits);
  tusk_stats_t untouched;
  std::memset(&untouched, 0xAB, sizeof untouched);
  EXPECT_EQ(std::memcmp(&small.misses, &untouched.misses, sizeof small - 16), 0)
      << "fields past struct_size were written";

  // A newer caller with a bigger struct gets this library's fields and their size.
  struct Bigger {
    tusk_stats_t known;
    uint64_t future_field;
  } bigger;
  std::memset(&bigger, 0xCD, sizeof bigger);
  bigger.known.struct_size = sizeof bigger;
  ASSERT_EQ(tusk_translator_stats(tr.get(), &bigger.known), TUSK_OK) << tusk_last_error();
  EXPECT_EQ(bigger.known.struct_size, sizeof(tusk_stats_t));
  EXPECT_EQ(bigger.known.misses, full.misses);
  EXPECT_EQ(bigger.future_field, 0xCDCDCDCDCDCDCDCDull);

  tusk_stats_t too_small{};
  too_small.struct_size = 8;
  EXPECT_EQ(tusk_translator_stats(tr.get(), &too_small), TUSK_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(tusk_translator_stats(nullptr, &too_small), TUSK_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(tusk_translator_stats(tr.get(), nullptr), TUSK_ERROR_INVALID_ARGUMENT);
}

}  // namespace
