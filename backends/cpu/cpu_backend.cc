// The CPU Backend: argument checks, then oneDNN for matmuls and cpu_ops for the rest.
#include <algorithm>
#include <string>
#include <thread>
#include <vector>

#include "backends/backend.h"
#include "backends/cpu/cpu_ops.h"
#include "backends/cpu/onednn_matmul.h"
#include "common/error.h"
#include "kernels/cpu/quantized_linear.h"

namespace tusk::backends {
namespace {

// Messages are only built on failure: these checks run on every call of the hot loop.
void require(bool ok, const char* op, const char* what, const char* name = nullptr) {
  if (ok) return;
  std::string message = std::string(op) + ": ";
  if (name != nullptr) message += std::string(name) + " ";
  throw Error(ErrorCode::InvalidArgument, message + what);
}

template <typename View>
void require_view(const View& v, const char* op, const char* name) {
  require(v.rows >= 0 && v.cols >= 0, op, "has a negative size", name);
  require(v.ld >= v.cols, op, "has ld < cols", name);
  require(v.data != nullptr || v.rows == 0 || v.cols == 0, op, "is null", name);
}

template <typename A, typename B>
bool same_shape(const A& a, const B& b) {
  return a.rows == b.rows && a.cols == b.cols;
}

// The kernels read the stored layouts as they are: no repacking at prepare time.
kernels::PackedWeights packed(const PackedMatrix& m) { return {m.layout, m.data, m.scales, m.n, m.k, m.group}; }

int resolve_threads(int threads) {
  if (threads > 0) return threads;
  return std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
}

class CpuBackend final : public Backend {
 public:
  explicit CpuBackend(int threads)
      : threads_(threads), isa_(kernels::active_isa()), matmul_(threads) {}

  void linear(MatrixView x, const float* w, int64_t n, const float* bias, Activation act,
              MutableMatrixView y) override {
    require_view(x, "linear", "x");
    require_view(y, "linear", "y");
    require(n >= 0 && y.rows == x.rows && y.cols == n, "linear", "y must be [x.rows, n]");
    require(w != nullptr || n == 0 || x.cols == 0, "linear", "w is null");
    if (x.rows == 0 || n == 0) return;
    if (x.cols == 0) return fill_bias(bias, act, y);  // empty sum: oneDNN rejects k = 0
    matmul_.run(x, w, n, bias, act, y);
  }

  void linear(MatrixView x, const PackedMatrix& m, const float* bias, Activation act,
              MutableMatrixView y) override {
    const kernels::PackedWeights w = packed(m);
    require_view(x, "linear", "x");
    require_view(y, "linear", "y");
    require(y.rows == x.rows && y.cols == w.n && x.cols == w.k, "linear",
            "shapes must be x [m, w.k] and y [m, w.n]");
    require(w.data != nullptr || w.n == 0, "linear", "packed weights are null");
    if (x.rows == 0 || w.n == 0) return;
    // Each activation row is quantized to int16 so the int4/int8 dot products are exact
    // integer sums (relative error ~5e-5, far below the weights' own quantization error):
    // decode-sized products run near memory speed, and larger ones an int16 GEMM (AVX2 and
    // AVX-512); where that does not apply the kernels take their fp32 GEMM path.
    kernels::quantized_linear_x16(isa_, w, x.data, x.rows, x.ld, bias, act == Activation::Relu,
                                  y.data, y.ld, threads_);
  }

  // Every op above has finished when it returns.
  FencePtr fence() override { return completed_fence(); }

  void dequantize_row(const PackedMatrix& m, int64_t row, float* out) override {
    require(row >= 0 && row < m.n, "dequantize_row", "row is outside the matrix");
    require(m.data != nullptr && out != nullptr, "dequantize_row", "a pointer is null");
    kernels::dequantize_row(packed(m), row, out);
  }

  void add_scaled(MatrixView x, float alpha, MutableMatrixView y) override {
    require_view(x, "add_scaled", "x");
    require_view(y, "add_scaled", "y");
    require(same_shape(x, y), "add_scaled", "x and y differ in shape");
    cpu::add_scaled(x, alpha, y, threads_);
  }

  void layer_norm(MatrixView x, const float* gamma, const float* beta, float eps,
                  MutableMatrixView y) override {
    require_view(x, "layer_norm", "x");
    require_view(y, "layer_norm", "y");
    require(same_shape(x, y), "layer_norm", "x and y differ in shape");
    require(x.cols == 0 || (gamma != nullptr && beta != nullptr), "layer_norm",
            "gamma and beta are required");
    if (x.cols == 0) return;
    cpu::layer_norm(x, gamma, beta, eps, y, threads_);
  }

  void attention(MatrixView q, MatrixView k, MatrixView v, int heads, bool causal,
                 int64_t q_offset, MutableMatrixView out) override {
    const char* op = "attention";
    require_view(q, op, "q");
    require_view(k, op, "k");
    require_view(v, op, "v");
    require_view(out, op, "out");
    require(heads > 0 && q.cols % heads == 0, op, "q.cols must be a multiple of heads");
    require(k.cols == q.cols && same_shape(k, v), op, "k and v must be [tk, q.cols]");
    require(same_shape(q, out), op, "out must have q's shape");
    require(q_offset >= 0, op, "q_offset must be >= 0");
    if (q.rows == 0 || q.cols == 0) return;
    cpu::attention(q, k, v, heads, causal, q_offset, out, threads_, attention_scratch_);
  }

  void log_softmax(MutableMatrixView x) override {
    require_view(x, "log_softmax", "x");
    cpu::log_softmax_rows(x, threads_);
  }

  void softmax(MutableMatrixView x) override {
    require_view(x, "softmax", "x");
    cpu::softmax_rows(x, threads_);
  }

  int threads() const override { return threads_; }

 private:
  static void fill_bias(const float* bias, Activation act, MutableMatrixView y) {
    for (int64_t r = 0; r < y.rows; ++r) {
      float* yr = y.data + r * y.ld;
      for (int64_t c = 0; c < y.cols; ++c) {
        const float b = bias ? bias[c] : 0.0f;
        yr[c] = act == Activation::Relu ? std::max(b, 0.0f) : b;
      }
    }
  }

  int threads_;
  kernels::Isa isa_;
  cpu::OneDnnMatmul matmul_;
  std::vector<float> attention_scratch_;  // per-thread scores rows, reused across calls
};

}  // namespace

std::unique_ptr<Backend> make_cpu_backend(int threads) {
  return std::make_unique<CpuBackend>(resolve_threads(threads));
}

}  // namespace tusk::backends
