// DeviceExpertTier without a model: a fake host source hands out small experts whose values
// name them, and a test backend either borrows host memory (as the CPU does) or copies it into
// tensors it allocates (as a GPU would), handing out fences the test completes by hand. The
// tests see what was acquired from the host, what was kept, evicted and waited for.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "backends/backend.h"
#include "common/error.h"
#include "model_format/layout/weight_layout.h"
#include "sdk/device_expert_tier.h"
#include "sdk/expert_source.h"

namespace {

using tusk::backends::Backend;
using tusk::backends::FencePtr;
using tusk::backends::PackedMatrix;
using tusk::backends::Tensor;
using tusk::format::Stack;
using tusk::sdk::DeviceExpertTier;
using tusk::sdk::ExpertFfn;
using tusk::sdk::ExpertKey;
using tusk::sdk::ExpertHint;
using tusk::sdk::ExpertSource;
using tusk::sdk::PinnedExpert;
namespace bk = tusk::backends;
namespace wl = tusk::weight_layout;

using namespace std::chrono_literals;

// Shapes small enough to be cheap, with k a multiple of 32 so an Int8 fc1 is valid.
constexpr int64_t kModel = 32, kFfn = 4, kGroup = 32;
// Prepared bytes of one fp32 expert: fc1 [ffn, model] + bias [ffn], fc2 [model, ffn] + bias.
constexpr uint64_t kExpertBytes = (2 * kFfn * kModel + kFfn + kModel) * sizeof(float);

ExpertKey key(int expert, int layer = 1) { return {Stack::Decoder, layer, expert}; }
float tag(const ExpertKey& k) { return static_cast<float>(k.layer * 100 + k.expert + 1); }

// A fence the test completes by hand, as a GPU stream would. Counts the threads that waited
// on it, so a test can tell a wait happened.
class ManualFence final : public bk::Fence {
 public:
  bool done() const override {
    std::lock_guard<std::mutex> lock(mutex_);
    return done_;
  }
  void wait() const override {
    std::unique_lock<std::mutex> lock(mutex_);
    ++waits_;
    cv_.wait(lock, [this] { return done_; });
  }
  void complete() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      done_ = true;
    }
    cv_.notify_all();
  }
  int waits() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return waits_;
  }

 private:
  mutable std::mutex mutex_;
  mutable std::condition_variable cv_;
  bool done_ = false;
  mutable int waits_ = 0;
};

// Completes fences when it goes out of scope. Declared after the tier, it runs before the
// tier's destructor (which waits for them), so a failing test ends instead of hanging.
struct CompleteOnExit {
  std::vector<std::shared_ptr<ManualFence>> fences;
  ~CompleteOnExit() {
    for (auto& f : fences) f->complete();
  }
};

// The host tier: experts decoded on first acquire and kept, with counts of acquires, pins
// held, and every release's fence (null for a plain drop), per key.
class FakeHostSource final : public ExpertSource {
 public:
  // packed_fc1: fc1 as Int8 with scales instead of fp32, to exercise PackedMatrix copies.
  explicit FakeHostSource(bool packed_fc1 = false) : packed_fc1_(packed_fc1) {}

  PinnedExpert acquire(Stack stack, int layer, int expert) override {
    const ExpertKey k{stack, layer, expert};
    std::lock_guard<std::mutex> lock(mutex_);
    auto& slot = experts_[k];
    if (!slot) slot = make(k);
    ++acquires_[k];
    ++held_[k];
    return PinnedExpert(this, &slot->ffn, slot.get());
  }

  int max_pinned() const override { return 1000; }
  // Every expert is "in host memory" here; counted like an acquire.
  std::optional<PinnedExpert> try_acquire(Stack stack, int layer, int expert) override {
    return acquire(stack, layer, expert);
  }

  int acquires(const ExpertKey& k) const {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = acquires_.find(k);
    return it == acquires_.end() ? 0 : it->second;
  }
  int held(const ExpertKey& k) const {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = held_.find(k);
    return it == held_.end() ? 0 : it->second;
  }
  std::vector<FencePtr> releases(const ExpertKey& k) const {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = releases_.find(k);
    return it == releases_.end() ? std::vector<FencePtr>{} : it->second;
  }
  // The host's own views of an expert (decoding it if needed), to compare pointers with.
  const ExpertFfn& host_ffn(const ExpertKey& k) {
    std::lock_guard<std::mutex> lock(mutex_);
    auto& slot = experts_[k];
    if (!slot) slot = make(k);
    return slot->ffn;
  }

 protected:
  void release(void* token, FencePtr work_done) override {
    auto* e = static_cast<Expert*>(token);
    std::lock_guard<std::mutex> lock(mutex_);
    --held_[e->key];
    releases_[e->key].push_back(std::move(work_done));
  }

 private:
  struct Expert {
    ExpertKey key;
    std::vector<float> w1, b1, w2, b2, s1;
    std::vector<int8_t> q1;
    ExpertFfn ffn;
  };

  std::unique_ptr<Expert> make(const ExpertKey& k) const {
    auto e = std::make_unique<Expert>();
    e->key = k;
    const float t = tag(k);
    e->w1.assign(kFfn * kModel, t);
    e->b1.assign(kFfn, t + 0.5f);
    e->w2.assign(kModel * kFfn, -t);
    e->b2.assign(kModel, -t - 0.5f);
    auto& fc1 = e->ffn.fc1;
    fc1.out = fc1.weight.out = kFfn;
    fc1.in = fc1.weight.in = kModel;
    fc1.bias = e->b1.data();
    if (packed_fc1_) {
      e->q1.assign(kFfn * kModel, static_cast<int8_t>(k.expert + 1));
      e->s1.assign(kFfn * (kModel / kGroup), t);
      fc1.weight.packed = {wl::Layout::Int8, e->q1.data(), e->s1.data(), kFfn, kModel, kGroup};
    } else {
      fc1.weight.f32 = e->w1.data();
    }
    auto& fc2 = e->ffn.fc2;
    fc2.out = fc2.weight.out = kModel;
    fc2.in = fc2.weight.in = kFfn;
    fc2.weight.f32 = e->w2.data();
    fc2.bias = e->b2.data();
    return e;
  }

  const bool packed_fc1_;
  mutable std::mutex mutex_;
  std::map<ExpertKey, std::unique_ptr<Expert>> experts_;
  std::map<ExpertKey, int> acquires_, held_;
  std::map<ExpertKey, std::vector<FencePtr>> releases_;
};

enum class Mode { Borrow, Copy };

// Forwards every op to the CPU backend. Borrow: prepare returns the host pointers (as the CPU
// does). Copy: prepare copies into tensors it allocates and keeps, as a device backend
// uploads. fence() returns the fence the test set (completed when none).
class TestBackend final : public Backend {
 public:
  explicit TestBackend(Mode mode) : cpu_(bk::make_cpu_backend(1)), mode_(mode) {}

  void set_fence(FencePtr fence) {
    std::lock_guard<std::mutex> lock(mutex_);
    fence_ = std::move(fence);
  }
  uint64_t copied_bytes() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return copied_bytes_;
  }

  bk::Device device() const override { return cpu_->device(); }
  Tensor allocate(bk::DType dtype, const std::vector<int64_t>& shape) override {
    return cpu_->allocate(dtype, shape);
  }
  void upload(const void* host, Tensor& dst) override { cpu_->upload(host, dst); }
  void download(const Tensor& src, void* host) override { cpu_->download(src, host); }
  std::unique_ptr<bk::KvCache> make_kv_cache(int64_t width) override {
    return cpu_->make_kv_cache(width);
  }

  const float* prepare(const float* host, int64_t count, std::vector<Tensor>& keep) override {
    if (mode_ == Mode::Borrow) return cpu_->prepare(host, count, keep);
    return static_cast<const float*>(copy(host, count * sizeof(float), keep));
  }
  PackedMatrix prepare(const PackedMatrix& host, std::vector<Tensor>& keep) override {
    if (mode_ == Mode::Borrow) return cpu_->prepare(host, keep);
    PackedMatrix out = host;
    out.data = copy(host.data, wl::packed_bytes(host.layout, host.n, host.k), keep);
    if (host.scales)
      out.scales = static_cast<const float*>(
          copy(host.scales, host.n * (host.k / host.group) * sizeof(float), keep));
    return out;
  }

  void linear(bk::MatrixView x, const float* w, int64_t n, const float* bias,
              bk::Activation act, bk::MutableMatrixView y) override {
    cpu_->linear(x, w, n, bias, act, y);
  }
  void linear(bk::MatrixView x, const PackedMatrix& w, const float* bias, bk::Activation act,
              bk::MutableMatrixView y) override {
    cpu_->linear(x, w, bias, act, y);
  }
  void add_scaled(bk::MatrixView x, float alpha, bk::MutableMatrixView y) override {
    cpu_->add_scaled(x, alpha, y);
  }
  void layer_norm(bk::MatrixView x, const float* gamma, const float* beta, float eps,
                  bk::MutableMatrixView y) override {
    cpu_->layer_norm(x, gamma, beta, eps, y);
  }
  void embed(const bk::EmbeddingTable& table, const int32_t* ids, const int32_t* positions,
             bk::MutableMatrixView out) override {
    cpu_->embed(table, ids, positions, out);
  }
  void dequantize_row(const PackedMatrix& w, int64_t row, float* out) override {
    cpu_->dequantize_row(w, row, out);
  }
  void attention(bk::MatrixView q, bk::MatrixView k, bk::MatrixView v, int heads,
                 const bk::KeyRange* ranges, bk::MutableMatrixView out) override {
    cpu_->attention(q, k, v, heads, ranges, out);
  }
  void attention(bk::MatrixView q, const bk::KvCache& cache, int heads,
                 bk::MutableMatrixView out) override {
    cpu_->attention(q, cache, heads, out);
  }
  void route_top2(bk::MatrixView logits, bk::ExpertRoute* routes) override {
    cpu_->route_top2(logits, routes);
  }
  void gather_rows(bk::MatrixView x, const int64_t* rows, bk::MutableMatrixView out) override {
    cpu_->gather_rows(x, rows, out);
  }
  void scatter_rows(bk::MatrixView x, const int64_t* rows, bk::MutableMatrixView out) override {
    cpu_->scatter_rows(x, rows, out);
  }
  void expert_ffn(bk::MatrixView x, const bk::ExpertGroup* groups, int64_t count, const int64_t* rows,
                  const int64_t* slots, bk::MutableMatrixView gathered, bk::MutableMatrixView hidden,
                  bk::MutableMatrixView out) override {
    cpu_->expert_ffn(x, groups, count, rows, slots, gathered, hidden, out);
  }
  void combine_top2(bk::MatrixView first, bk::MatrixView second, const bk::ExpertRoute* routes,
                    bk::MutableMatrixView out) override {
    cpu_->combine_top2(first, second, routes, out);
  }
  void log_softmax(bk::MutableMatrixView x) override { cpu_->log_softmax(x); }
  void softmax(bk::MutableMatrixView x) override { cpu_->softmax(x); }
  void edit_scores(bk::MutableMatrixView x, const bk::ScoreEdit* edits, int64_t count) override {
    cpu_->edit_scores(x, edits, count);
  }
  void read_scores(bk::MatrixView x, const bk::ScoreIndex* entries, int64_t count, float* values) override {
    cpu_->read_scores(x, entries, count, values);
  }
  void fill_column(bk::MutableMatrixView x, int64_t column, float value) override {
    cpu_->fill_column(x, column, value);
  }
  void argmax_log_softmax(bk::MatrixView logits, int64_t excluded, int32_t* ids, float* logprobs) override {
    cpu_->argmax_log_softmax(logits, excluded, ids, logprobs);
  }
  void top_k(bk::MatrixView x, const double* base, const int64_t* group_begin, int64_t groups,
             int k, bk::BeamCandidate* out, int64_t* counts) override {
    cpu_->top_k(x, base, group_begin, groups, k, out, counts);
  }
  int threads() const override { return cpu_->threads(); }
  FencePtr fence() override {
    std::lock_guard<std::mutex> lock(mutex_);
    return fence_ ? fence_ : bk::completed_fence();
  }

 private:
  // A device copy: fp32 elements rounded up so any byte count fits.
  const void* copy(const void* host, size_t bytes, std::vector<Tensor>& keep) {
    Tensor t = cpu_->allocate(bk::DType::F32, {static_cast<int64_t>((bytes + 3) / 4)});
    std::memcpy(t.data(), host, bytes);
    {
      std::lock_guard<std::mutex> lock(mutex_);
      copied_bytes_ += t.bytes();
    }
    keep.push_back(std::move(t));
    return keep.back().data();
  }

  std::unique_ptr<Backend> cpu_;
  const Mode mode_;
  mutable std::mutex mutex_;
  FencePtr fence_;
  uint64_t copied_bytes_ = 0;
};

PinnedExpert acquire(DeviceExpertTier& tier, const ExpertKey& k) {
  return tier.acquire(k.stack, k.layer, k.expert);
}

// Acquires and releases at once with a completed fence (work done): the common cycle.
void use(DeviceExpertTier& tier, const ExpertKey& k) {
  acquire(tier, k).release_after(bk::completed_fence());
}

// Every value of an fp32 expert's prepared views is what the host holds for k.
void expect_values(const ExpertFfn& ffn, const ExpertKey& k) {
  const float t = tag(k);
  ASSERT_TRUE(ffn.fc1.weight.is_f32());
  for (int64_t i = 0; i < kFfn * kModel; ++i) {
    ASSERT_EQ(ffn.fc1.weight.f32[i], t) << i;
    ASSERT_EQ(ffn.fc2.weight.f32[i], -t) << i;
  }
  for (int64_t i = 0; i < kFfn; ++i) ASSERT_EQ(ffn.fc1.bias[i], t + 0.5f) << i;
  for (int64_t i = 0; i < kModel; ++i) ASSERT_EQ(ffn.fc2.bias[i], -t - 0.5f) << i;
  EXPECT_EQ(ffn.fc1.out, kFfn);
  EXPECT_EQ(ffn.fc1.in, kModel);
  EXPECT_EQ(ffn.fc2.out, kModel);
  EXPECT_EQ(ffn.fc2.in, kFfn);
}

// Waits for an async result without hanging the suite: a tier that never returns is a
// failure, and the process ends (the blocked thread cannot be joined).
template <typename T>
void join_or_abort(std::future<T>& f, const char* what) {
  if (f.wait_for(10s) != std::future_status::ready) {
    std::fprintf(stderr, "FAILED: %s did not return within 10 s\n", what);
    std::fflush(stderr);
    std::abort();
  }
}

// ---- borrowing (the CPU): views of the host pin, which the tier pin holds ----------------------

void check_borrowing(Backend& backend) {
  FakeHostSource host;
  DeviceExpertTier tier(host, backend, /*budget_bytes=*/2 * kExpertBytes);
  const ExpertKey a = key(0), b = key(1);
  const ExpertFfn& h = host.host_ffn(a);

  PinnedExpert pa = acquire(tier, a);
  EXPECT_EQ(pa->fc1.weight.f32, h.fc1.weight.f32);
  EXPECT_EQ(pa->fc1.bias, h.fc1.bias);
  EXPECT_EQ(pa->fc2.weight.f32, h.fc2.weight.f32);
  EXPECT_EQ(pa->fc2.bias, h.fc2.bias);
  expect_values(*pa, a);
  EXPECT_EQ(host.held(a), 1);  // the tier pin holds the host pin
  EXPECT_TRUE(host.releases(a).empty());

  {  // nothing is kept: a second pin of the same expert is a second host pin
    PinnedExpert again = acquire(tier, a);
    EXPECT_EQ(again->fc1.weight.f32, h.fc1.weight.f32);
    EXPECT_EQ(host.acquires(a), 2);
    EXPECT_EQ(host.held(a), 2);
  }  // dropped without a fence: the host is released with none
  ASSERT_EQ(host.releases(a).size(), 1u);
  EXPECT_EQ(host.releases(a)[0], nullptr);
  EXPECT_EQ(host.held(a), 1);

  auto work = std::make_shared<ManualFence>();
  pa.release_after(work);  // the host gets exactly this fence, so it keeps the bytes until done
  ASSERT_EQ(host.releases(a).size(), 2u);
  EXPECT_EQ(host.releases(a)[1].get(), work.get());
  EXPECT_EQ(host.held(a), 0);
  work->complete();

  acquire(tier, b);  // a temporary: dropped at once, released with none
  ASSERT_EQ(host.releases(b).size(), 1u);
  EXPECT_EQ(host.releases(b)[0], nullptr);

  const auto s = tier.stats();
  EXPECT_EQ(s.device_bytes, 0u);
  EXPECT_EQ(s.peak_device_bytes, 0u);
  EXPECT_EQ(s.evictions, 0u);
}

TEST(DeviceTierBorrow, ViewsAreTheHostPinsWhichEndWithTheWorkFence) {
  TestBackend backend(Mode::Borrow);
  check_borrowing(backend);
}

TEST(DeviceTierBorrow, TheCpuBackendBorrowsToo) {
  auto cpu = bk::make_cpu_backend(1);
  check_borrowing(*cpu);
}

// ---- copying (a device): the tier keeps prepared copies ---------------------------------------

TEST(DeviceTierCopy, CopiesEndTheHostPinWithTheUploadFenceAndAreReused) {
  FakeHostSource host;
  TestBackend backend(Mode::Copy);
  auto upload = std::make_shared<ManualFence>();
  backend.set_fence(upload);
  DeviceExpertTier tier(host, backend, /*budget_bytes=*/0);
  CompleteOnExit finish{{upload}};
  const ExpertKey a = key(3);
  const ExpertFfn& h = host.host_ffn(a);

  PinnedExpert pa = acquire(tier, a);
  EXPECT_NE(pa->fc1.weight.f32, h.fc1.weight.f32);
  EXPECT_NE(pa->fc1.bias, h.fc1.bias);
  EXPECT_NE(pa->fc2.weight.f32, h.fc2.weight.f32);
  EXPECT_NE(pa->fc2.bias, h.fc2.bias);
  expect_values(*pa, a);
  // The host pin ended at once, with the fence of the upload that read its bytes.
  EXPECT_EQ(host.held(a), 0);
  ASSERT_EQ(host.releases(a).size(), 1u);
  EXPECT_EQ(host.releases(a)[0].get(), upload.get());

  upload->complete();
  backend.set_fence(nullptr);
  pa.release_after(bk::completed_fence());
  PinnedExpert again = acquire(tier, a);  // a hit: the same copy, no host acquire
  EXPECT_EQ(again->fc1.weight.f32, pa->fc1.weight.f32);
  EXPECT_EQ(host.acquires(a), 1);
  EXPECT_EQ(host.releases(a).size(), 1u);

  const auto s = tier.stats();
  EXPECT_EQ(s.hits, 1u);
  EXPECT_EQ(s.misses, 1u);
  EXPECT_EQ(s.device_bytes, kExpertBytes);
  EXPECT_EQ(s.device_bytes, backend.copied_bytes());
  EXPECT_EQ(s.peak_device_bytes, kExpertBytes);
}

TEST(DeviceTierCopy, PackedWeightsAreCopiedWithTheirScales) {
  FakeHostSource host(/*packed_fc1=*/true);
  TestBackend backend(Mode::Copy);
  DeviceExpertTier tier(host, backend, 0);
  const ExpertKey a = key(5);
  const ExpertFfn& h = host.host_ffn(a);

  PinnedExpert pa = acquire(tier, a);
  const PackedMatrix& hp = h.fc1.weight.packed;
  const PackedMatrix& dp = pa->fc1.weight.packed;
  EXPECT_FALSE(pa->fc1.weight.is_f32());
  EXPECT_NE(dp.data, hp.data);
  EXPECT_NE(dp.scales, hp.scales);
  EXPECT_EQ(dp.layout, hp.layout);
  EXPECT_EQ(dp.n, hp.n);
  EXPECT_EQ(dp.k, hp.k);
  EXPECT_EQ(dp.group, hp.group);
  EXPECT_EQ(std::memcmp(dp.data, hp.data, wl::packed_bytes(hp.layout, hp.n, hp.k)), 0);
  for (int64_t i = 0; i < kFfn * (kModel / kGroup); ++i) EXPECT_EQ(dp.scales[i], tag(a));
  EXPECT_EQ(tier.stats().device_bytes, backend.copied_bytes());
}

// ---- prefetch: Soon hints start copies of what the host holds, into free budget only --------

TEST(DeviceTierPrefetch, SoonHintsCopyAheadAndTheAcquireHits) {
  FakeHostSource host;
  TestBackend backend(Mode::Copy);
  DeviceExpertTier tier(host, backend, /*budget_bytes=*/0);
  EXPECT_FALSE(tier.wants_hints());  // not known to copy until the first prepare
  use(tier, key(0));
  EXPECT_TRUE(tier.wants_hints());
  tier.hint(key(0).stack, key(0).layer, {4, 5, 0}, ExpertHint::Soon);  // 0 is cached already
  auto s = tier.stats();
  EXPECT_EQ(s.prefetched, 2u);
  EXPECT_EQ(host.acquires(key(4)), 1);
  EXPECT_EQ(host.held(key(4)), 0);  // the host pin ended with the upload
  PinnedExpert p = acquire(tier, key(4));
  expect_values(*p, key(4));
  s = tier.stats();
  EXPECT_EQ(s.hits, 1u);
  EXPECT_EQ(s.misses, 1u);
  EXPECT_EQ(host.acquires(key(4)), 1);
  tier.hint(key(0).stack, key(0).layer, {6}, ExpertHint::Now);  // Now hints copy nothing
  EXPECT_EQ(tier.stats().prefetched, 2u);
}

TEST(DeviceTierPrefetch, NeverEvictsAndSkipsWhatTheHostLacks) {
  FakeHostSource host;
  TestBackend backend(Mode::Copy);
  DeviceExpertTier tier(host, backend, /*budget_bytes=*/2 * kExpertBytes);
  PinnedExpert a = acquire(tier, key(0));
  tier.hint(key(0).stack, key(0).layer, {1, 2, 3}, ExpertHint::Soon);  // room for one
  auto s = tier.stats();
  EXPECT_EQ(s.prefetched, 1u);
  EXPECT_EQ(s.evictions, 0u);
  EXPECT_LE(s.device_bytes, 2 * kExpertBytes);
  a.release_after(bk::completed_fence());

  // A host tier that holds nothing loaded (the default try_acquire): nothing is copied.
  struct ColdHost final : ExpertSource {
    FakeHostSource inner;
    PinnedExpert acquire(Stack st, int l, int e) override { return inner.acquire(st, l, e); }
    int max_pinned() const override { return 1000; }
    void release(void*, FencePtr) override {}
  } cold;
  DeviceExpertTier cold_tier(cold, backend, 0);
  use(cold_tier, key(0));
  cold_tier.hint(key(0).stack, key(0).layer, {1, 2}, ExpertHint::Soon);
  EXPECT_EQ(cold_tier.stats().prefetched, 0u);
}

TEST(DeviceTierPrefetch, BorrowingTiersTakeNoHints) {
  FakeHostSource host;
  TestBackend backend(Mode::Borrow);
  DeviceExpertTier tier(host, backend, 0);
  use(tier, key(0));
  EXPECT_FALSE(tier.wants_hints());
  tier.hint(key(0).stack, key(0).layer, {1}, ExpertHint::Soon);
  EXPECT_EQ(tier.stats().prefetched, 0u);
  EXPECT_EQ(host.acquires(key(1)), 0);
}

// ---- the budget: least recently used first ---------------------------------------------------

TEST(DeviceTierBudget, EvictsTheLeastRecentlyUsed) {
  FakeHostSource host;
  TestBackend backend(Mode::Copy);
  const uint64_t budget = 2 * kExpertBytes;
  DeviceExpertTier tier(host, backend, budget);
  const ExpertKey a = key(0), b = key(1), c = key(2);

  use(tier, a);
  use(tier, b);
  use(tier, c);  // evicts a
  auto s = tier.stats();
  EXPECT_EQ(s.evictions, 1u);
  EXPECT_EQ(s.device_bytes, budget);

  use(tier, b);  // a hit: c is now the least recent
  EXPECT_EQ(host.acquires(b), 1);
  use(tier, a);  // a miss, evicts c (not b, though b came in first)
  EXPECT_EQ(host.acquires(a), 2);
  use(tier, b);  // still there
  EXPECT_EQ(host.acquires(b), 1);
  use(tier, c);  // evicted above: a miss, evicting a
  EXPECT_EQ(host.acquires(c), 2);
  use(tier, b);
  EXPECT_EQ(host.acquires(b), 1);

  s = tier.stats();
  EXPECT_EQ(s.misses, 5u);
  EXPECT_EQ(s.hits, 3u);
  EXPECT_EQ(s.evictions, 3u);
  EXPECT_LE(s.device_bytes, budget);
  EXPECT_EQ(s.peak_device_bytes, budget);
}

TEST(DeviceTierBudget, BelowOneExpertIsInvalidAndZeroKeepsEverything) {
  {
    FakeHostSource host;
    TestBackend backend(Mode::Copy);
    DeviceExpertTier tier(host, backend, kExpertBytes - 1);
    try {
      acquire(tier, key(0));
      FAIL() << "expected InvalidArgument";
    } catch (const tusk::Error& e) {
      EXPECT_EQ(e.code(), tusk::ErrorCode::InvalidArgument) << e.what();
    }
    EXPECT_EQ(host.held(key(0)), 0);  // the host pin did not leak
    EXPECT_EQ(tier.stats().device_bytes, 0u);
  }
  {
    FakeHostSource host;
    TestBackend backend(Mode::Copy);
    DeviceExpertTier tier(host, backend, 0);
    constexpr int kExperts = 16;
    for (int pass = 0; pass < 2; ++pass)
      for (int e = 0; e < kExperts; ++e) use(tier, key(e));
    for (int e = 0; e < kExperts; ++e) EXPECT_EQ(host.acquires(key(e)), 1) << e;
    const auto s = tier.stats();
    EXPECT_EQ(s.evictions, 0u);
    EXPECT_EQ(s.hits, static_cast<uint64_t>(kExperts));
    EXPECT_EQ(s.device_bytes, kExperts * kExpertBytes);
    EXPECT_EQ(s.peak_device_bytes, kExperts * kExpertBytes);
  }
}

// ---- pins and fences ---------------------------------------------------------------------------

TEST(DeviceTierPins, PinnedExpertsAreNeverEvicted) {
  FakeHostSource host;
  TestBackend backend(Mode::Copy);
  DeviceExpertTier tier(host, backend, kExpertBytes);  // room for one
  const ExpertKey a = key(0), b = key(1);
  {
    PinnedExpert pa = acquire(tier, a);
    const float* copy = pa->fc1.weight.f32;
    try {
      acquire(tier, b);
      FAIL() << "expected an error: the only cached expert is pinned";
    } catch (const tusk::Error& e) {
      EXPECT_EQ(e.code(), tusk::ErrorCode::Internal) << e.what();
      EXPECT_NE(std::string(e.what()).find("pinned"), std::string::npos) << e.what();
    }
    EXPECT_EQ(pa->fc1.weight.f32, copy);
    expect_values(*pa, a);
    EXPECT_EQ(tier.stats().evictions, 0u);
    EXPECT_EQ(host.held(b), 0);  // b's host pin ended despite the error
  }
  // Unpinned now (dropped without work): b evicts it.
  PinnedExpert pb = acquire(tier, b);
  expect_values(*pb, b);
  const auto s = tier.stats();
  EXPECT_EQ(s.evictions, 1u);
  EXPECT_EQ(s.device_bytes, kExpertBytes);
  EXPECT_EQ(s.peak_device_bytes, kExpertBytes);
}

TEST(DeviceTierFence, ADoneExpertGoesBeforeABusyOneThatIsLessRecent) {
  FakeHostSource host;
  TestBackend backend(Mode::Copy);
  DeviceExpertTier tier(host, backend, 2 * kExpertBytes);
  auto busy = std::make_shared<ManualFence>();
  CompleteOnExit finish{{busy}};
  const ExpertKey a = key(0), b = key(1), c = key(2);

  acquire(tier, a).release_after(busy);  // least recent, but its work still runs
  acquire(tier, b);                      // dropped without work: done
  use(tier, c);                          // must evict b, not a, and not wait
  EXPECT_EQ(busy->waits(), 0);
  EXPECT_EQ(tier.stats().evictions, 1u);
  use(tier, a);
  EXPECT_EQ(host.acquires(a), 1);  // a stayed
  use(tier, b);                    // b was the one evicted
  EXPECT_EQ(host.acquires(b), 2);
  EXPECT_EQ(busy->waits(), 0);  // c (done) made the room, not a
}

TEST(DeviceTierFence, AMissWaitsForTheWorkReadingItsOnlyVictim) {
  FakeHostSource host;
  TestBackend backend(Mode::Copy);
  DeviceExpertTier tier(host, backend, kExpertBytes);  // room for one
  auto busy = std::make_shared<ManualFence>();
  CompleteOnExit finish{{busy}};
  const ExpertKey a = key(0), b = key(1);
  acquire(tier, a).release_after(busy);

  std::atomic<bool> completed{false};
  auto got = std::async(std::launch::async, [&] {
    PinnedExpert pb = acquire(tier, b);
    const bool after = completed.load();
    expect_values(*pb, b);
    return after;
  });
  std::this_thread::sleep_for(50ms);
  EXPECT_EQ(got.wait_for(0s), std::future_status::timeout)
      << "b was placed while a's work was still running";
  EXPECT_EQ(tier.stats().evictions, 0u);
  EXPECT_EQ(tier.stats().device_bytes, kExpertBytes);
  completed = true;
  busy->complete();
  join_or_abort(got, "an acquire waiting for its victim's fence");
  EXPECT_TRUE(got.get()) << "acquire returned before the fence completed";
  EXPECT_GE(busy->waits(), 1);
  const auto s = tier.stats();
  EXPECT_EQ(s.evictions, 1u);
  EXPECT_EQ(s.device_bytes, kExpertBytes);
}

TEST(DeviceTierFence, DestructionWaitsForTheWorkReadingCachedCopies) {
  FakeHostSource host;
  TestBackend backend(Mode::Copy);
  auto tier = std::make_unique<DeviceExpertTier>(host, backend, 0);
  auto busy = std::make_shared<ManualFence>();
  CompleteOnExit finish{{busy}};
  use(*tier, key(0));
  acquire(*tier, key(1)).release_after(busy);
  acquire(*tier, key(2));

  std::atomic<bool> completed{false};
  auto destroyed = std::async(std::launch::async, [&] {
    tier.reset();
    return completed.load();
  });
  std::this_thread::sleep_for(50ms);
  EXPECT_EQ(destroyed.wait_for(0s), std::future_status::timeout)
      << "the tier was destroyed while work still read a cached copy";
  completed = true;
  busy->complete();
  join_or_abort(destroyed, "the tier's destructor");
  EXPECT_TRUE(destroyed.get()) << "the destructor returned before the fence completed";
}

// Several threads, each holding one pin at a time: a budget of (threads) experts always has
// room, every acquire sees its own expert, and the counters add up.
TEST(DeviceTierCopy, ConcurrentAcquiresAreSafe) {
  constexpr int kThreads = 4, kRounds = 500;
  FakeHostSource host;
  TestBackend backend(Mode::Copy);
  DeviceExpertTier tier(host, backend, kThreads * kExpertBytes);
  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < kRounds; ++i) {
        const ExpertKey k = key((i * 7 + t * 3) % 8, 1 + i % 2);
        PinnedExpert p = acquire(tier, k);
        if (p->fc1.weight.f32[0] != tag(k) || p->fc2.bias[kModel - 1] != -tag(k) - 0.5f)
          wrong.fetch_add(1);
        p.release_after(bk::completed_fence());
      }
    });
  for (auto& th : threads) th.join();
  EXPECT_EQ(wrong.load(), 0);
  const auto s = tier.stats();
  EXPECT_EQ(s.hits + s.misses, static_cast<uint64_t>(kThreads) * kRounds);
  EXPECT_LE(s.peak_device_bytes, kThreads * kExpertBytes);
  EXPECT_EQ(s.device_bytes % kExpertBytes, 0u);
}

}  // namespace

namespace {

// Two misses of one expert: the first waits in make_room (lock dropped) while the second
// places the expert. Both must end up sharing one cached copy (a re-check after make_room;
// without it the first thread's entry was dropped while pinned and listed).
TEST(DeviceTierRace, AMissThatWaitedSharesTheCopyPlacedMeanwhile) {
  FakeHostSource host;
  TestBackend backend(Mode::Copy);
  DeviceExpertTier tier(host, backend, 2 * kExpertBytes);
  auto busy = std::make_shared<ManualFence>();
  CompleteOnExit finish{{busy}};
  const ExpertKey a = key(0), b = key(1), c = key(2);
  acquire(tier, a).release_after(busy);  // the only unpinned victim, still busy
  auto pc = std::make_unique<PinnedExpert>(acquire(tier, c));
  auto waiter = std::async(std::launch::async, [&] {
    PinnedExpert pb = acquire(tier, b);  // waits on busy for a's room
    return &*pb;
  });
  for (int i = 0; i < 5000 && busy->waits() == 0; ++i) std::this_thread::sleep_for(1ms);
  ASSERT_EQ(busy->waits(), 1);
  pc.reset();                             // c is now evictable at once
  PinnedExpert mine = acquire(tier, b);  // evicts c and places b meanwhile
  busy->complete();
  join_or_abort(waiter, "an acquire waiting for its victim's fence");
  EXPECT_EQ(waiter.get(), &*mine) << "two copies of one expert";
  expect_values(*mine, b);
  mine.release_after(bk::completed_fence());
  // The cache stays consistent: more misses evict and place within the budget.
  for (int e = 3; e < 6; ++e) use(tier, key(e));
  const auto s = tier.stats();
  EXPECT_LE(s.peak_device_bytes, 2 * kExpertBytes);
  EXPECT_EQ(s.device_bytes, 2 * kExpertBytes);
}

}  // namespace
