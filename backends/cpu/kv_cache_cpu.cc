// The CPU KvCache: a slot of rows per hypothesis (backends/kv_slots.h), so each hypothesis's
// keys are one contiguous range and search's reorders copy only a duplicate's rows (and every
// live row when the slots grow). A step's [hyps, width] keys and values are written where
// append() says (staging rows) and copied into the slots before anything reads them.
#include <cstring>

#include "backends/cpu/cpu_ops.h"
#include "backends/kv_slots.h"
#include "common/error.h"

namespace tusk::backends::cpu {
namespace {

class CpuKvCache final : public KvCache {
 public:
  explicit CpuKvCache(int64_t width) : width_(width) {}

  void clear() override {
    staged_ = false;
    slots_.clear();
  }

  std::pair<MutableMatrixView, MutableMatrixView> append(int64_t hyps) override {
    commit();
    KvSlots next = slots_;  // adopted once the buffers are in place (kv_slots.h)
    const KvSlots::Moves moves = next.append(hyps);
    const size_t rows = static_cast<size_t>(hyps * width_);
    if (staging_k_.size() < rows) staging_k_.resize(rows);
    if (staging_v_.size() < rows) staging_v_.resize(rows);  // each checked: one may have grown alone
    apply(moves, next.rows());
    slots_ = std::move(next);
    staged_ = true;
    return {{staging_k_.data(), hyps, width_, width_}, {staging_v_.data(), hyps, width_, width_}};
  }

  void reorder(const std::vector<int32_t>& parents) override {
    commit();
    KvSlots next = slots_;
    const KvSlots::Moves moves = next.reorder(parents);
    apply(moves, next.rows());
    slots_ = std::move(next);
  }

  int64_t steps() const override { return slots_.steps(); }
  int64_t hyps() const override { return slots_.hyps(); }
  int64_t width() const { return width_; }
  // Committed first: attention reads the slots (logically const: the cache's contents as
  // appended do not change).
  const KvSlots& slots() const {
    commit();
    return slots_;
  }
  MatrixView keys() const { return {k_.data(), slots_.rows(), width_, width_}; }
  MatrixView values() const { return {v_.data(), slots_.rows(), width_, width_}; }

 private:
  // The staged step's rows into their slots.
  void commit() const {
    if (!staged_) return;
    const size_t bytes = static_cast<size_t>(width_) * sizeof(float);
    for (int64_t j = 0; j < slots_.hyps(); ++j) {
      std::memcpy(k_.data() + slots_.row_of(j) * width_, staging_k_.data() + j * width_, bytes);
      std::memcpy(v_.data() + slots_.row_of(j) * width_, staging_v_.data() + j * width_, bytes);
    }
    staged_ = false;
  }

  // Both new buffers are allocated before either changes: a failure leaves the cache as it was.
  void apply(const KvSlots::Moves& m, int64_t rows) {
    const size_t row_bytes = static_cast<size_t>(width_) * sizeof(float);
    if (m.relayout) {
      std::vector<float> fresh_k(static_cast<size_t>(rows * width_)), fresh_v(fresh_k.size());
      for (const KvSlots::Copy& c : m.relayout_copies) {
        std::memcpy(fresh_k.data() + c.dst_row * width_, k_.data() + c.src_row * width_,
                    static_cast<size_t>(c.rows) * row_bytes);
        std::memcpy(fresh_v.data() + c.dst_row * width_, v_.data() + c.src_row * width_,
                    static_cast<size_t>(c.rows) * row_bytes);
      }
      k_.swap(fresh_k);
      v_.swap(fresh_v);
    }
    for (std::vector<float>* buffer : {&k_, &v_})
      for (const KvSlots::Copy& c : m.within)
        std::memcpy(buffer->data() + c.dst_row * width_, buffer->data() + c.src_row * width_,
                    static_cast<size_t>(c.rows) * row_bytes);
  }

  int64_t width_;
  KvSlots slots_;
  mutable std::vector<float> k_, v_;  // [slots][capacity][width]
  std::vector<float> staging_k_, staging_v_;  // the last step's [hyps][width], until commit
  mutable bool staged_ = false;
};

}  // namespace

std::unique_ptr<KvCache> make_kv_cache(int64_t width) {
  if (width <= 0) throw Error(ErrorCode::InvalidArgument, "kv cache: width must be > 0");
  return std::make_unique<CpuKvCache>(width);
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
  const KvSlots& slots = c->slots();
  for (int64_t j = 0; j < q.rows; ++j) ranges[j] = slots.range(j);
  attention(q, c->keys(), c->values(), heads, ranges.data(), out, threads, scratch);
}

}  // namespace tusk::backends::cpu
