#include "backends/cuda/kv_cache_cuda.h"

#include <algorithm>
#include <utility>

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
  const int64_t hyps = slots_.hyps();
  if (hyps == 0) {
    staged_ = false;
    return;
  }
  context_->make_current();
  rows_.resize(static_cast<size_t>(hyps));
  for (int64_t j = 0; j < hyps; ++j) rows_[static_cast<size_t>(j)] = slots_.row_of(j);
  const int64_t* rows = context_->put_array(rows_.data(), hyps);
  const MatrixView stage_k{stage_k_, hyps, width_, width_}, stage_v{stage_v_, hyps, width_, width_};
  scatter_rows(context_->stream(), stage_k, rows, {k_, slots_.rows(), width_, width_});
  scatter_rows(context_->stream(), stage_v, rows, {v_, slots_.rows(), width_, width_});
  staged_ = false;  // only once both copies are queued: a failure leaves the step staged
}

const KvSlots& CudaKvCache::slots() const {
  commit();
  return slots_;
}

// Two device buffers of `bytes` each, or neither (the first freed if the second fails).
std::pair<float*, float*> CudaKvCache::allocate_pair(size_t bytes) {
  auto* first = static_cast<float*>(context_->allocate(bytes));
  try {
    return {first, static_cast<float*>(context_->allocate(bytes))};
  } catch (...) {
    context_->free_async(first);
    throw;
  }
}

// Both new buffers are allocated before either changes: a failure leaves the cache as it was.
void CudaKvCache::apply(const KvSlots::Moves& moves, int64_t rows) {
  const size_t row_bytes = static_cast<size_t>(width_) * sizeof(float);
  if (moves.relayout) {
    const auto [fresh_k, fresh_v] = allocate_pair(static_cast<size_t>(rows) * row_bytes);
    try {
      for (const KvSlots::Copy& c : moves.relayout_copies)
        for (auto [fresh, old] : {std::pair<float*, float*>{fresh_k, k_}, {fresh_v, v_}})
          check(cudaMemcpyAsync(fresh + c.dst_row * width_, old + c.src_row * width_,
                                static_cast<size_t>(c.rows) * row_bytes, cudaMemcpyDeviceToDevice,
                                context_->stream()),
                "kv cache relayout");
    } catch (...) {
      context_->free_async(fresh_k);
      context_->free_async(fresh_v);
      throw;
    }
    context_->free_async(k_);
    context_->free_async(v_);
    k_ = fresh_k;
    v_ = fresh_v;
  }
  for (float* buffer : {k_, v_})
    for (const KvSlots::Copy& c : moves.within)
      check(cudaMemcpyAsync(buffer + c.dst_row * width_, buffer + c.src_row * width_,
                            static_cast<size_t>(c.rows) * row_bytes, cudaMemcpyDeviceToDevice, context_->stream()),
            "kv cache copy");
}

std::pair<MutableMatrixView, MutableMatrixView> CudaKvCache::append(int64_t hyps) {
  context_->make_current();
  commit();
  KvSlots next = slots_;  // adopted once the buffers are in place (kv_slots.h)
  const KvSlots::Moves moves = next.append(hyps);
  if (hyps > stage_rows_) {  // new staging first: the old stays valid if this fails
    const int64_t rows = std::max(hyps, 2 * stage_rows_);
    const size_t bytes = static_cast<size_t>(rows * width_) * sizeof(float);
    const auto [stage_k, stage_v] = allocate_pair(bytes);
    context_->free_async(stage_k_);
    context_->free_async(stage_v_);
    stage_k_ = stage_k;
    stage_v_ = stage_v;
    stage_rows_ = rows;
  }
  apply(moves, next.rows());
  slots_ = std::move(next);
  staged_ = true;
  return {{stage_k_, hyps, width_, width_}, {stage_v_, hyps, width_, width_}};
}

void CudaKvCache::reorder(const std::vector<int32_t>& parents) {
  context_->make_current();
  commit();
  KvSlots next = slots_;
  const KvSlots::Moves moves = next.reorder(parents);
  apply(moves, next.rows());
  slots_ = std::move(next);
}

}  // namespace tusk::backends::cuda
