#include "backends/cuda/kv_cache_cuda.h"

#include <algorithm>

#include "backends/cuda/cuda_ops.h"
#include "backends/op_checks.h"

namespace tusk::backends::cuda {

CudaKvCache::CudaKvCache(std::shared_ptr<Context> context, int64_t width)
    : context_(std::move(context)), width_(width) {}

CudaKvCache::~CudaKvCache() {
  context_->free_async(k_);
  context_->free_async(v_);
}

void CudaKvCache::clear() {
  steps_ = 0;
  hyps_ = 0;
}

// New buffers of `rows` rows holding the first keep_rows rows of the old ones.
void CudaKvCache::resize(int64_t rows, int64_t keep_rows) {
  const size_t row_bytes = static_cast<size_t>(width_) * sizeof(float);
  for (float** buffer : {&k_, &v_}) {
    auto* fresh = static_cast<float*>(context_->allocate(static_cast<size_t>(rows) * row_bytes));
    if (keep_rows > 0)
      check(cudaMemcpyAsync(fresh, *buffer, static_cast<size_t>(keep_rows) * row_bytes, cudaMemcpyDeviceToDevice,
                            context_->stream()),
            "kv cache copy");
    context_->free_async(*buffer);
    *buffer = fresh;
  }
  capacity_rows_ = rows;
}

std::pair<MutableMatrixView, MutableMatrixView> CudaKvCache::append(int64_t hyps) {
  checks::kv_append(hyps, steps_, hyps_);
  context_->make_current();
  hyps_ = hyps;
  const int64_t rows = (steps_ + 1) * hyps;
  if (rows > capacity_rows_) resize(std::max({rows, 2 * capacity_rows_, 16 * hyps}), steps_ * hyps);
  float* k = k_ + steps_ * hyps * width_;
  float* v = v_ + steps_ * hyps * width_;
  ++steps_;
  return {{k, hyps, width_, width_}, {v, hyps, width_, width_}};
}

void CudaKvCache::reorder(const std::vector<int32_t>& parents) {
  if (checks::kv_reorder(parents, hyps_)) return;
  context_->make_current();
  const int64_t new_hyps = static_cast<int64_t>(parents.size());
  const int32_t* device_parents = context_->put_array(parents.data(), new_hyps);
  const int64_t rows = std::max<int64_t>(steps_ * new_hyps, 1);
  const size_t bytes = static_cast<size_t>(std::max(rows, capacity_rows_)) * width_ * sizeof(float);
  for (float** buffer : {&k_, &v_}) {
    auto* fresh = static_cast<float*>(context_->allocate(bytes));
    reorder_steps(context_->stream(), *buffer, fresh, steps_, hyps_, new_hyps, width_, device_parents);
    context_->free_async(*buffer);
    *buffer = fresh;
  }
  capacity_rows_ = std::max(rows, capacity_rows_);
  hyps_ = new_hyps;
}

}  // namespace tusk::backends::cuda
