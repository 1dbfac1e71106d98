// The seam between the model graph and the hardware: every tensor op the engine needs.
// All matrices are row-major fp32 with an explicit leading dimension (row stride, in
// elements) so callers can address heads and slices without copies. A Linear weight is
// [n, k] (out_features x in_features), as stored in the model file.
//
// A Backend instance is used by one thread at a time (a Translator owns one); intra-op
// parallelism happens inside the calls. This header names no backend's internals (no kernel
// or oneDNN type): weights come in the file's stored layouts, which every backend reads.
#pragma once

#include <cstdint>
#include <memory>

#include "backends/fence.h"
#include "model_format/layout/weight_layout.h"

namespace tusk::backends {

// A quantized or fp16 weight matrix [n, k] in a stored layout (model_format/layout/
// weight_layout.h), with fp32 scales [n, k / group] (null for F16).
struct PackedMatrix {
  weight_layout::Layout layout = weight_layout::Layout::Int8;
  const void* data = nullptr;
  const float* scales = nullptr;
  int64_t n = 0, k = 0, group = 0;
};

struct MatrixView {  // read-only
  const float* data;
  int64_t rows, cols, ld;
};
struct MutableMatrixView {
  float* data;
  int64_t rows, cols, ld;
};

enum class Activation { None, Relu };

class Backend {
 public:
  virtual ~Backend() = default;

  // y = act(x @ w^T + bias); x [m, k], w [n, k] contiguous, bias [n] or null, y [m, n].
  virtual void linear(MatrixView x, const float* w, int64_t n, const float* bias,
                      Activation act, MutableMatrixView y) = 0;

  // y[i] += x[i] * alpha over rows x cols.
  virtual void add_scaled(MatrixView x, float alpha, MutableMatrixView y) = 0;

  // The same with quantized or fp16 weights, dequantized in registers; w.n output columns.
  virtual void linear(MatrixView x, const PackedMatrix& w, const float* bias, Activation act,
                      MutableMatrixView y) = 0;

  // out[w.k] = row `row` of w dequantized (embedding lookups).
  virtual void dequantize_row(const PackedMatrix& w, int64_t row, float* out) = 0;

  // Row-wise layer norm over cols: y = (x - mean) / sqrt(var + eps) * gamma + beta.
  virtual void layer_norm(MatrixView x, const float* gamma, const float* beta, float eps,
                          MutableMatrixView y) = 0;

  // Multi-head scaled dot-product attention for one sequence.
  // q [tq, heads*head_dim], k and v [tk, heads*head_dim]; out [tq, heads*head_dim].
  // Scores are scaled by 1/sqrt(head_dim). With causal, query i (absolute position
  // q_offset + i) sees keys 0..q_offset+i.
  virtual void attention(MatrixView q, MatrixView k, MatrixView v, int heads, bool causal,
                         int64_t q_offset, MutableMatrixView out) = 0;

  // Row-wise log-softmax in place.
  virtual void log_softmax(MutableMatrixView x) = 0;

  // Row-wise softmax in place.
  virtual void softmax(MutableMatrixView x) = 0;

  // Threads for intra-op parallelism (>= 1).
  virtual int threads() const = 0;

  // A fence that completes once every op given to this backend so far has finished reading
  // and writing its operands (immediately on the CPU, whose ops are synchronous).
  virtual FencePtr fence() = 0;
};

enum class Device { Cpu, Cuda };

struct BackendOptions {
  Device device = Device::Cpu;
  int threads = 0;  // intra-op threads; <= 0: all cores
};

// The one dispatch point from a device to its backend. Throws Unsupported for a device this
// build has no backend for (CUDA, today).
std::unique_ptr<Backend> make_backend(const BackendOptions& options);

// The CPU backend (backends/cpu/); threads <= 0 means all cores.
std::unique_ptr<Backend> make_cpu_backend(int threads);

}  // namespace tusk::backends
