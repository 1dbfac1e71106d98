// The CUDA KvCache: like the CPU's, a slot of rows per hypothesis in device memory (one
// contiguous key range each; backends/kv_slots.h keeps the books). A step's rows are written
// to a staging matrix and scattered into the slots on the stream before attention reads them;
// a relayout (more slots, longer slots) copies the kept rows into a fresh buffer.
#pragma once

#include <memory>
#include <utility>
#include <vector>

#include "backends/backend.h"
#include "backends/cuda/cuda_context.h"
#include "backends/kv_slots.h"

namespace tusk::backends::cuda {

class CudaKvCache final : public KvCache {
 public:
  CudaKvCache(std::shared_ptr<Context> context, int64_t width);
  ~CudaKvCache() override;

  void clear() override;
  std::pair<MutableMatrixView, MutableMatrixView> append(int64_t hyps) override;
  void reorder(const std::vector<int32_t>& parents) override;
  int64_t steps() const override { return slots_.steps(); }
  int64_t hyps() const override { return slots_.hyps(); }

  int64_t width() const { return width_; }
  const Context* context() const { return context_.get(); }
  // Committed first (the staged step scattered into the slots): what attention reads.
  const KvSlots& slots() const;
  MatrixView keys() const { return {k_, slots_.rows(), width_, width_}; }
  MatrixView values() const { return {v_, slots_.rows(), width_, width_}; }

 private:
  void commit() const;
  void apply(const KvSlots::Moves& moves, int64_t rows);
  std::pair<float*, float*> allocate_pair(size_t bytes);

  std::shared_ptr<Context> context_;
  int64_t width_;
  KvSlots slots_;
  float* k_ = nullptr;  // [slots][capacity][width]
  float* v_ = nullptr;
  float* stage_k_ = nullptr;  // the last step's [hyps][width], until commit
  float* stage_v_ = nullptr;
  int64_t stage_rows_ = 0;
  mutable bool staged_ = false;
  mutable std::vector<int64_t> rows_;  // commit's destination rows, reused
};

}  // namespace tusk::backends::cuda
