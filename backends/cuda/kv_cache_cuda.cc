#include "backends/cuda/kv_cache_cuda.h"

#include <algorithm>

#include "backends/cuda/cuda_ops.h"

namespace tusk::backends::cuda {

CudaKvCache::CudaKvCache(std::shared_ptr<Context> context, int64_t width)
    : context_(std::move(context)), width_(width) {}

CudaKvCache::~CudaKvCache() {
  for (float* buffer : {k_, v_, stage_k_, stage_v_}) context_->free_async(buffer);
}

void CudaKvCache::clear() {
  staged_ = false;
  slots_.clear();
}

void CudaKvCache::commit() const {
  if (!staged_) return;
  staged_ = false;
  const int64_t hyps = slots_.hyps();
  if (hyps == 0) return;
  context_->make_current();
  rows_.resize(static_cast<size_t>(hyps));
  for (int64_t j = 0; j < hyps; ++j) rows_[static_cast<size_t>(j)] = slots_.row_of(j);
  const int64_t* rows = context_->put_array(rows_.data(), hyps);
  const MatrixView stage_k{stage_k_, hyps, width_, width_}, stage_v{stage_v_, hyps, width_, width_};
  scatter_rows(context_->stream(), stage_k, rows, {k_, slots_.rows(), width_, width_});
  scatter_rows(context_->stream(), stage_v, rows, {v_, slots_.rows(), width_, width_});
}

const KvSlots& CudaKvCache::slots() const {
  commit();
  return slots_;
}

void CudaKvCache::apply(const KvSlots::Moves& moves) {
  const size_t row_bytes = static_cast<size_t>(width_) * sizeof(float);
  for (float** buffer : {&k_, &v_}) {
    if (moves.relayout) {
      auto* fresh = static_cast<float*>(context_->allocate(static_cast<size_t>(slots_.rows()) * row_bytes));
      for (const KvSlots::Copy& c : moves.relayout_copies)
        check(cudaMemcpyAsync(fresh + c.dst_row * width_, *buffer + c.src_row * width_,
                              static_cast<size_t>(c.rows) * row_bytes, cudaMemcpyDeviceToDevice, context_->stream()),
              "kv cache relayout");
      context_->free_async(*buffer);
      *buffer = fresh;
    }
    for (const KvSlots::Copy& c : moves.within)
      check(cudaMemcpyAsync(*buffer + c.dst_row * width_, *buffer + c.src_row * width_,
                            static_cast<size_t>(c.rows) * row_bytes, cudaMemcpyDeviceToDevice, context_->stream()),
            "kv cache copy");
  }
}

std::pair<MutableMatrixView, MutableMatrixView> CudaKvCache::append(int64_t hyps) {
  context_->make_current();
  commit();
  apply(slots_.append(hyps));
  if (hyps > stage_rows_) {
    const int64_t rows = std::max(hyps, 2 * stage_rows_);
    for (float** stage : {&stage_k_, &stage_v_}) {
      context_->free_async(*stage);
      *stage = static_cast<float*>(context_->allocate(static_cast<size_t>(rows * width_) * sizeof(float)));
    }
    stage_rows_ = rows;
  }
  staged_ = true;
  return {{stage_k_, hyps, width_, width_}, {stage_v_, hyps, width_, width_}};
}

void CudaKvCache::reorder(const std::vector<int32_t>& parents) {
  context_->make_current();
  commit();
  apply(slots_.reorder(parents));
}

}  // namespace tusk::backends::cuda
