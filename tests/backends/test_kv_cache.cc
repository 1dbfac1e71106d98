// KvCache: steps appended for every hypothesis, attention over them, beam reorders (drops,
// duplicates, growth and shrinking of the beam), hypotheses admitted mid-search (continuous
// batching), clear; against a plain-vector model of the cache kept alongside.
#include "test_util.h"

namespace tusk::backends::test {
namespace {

constexpr double kTol = 1e-5;

// What the cache should hold: hypothesis -> step -> key (and value) row.
struct ModelCache {
  int64_t width;
  std::vector<std::vector<std::vector<float>>> k, v;

  int64_t steps() const {  // the longest hypothesis's
    size_t n = 0;
    for (const auto& h : k) n = std::max(n, h.size());
    return static_cast<int64_t>(n);
  }

  void append(const Matrix& ks, const Matrix& vs) {
    k.resize(static_cast<size_t>(ks.rows));
    v.resize(static_cast<size_t>(ks.rows));
    for (int64_t j = 0; j < ks.rows; ++j) {
      k[j].emplace_back(&ks.data[j * ks.ld], &ks.data[j * ks.ld] + width);
      v[j].emplace_back(&vs.data[j * vs.ld], &vs.data[j * vs.ld] + width);
    }
  }
  void reorder(const std::vector<int32_t>& parents) {
    std::vector<std::vector<std::vector<float>>> nk, nv;
    for (int32_t p : parents) {  // -1: admitted, no steps yet
      nk.push_back(p < 0 ? std::vector<std::vector<float>>{} : k[p]);
      nv.push_back(p < 0 ? std::vector<std::vector<float>>{} : v[p]);
    }
    k = std::move(nk);
    v = std::move(nv);
  }
  // Query row j attends every step of hypothesis j: the ranged reference over all
  // hypotheses' steps stacked, each hypothesis's rows after the one before.
  std::vector<double> attend(const Matrix& q, int heads) const {
    const int64_t hyps = static_cast<int64_t>(k.size());
    int64_t rows = 0;
    for (const auto& h : k) rows += static_cast<int64_t>(h.size());
    Matrix keys(std::max<int64_t>(rows, 1), width), values(std::max<int64_t>(rows, 1), width);
    std::vector<KeyRange> ranges;
    int64_t at = 0;
    for (int64_t j = 0; j < hyps; ++j) {
      const int64_t n = static_cast<int64_t>(k[j].size());
      ranges.push_back({at, n, 1});
      for (int64_t s = 0; s < n; ++s) {
        std::copy(k[j][s].begin(), k[j][s].end(), &keys.at(at + s, 0));
        std::copy(v[j][s].begin(), v[j][s].end(), &values.at(at + s, 0));
      }
      at += n;
    }
    return ref_attention(q, keys, values, heads, ranges);
  }
};

class KvCacheTest : public BackendTest {
 protected:
  // Appends one step of random keys and values for `hyps` hypotheses to both caches.
  void append(KvCache& cache, ModelCache& model, int64_t hyps) {
    Matrix ks(hyps, model.width), vs(hyps, model.width);
    ks.fill_random(rng_);
    vs.fill_random(rng_);
    const auto [kd, vd] = cache.append(hyps);
    ASSERT_EQ(kd.rows, hyps);
    ASSERT_EQ(kd.cols, model.width);
    ASSERT_GE(kd.ld, model.width);
    ASSERT_EQ(vd.rows, hyps);
    ASSERT_EQ(vd.cols, model.width);
    ASSERT_GE(vd.ld, model.width);
    write_view(backend(), ks, kd);
    write_view(backend(), vs, vd);
    model.append(ks, vs);
    EXPECT_EQ(cache.steps(), model.steps());
    EXPECT_EQ(cache.hyps(), hyps);
  }

  // Reorders both caches alike (beam parents, -1 for an admitted hypothesis).
  static void reorder(KvCache& cache, ModelCache& model, const std::vector<int32_t>& parents) {
    cache.reorder(parents);
    model.reorder(parents);
  }

  // Attention of fresh queries over the cache against the model.
  void check(const KvCache& cache, const ModelCache& model, int heads) {
    const int64_t hyps = static_cast<int64_t>(model.k.size());
    Matrix q(hyps, model.width, model.width + 3);
    q.fill_random(rng_, -2.0f, 2.0f);
    const DeviceMatrix dq(backend(), q);
    DeviceMatrix out(backend(), Matrix(hyps, model.width, model.width + 1));
    backend().attention(dq.view(), cache, heads, out.mut());
    expect_close(out.download(), model.attend(q, heads), kTol);
  }

  std::mt19937 rng_{42};
};

TEST_P(KvCacheTest, StartsEmpty) {
  auto cache = backend().make_kv_cache(64);
  EXPECT_EQ(cache->steps(), 0);
}

TEST_P(KvCacheTest, EachHypothesisAttendsItsOwnSteps) {
  const int heads = 4;
  ModelCache model{heads * 16, {}, {}};
  auto cache = backend().make_kv_cache(model.width);
  for (int step = 0; step < 6; ++step) {
    append(*cache, model, 3);
    check(*cache, model, heads);
  }
  EXPECT_EQ(cache->steps(), 6);
  EXPECT_EQ(cache->hyps(), 3);
}

TEST_P(KvCacheTest, ReorderDropsAndDuplicatesHypotheses) {
  const int heads = 2;
  ModelCache model{heads * 8, {}, {}};
  auto cache = backend().make_kv_cache(model.width);
  for (int step = 0; step < 4; ++step) append(*cache, model, 3);
  const std::vector<int32_t> parents = {2, 0, 0};  // hypothesis 1 dropped, 0 twice
  reorder(*cache, model, parents);
  EXPECT_EQ(cache->steps(), 4);
  EXPECT_EQ(cache->hyps(), 3);
  check(*cache, model, heads);
  // The duplicates diverge from here on.
  for (int step = 0; step < 3; ++step) {
    append(*cache, model, 3);
    check(*cache, model, heads);
  }
}

TEST_P(KvCacheTest, BeamGrowsFromOneHypothesisAndShrinks) {
  const int heads = 4;
  ModelCache model{heads * 16, {}, {}};
  auto cache = backend().make_kv_cache(model.width);
  append(*cache, model, 1);  // the first step has one hypothesis, then the beam opens
  for (const std::vector<int32_t>& parents :
       {std::vector<int32_t>{0, 0, 0, 0}, {3, 1, 1, 0}, {2, 3}, {1}, {0, 0, 0, 0, 0}}) {
    reorder(*cache, model, parents);
    EXPECT_EQ(cache->hyps(), static_cast<int64_t>(parents.size()));
    check(*cache, model, heads);
    append(*cache, model, static_cast<int64_t>(parents.size()));
    check(*cache, model, heads);
  }
}

// Continuous batching: hypotheses finish (dropped) and new ones join (parent -1) between
// steps, so each attends only the steps since it joined; steps no one attends are dropped.
TEST_P(KvCacheTest, AdmitsHypothesesMidSearch) {
  const int heads = 4;
  ModelCache model{heads * 16, {}, {}};
  auto cache = backend().make_kv_cache(model.width);
  reorder(*cache, model, {-1, -1});  // the first two, before any step
  for (int step = 0; step < 3; ++step) append(*cache, model, 2);
  for (const std::vector<int32_t>& parents :
       {std::vector<int32_t>{0, 1, -1}, {1, 2}, {-1, 0, 1, -1, -1}, {2, 3, 4}, {-1}, {}, {-1, -1}}) {
    reorder(*cache, model, parents);
    EXPECT_EQ(cache->hyps(), static_cast<int64_t>(parents.size()));
    EXPECT_EQ(cache->steps(), model.steps());  // hypothesis 0's first steps dropped with it
    if (parents.empty()) continue;
    for (int step = 0; step < 2; ++step) {
      append(*cache, model, static_cast<int64_t>(parents.size()));
      check(*cache, model, heads);
    }
  }
}

// Hours of serving: hypotheses come and go, the cache holds only what the live ones attend.
TEST_P(KvCacheTest, ContinuousAdmissionsKeepTheCacheBounded) {
  const int heads = 2;
  ModelCache model{heads * 8, {}, {}};
  auto cache = backend().make_kv_cache(model.width);
  std::vector<int> left;  // steps each live hypothesis still takes
  std::uniform_int_distribution<int> length(1, 12);
  for (int step = 0; step < 400; ++step) {
    std::vector<int32_t> parents;
    std::vector<int> next_left;
    for (size_t j = 0; j < left.size(); ++j)
      if (left[j] > 0) {
        parents.push_back(static_cast<int32_t>(j));
        next_left.push_back(left[j]);
      }
    while (next_left.size() < 6) {
      parents.push_back(-1);
      next_left.push_back(length(rng_));
    }
    reorder(*cache, model, parents);
    left = next_left;
    append(*cache, model, static_cast<int64_t>(left.size()));
    for (int& l : left) --l;
    if (step % 40 == 39) check(*cache, model, heads);
    EXPECT_LE(cache->steps(), 12);
  }
}

TEST_P(KvCacheTest, IdentityReorderChangesNothing) {
  const int heads = 3;
  ModelCache model{heads * 5, {}, {}};  // odd widths
  auto cache = backend().make_kv_cache(model.width);
  for (int step = 0; step < 3; ++step) append(*cache, model, 4);
  cache->reorder({0, 1, 2, 3});
  EXPECT_EQ(cache->steps(), 3);
  EXPECT_EQ(cache->hyps(), 4);
  check(*cache, model, heads);
}

// Long enough that any preallocation runs out, with random beam reorders between steps.
TEST_P(KvCacheTest, ManyStepsWithReorders) {
  const int heads = 4;
  ModelCache model{heads * 16, {}, {}};
  auto cache = backend().make_kv_cache(model.width);
  const int64_t beam = 5;
  std::uniform_int_distribution<int32_t> parent(0, beam - 1);
  for (int step = 0; step < 300; ++step) {
    append(*cache, model, beam);
    if (step % 3 == 2) {
      std::vector<int32_t> parents(beam);
      for (auto& p : parents) p = parent(rng_);
      reorder(*cache, model, parents);
    }
    if (step % 50 == 49) check(*cache, model, heads);
  }
  EXPECT_EQ(cache->steps(), 300);
}

TEST_P(KvCacheTest, ClearStartsANewBatch) {
  const int heads = 2;
  ModelCache model{heads * 8, {}, {}};
  auto cache = backend().make_kv_cache(model.width);
  for (int step = 0; step < 5; ++step) append(*cache, model, 4);
  cache->clear();
  EXPECT_EQ(cache->steps(), 0);
  model = ModelCache{model.width, {}, {}};
  // A new batch may have another number of hypotheses.
  for (int step = 0; step < 2; ++step) append(*cache, model, 2);
  check(*cache, model, heads);
  EXPECT_EQ(cache->steps(), 2);
  EXPECT_EQ(cache->hyps(), 2);
}

TEST_P(KvCacheTest, CachesAreIndependent) {
  const int heads = 2;
  ModelCache ma{heads * 8, {}, {}}, mb{heads * 8, {}, {}};
  auto a = backend().make_kv_cache(ma.width);
  auto b = backend().make_kv_cache(mb.width);
  for (int step = 0; step < 4; ++step) {
    append(*a, ma, 2);
    append(*b, mb, 3);
  }
  b->reorder({1});
  mb.reorder({1});
  check(*a, ma, heads);
  check(*b, mb, heads);
}

TEST_P(KvCacheTest, RejectsAppendWithAnotherHypothesisCount) {
  auto cache = backend().make_kv_cache(8);
  cache->append(3);
  EXPECT_INVALID_ARGUMENT(cache->append(2));
  EXPECT_INVALID_ARGUMENT(cache->append(4));
  EXPECT_EQ(cache->steps(), 1);
  cache->reorder({0, 1});
  EXPECT_INVALID_ARGUMENT(cache->append(3));  // the reorder made it 2
}

TEST_P(KvCacheTest, RejectsParentsOutOfRange) {
  auto cache = backend().make_kv_cache(8);
  cache->append(3);
  cache->append(3);
  EXPECT_INVALID_ARGUMENT(cache->reorder({0, 3, 1}));
  EXPECT_INVALID_ARGUMENT(cache->reorder({-2}));
}

TEST_P(KvCacheTest, RejectsQueriesOfAnotherShape) {
  auto cache = backend().make_kv_cache(8);
  for (int step = 0; step < 2; ++step) {
    const auto [k, v] = cache->append(3);
    Matrix zeros(3, 8);
    std::fill(zeros.data.begin(), zeros.data.end(), 0.0f);
    write_view(backend(), zeros, k);
    write_view(backend(), zeros, v);
  }
  const DeviceMatrix rows2(backend(), Matrix(2, 8)), cols4(backend(), Matrix(3, 4));
  const DeviceMatrix good_q(backend(), Matrix(3, 8));
  DeviceMatrix out2(backend(), Matrix(2, 8)), out4(backend(), Matrix(3, 4)),
      out(backend(), Matrix(3, 8));
  EXPECT_INVALID_ARGUMENT(backend().attention(rows2.view(), *cache, 2, out2.mut()));
  EXPECT_INVALID_ARGUMENT(backend().attention(cols4.view(), *cache, 2, out4.mut()));
  EXPECT_INVALID_ARGUMENT(backend().attention(good_q.view(), *cache, 3, out.mut()));
}

TUSK_INSTANTIATE_BACKEND_TESTS(KvCacheTest);

}  // namespace
}  // namespace tusk::backends::test
