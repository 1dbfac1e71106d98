// The CPU KvCache: per step [hyps][width] rows, appended step after step, so a step only
// appends and hypothesis j's keys are rows j, j + H, j + 2H, ... (one strided key range, no
// copies when attending). reorder() rewrites the steps when search keeps, drops or duplicates
// hypotheses.
#include <cstring>

#include "backends/cpu/cpu_ops.h"
#include "backends/op_checks.h"
#include "common/error.h"

namespace tusk::backends::cpu {
namespace {

class CpuKvCache final : public KvCache {
 public:
  CpuKvCache(int64_t width, std::shared_ptr<std::vector<float>> scratch)
      : width_(width), scratch_(std::move(scratch)) {}

  void clear() override {
    k_.clear();
    v_.clear();
    steps_ = 0;
    hyps_ = 0;
  }

  std::pair<MutableMatrixView, MutableMatrixView> append(int64_t hyps) override {
    checks::kv_append(hyps, steps_, hyps_);
    hyps_ = hyps;
    const size_t step = static_cast<size_t>(hyps * width_);
    k_.resize((steps_ + 1) * step);
    v_.resize((steps_ + 1) * step);
    float* k = k_.data() + steps_ * step;
    float* v = v_.data() + steps_ * step;
    ++steps_;
    return {{k, hyps, width_, width_}, {v, hyps, width_, width_}};
  }

  void reorder(const std::vector<int32_t>& parents) override {
    const int64_t new_h = static_cast<int64_t>(parents.size());
    if (checks::kv_reorder(parents, hyps_)) return;
    std::vector<float>& scratch = *scratch_;
    for (auto* buf : {&k_, &v_}) {
      scratch.resize(static_cast<size_t>(steps_ * new_h * width_));
      for (int64_t t = 0; t < steps_; ++t)
        for (int64_t j = 0; j < new_h; ++j)
          std::memcpy(scratch.data() + (t * new_h + j) * width_,
                      buf->data() + (t * hyps_ + parents[j]) * width_, width_ * sizeof(float));
      buf->swap(scratch);
    }
    hyps_ = new_h;
  }

  int64_t steps() const override { return steps_; }
  int64_t hyps() const override { return hyps_; }
  int64_t width() const { return width_; }
  MatrixView keys() const { return {k_.data(), steps_ * hyps_, width_, width_}; }
  MatrixView values() const { return {v_.data(), steps_ * hyps_, width_, width_}; }

 private:
  int64_t width_;
  std::vector<float> k_, v_;  // [steps][hyps][width]
  // Shared by the backend's caches (one thread uses a backend): a reorder swaps buffers with
  // it, so every layer's reorder reuses memory already touched instead of one spare each.
  std::shared_ptr<std::vector<float>> scratch_;
  int64_t steps_ = 0, hyps_ = 0;
};

}  // namespace

std::unique_ptr<KvCache> make_kv_cache(int64_t width, std::shared_ptr<std::vector<float>> scratch) {
  if (width <= 0) throw Error(ErrorCode::InvalidArgument, "kv cache: width must be > 0");
  return std::make_unique<CpuKvCache>(width, std::move(scratch));
}

void cached_attention(MatrixView q, const KvCache& cache, int heads, MutableMatrixView out,
                      int threads, std::vector<float>& scratch, std::vector<KeyRange>& ranges) {
  const auto* c = dynamic_cast<const CpuKvCache*>(&cache);
  if (c == nullptr)
    throw Error(ErrorCode::InvalidArgument, "attention: the kv cache belongs to another backend");
  if (q.rows != c->hyps() || q.cols != c->width())
    throw Error(ErrorCode::InvalidArgument, "attention: q must be [cache hyps, cache width]");
  if (q.rows == 0) return;
  ranges.resize(static_cast<size_t>(q.rows));
  for (int64_t j = 0; j < q.rows; ++j) ranges[j] = {j, c->steps(), c->hyps()};
  attention(q, c->keys(), c->values(), heads, ranges.data(), out, threads, scratch);
}

}  // namespace tusk::backends::cpu
