// The CPU Backend: argument checks, then oneDNN for matmuls and cpu_ops for the rest.
#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <string>
#include <thread>
#include <vector>

#include "backends/backend.h"
#include "backends/cpu/cpu_ops.h"
#include "backends/cpu/onednn_matmul.h"
#include "backends/host_ops.h"
#include "backends/op_checks.h"
#include "common/error.h"
#include "kernels/cpu/gemv_f32.h"
#include "kernels/cpu/quantized_linear.h"

namespace tusk::backends {
namespace {

// The kernels read the stored layouts as they are: no repacking at prepare time.
kernels::PackedWeights packed(const PackedMatrix& m) { return {m.layout, m.data, m.scales, m.n, m.k, m.group}; }

constexpr int64_t kMinGemvColumns = 256;

int resolve_threads(int threads) {
  if (threads > 0) return threads;
  return std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
}

class CpuBackend final : public Backend {
 public:
  CpuBackend(int threads, bool int8_activations)
      : threads_(threads), isa_(kernels::active_isa()), int8_activations_(int8_activations), matmul_(threads) {}

  void linear(MatrixView x, const float* w, int64_t n, const float* bias, Activation act,
              MutableMatrixView y) override {
    checks::linear(x, w, n, y);
    if (x.rows == 0 || n == 0) return;
    if (x.cols == 0) return fill_bias(bias, act, y);  // empty sum: oneDNN rejects k = 0
    // Decode-sized products over wide matrices stream the weights with our kernel (routers,
    // n < kMinGemvColumns, keep oneDNN's rounding: expert choices stay as they were).
    if (x.rows <= 4 && n >= kMinGemvColumns &&
        kernels::gemv_f32(isa_, x.data, x.rows, x.ld, w, n, x.cols, bias, act == Activation::Relu,
                          y.data, y.ld, threads_))
      return;
    matmul_.run(x, w, n, bias, act, y);
  }

  void linear(MatrixView x, const PackedMatrix& m, const float* bias, Activation act,
              MutableMatrixView y) override {
    checks::linear(x, m, y);
    const kernels::PackedWeights w = packed(m);
    if (x.rows == 0 || w.n == 0) return;
    // Each activation row is quantized to int16 so the int4/int8 dot products are exact
    // integer sums (relative error ~5e-5, far below the weights' own quantization error):
    // decode-sized products run near memory speed, and larger ones an int16 GEMM (AVX2 and
    // AVX-512); where that does not apply the kernels take their fp32 GEMM path. Opt-in:
    // 8-bit activations (BackendOptions::int8_activations).
    const auto linear = int8_activations_ ? kernels::quantized_linear_x8 : kernels::quantized_linear_x16;
    linear(isa_, w, x.data, x.rows, x.ld, bias, act == Activation::Relu, y.data, y.ld, threads_);
  }

  // Every op above has finished when it returns.
  FencePtr fence() override { return completed_fence(); }

  void dequantize_row(const PackedMatrix& m, int64_t row, float* out) override {
    checks::dequantize_row(m, row, out);
    kernels::dequantize_row(packed(m), row, out);
  }

  void add_scaled(MatrixView x, float alpha, MutableMatrixView y) override {
    checks::add_scaled(x, y);
    cpu::add_scaled(x, alpha, y, threads_);
  }

  void layer_norm(MatrixView x, const float* gamma, const float* beta, float eps,
                  MutableMatrixView y) override {
    checks::layer_norm(x, gamma, beta, y);
    if (x.cols == 0) return;
    cpu::layer_norm(x, gamma, beta, eps, y, threads_);
  }

  void attention(MatrixView q, MatrixView k, MatrixView v, int heads, const KeyRange* ranges,
                 MutableMatrixView out) override {
    checks::attention(q, k, v, heads, ranges, out);
    if (q.rows == 0 || q.cols == 0) return;
    cpu::attention(q, k, v, heads, ranges, out, threads_, attention_scratch_);
  }

  void attention(MatrixView q, const KvCache& cache, int heads, MutableMatrixView out) override {
    checks::cached_attention(q, heads, out);
    cpu::cached_attention(q, cache, heads, out, threads_, attention_scratch_, ranges_);
  }

  std::unique_ptr<KvCache> make_kv_cache(int64_t width) override {
    return cpu::make_kv_cache(width);
  }

  void embed(const EmbeddingTable& table, const int32_t* ids, const int32_t* positions,
             MutableMatrixView out) override {
    checks::embed(table, ids, positions, out);
    cpu::embed(table, ids, positions, out, threads_);
  }

  void route_top2(MatrixView logits, ExpertRoute* routes) override {
    checks::route_top2(logits, routes);
    host::route_top2(logits, routes);
  }

  void gather_rows(MatrixView x, const int64_t* rows, MutableMatrixView out) override {
    checks::gather_rows(x, rows, out);
    cpu::gather_rows(x, rows, out);
  }

  void scatter_rows(MatrixView x, const int64_t* rows, MutableMatrixView out) override {
    checks::scatter_rows(x, rows, out);
    cpu::scatter_rows(x, rows, out);
  }

  // One expert after another: gather its rows, fc1 with ReLU, fc2 (into the gathered rows,
  // which fc1 has finished reading), scatter to the slots.
  void expert_ffn(MatrixView x, const ExpertGroup* groups, int64_t count, const int64_t* rows, const int64_t* slots,
                  MutableMatrixView gathered, MutableMatrixView hidden, MutableMatrixView out) override {
    checks::expert_ffn(x, groups, count, rows, slots, gathered, hidden, out);
    for (int64_t g = 0; g < count; ++g) {
      const ExpertGroup& e = groups[g];
      if (e.count == 0) continue;
      const MutableMatrixView in{gathered.data + e.begin * gathered.ld, e.count, x.cols, gathered.ld};
      const MutableMatrixView h{hidden.data + e.begin * hidden.ld, e.count, e.fc1.out, hidden.ld};
      cpu::gather_rows(x, rows + e.begin, in);
      run_linear(e.fc1, {in.data, in.rows, in.cols, in.ld}, Activation::Relu, h);
      run_linear(e.fc2, {h.data, h.rows, h.cols, h.ld}, Activation::None, in);
      cpu::scatter_rows({in.data, in.rows, in.cols, in.ld}, slots + e.begin, out);
    }
  }

  void combine_top2(MatrixView first, MatrixView second, const ExpertRoute* routes,
                    MutableMatrixView out) override {
    checks::combine_top2(first, second, routes, out);
    cpu::combine_top2(first, second, routes, out, threads_);
  }

  void fill_column(MutableMatrixView x, int64_t column, float value) override {
    checks::fill_column(x, column);
    for (int64_t r = 0; r < x.rows; ++r) x.data[r * x.ld + column] = value;
  }

  void edit_scores(MutableMatrixView x, const ScoreEdit* edits, int64_t count) override {
    checks::edit_scores(x, edits, count);
    host::edit_scores(x, edits, count);
  }

  void read_scores(MatrixView x, const ScoreIndex* entries, int64_t count, float* values) override {
    checks::read_scores(x, entries, count, values);
    for (int64_t i = 0; i < count; ++i) values[i] = x.data[entries[i].row * x.ld + entries[i].column];
  }

  void argmax_log_softmax(MatrixView logits, int64_t excluded, int32_t* ids, float* logprobs) override {
    checks::argmax_log_softmax(logits, excluded, ids, logprobs);
    cpu::argmax_log_softmax(logits, excluded, ids, logprobs, threads_);
  }

  void top_k(MatrixView x, const double* base, const int64_t* group_begin, int64_t groups, int k,
             BeamCandidate* out, int64_t* counts) override {
    checks::top_k(x, group_begin, groups, k);
    cpu::top_k(x, base, group_begin, groups, k, out, counts, candidates_);
  }

  Device device() const override { return Device::Cpu; }

  // The kernels read the host layouts in place: nothing to copy or repack.
  const float* prepare(const float* host, int64_t, std::vector<Tensor>&) override { return host; }
  PackedMatrix prepare(const PackedMatrix& host, std::vector<Tensor>&) override { return host; }

  Tensor allocate(DType dtype, const std::vector<int64_t>& shape) override {
    const int64_t n = checks::allocate(shape);
    // 64-byte aligned like the model's dense weights, so every kernel path applies.
    const size_t bytes = (std::max<size_t>(static_cast<size_t>(n) * dtype_size(dtype), 1) + 63) / 64 * 64;
    std::shared_ptr<void> buffer(std::aligned_alloc(64, bytes), std::free);
    if (!buffer) throw Error(ErrorCode::OutOfMemory, "allocate: out of memory");
    return Tensor::own(Device::Cpu, dtype, std::move(buffer), shape);
  }

  void upload(const void* host, Tensor& dst) override {
    checks::transfer(dst, Device::Cpu, "upload");
    if (dst.bytes() > 0) std::memcpy(dst.data(), host, dst.bytes());
  }

  void download(const Tensor& src, void* host) override {
    checks::transfer(src, Device::Cpu, "download");
    if (src.bytes() > 0) std::memcpy(host, src.data(), src.bytes());
  }

  void log_softmax(MutableMatrixView x) override {
    checks::rows_op(x, "log_softmax");
    cpu::log_softmax_rows(x, threads_);
  }

  void softmax(MutableMatrixView x) override {
    checks::rows_op(x, "softmax");
    cpu::softmax_rows(x, threads_);
  }

  int threads() const override { return threads_; }

 private:
  void run_linear(const LinearOperand& w, MatrixView x, Activation act, MutableMatrixView y) {
    if (w.f32 != nullptr)
      linear(x, w.f32, w.out, w.bias, act, y);
    else
      linear(x, w.packed, w.bias, act, y);
  }

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
  bool int8_activations_;
  cpu::OneDnnMatmul matmul_;
  std::vector<float> attention_scratch_;  // per-thread scores rows, reused across calls
  std::vector<KeyRange> ranges_;           // attention over a KvCache
  std::vector<cpu::Candidate> candidates_;  // top_k
};

}  // namespace

std::unique_ptr<Backend> make_cpu_backend(int threads, bool int8_activations) {
  return std::make_unique<CpuBackend>(resolve_threads(threads), int8_activations);
}

}  // namespace tusk::backends
