// The CUDA KvCache: like the CPU's, steps of [hyps][width] rows one after another in device
// memory, so hypothesis j's keys are rows j, j + H, j + 2H, ... (one strided key range). The
// buffers grow by doubling; reorder() gathers into fresh buffers on the stream.
#pragma once

#include <memory>
#include <vector>

#include "backends/backend.h"
#include "backends/cuda/cuda_context.h"

namespace tusk::backends::cuda {

class CudaKvCache final : public KvCache {
 public:
  CudaKvCache(std::shared_ptr<Context> context, int64_t width);
  ~CudaKvCache() override;

  void clear() override;
  std::pair<MutableMatrixView, MutableMatrixView> append(int64_t hyps) override;
  void reorder(const std::vector<int32_t>& parents) override;
  int64_t steps() const override { return steps_; }
  int64_t hyps() const override { return hyps_; }

  int64_t width() const { return width_; }
  const Context* context() const { return context_.get(); }
  MatrixView keys() const { return {k_, steps_ * hyps_, width_, width_}; }
  MatrixView values() const { return {v_, steps_ * hyps_, width_, width_}; }

 private:
  void resize(int64_t rows, int64_t keep_rows);

  std::shared_ptr<Context> context_;
  int64_t width_;
  float* k_ = nullptr;
  float* v_ = nullptr;
  int64_t capacity_rows_ = 0, steps_ = 0, hyps_ = 0;
};

}  // namespace tusk::backends::cuda
