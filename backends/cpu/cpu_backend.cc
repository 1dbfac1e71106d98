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
#include "common/error.h"
#include "kernels/cpu/gemv_f32.h"
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

// count host row indices, each in [0, limit).
void require_row_indices(const int64_t* rows, int64_t count, int64_t limit, const char* op,
                         const char* what) {
  require(rows != nullptr || count == 0, op, "row indices are null");
  for (int64_t i = 0; i < count; ++i) require(rows[i] >= 0 && rows[i] < limit, op, what);
}

template <typename A, typename B>
bool same_shape(const A& a, const B& b) {
  return a.rows == b.rows && a.cols == b.cols;
}

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
    require_view(x, "linear", "x");
    require_view(y, "linear", "y");
    require(n >= 0 && y.rows == x.rows && y.cols == n, "linear", "y must be [x.rows, n]");
    require(w != nullptr || n == 0 || x.cols == 0, "linear", "w is null");
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
    // AVX-512); where that does not apply the kernels take their fp32 GEMM path. Opt-in:
    // 8-bit activations (BackendOptions::int8_activations).
    const auto linear = int8_activations_ ? kernels::quantized_linear_x8 : kernels::quantized_linear_x16;
    linear(isa_, w, x.data, x.rows, x.ld, bias, act == Activation::Relu, y.data, y.ld, threads_);
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

  void attention(MatrixView q, MatrixView k, MatrixView v, int heads, const KeyRange* ranges,
                 MutableMatrixView out) override {
    const char* op = "attention";
    require_view(q, op, "q");
    require_view(k, op, "k");
    require_view(v, op, "v");
    require_view(out, op, "out");
    require(heads > 0 && q.cols % heads == 0, op, "q.cols must be a multiple of heads");
    require(k.cols == q.cols && same_shape(k, v), op, "k and v must be [tk, q.cols]");
    require(same_shape(q, out), op, "out must have q's shape");
    require(ranges != nullptr || q.rows == 0, op, "ranges are null");
    for (int64_t i = 0; i < q.rows; ++i) {
      const KeyRange& r = ranges[i];
      require(r.count >= 0 && r.stride >= 1 && r.begin >= 0 &&
                  (r.count == 0 || r.begin + (r.count - 1) * r.stride < k.rows),
              op, "a key range is outside k");
    }
    if (q.rows == 0 || q.cols == 0) return;
    cpu::attention(q, k, v, heads, ranges, out, threads_, attention_scratch_);
  }

  void attention(MatrixView q, const KvCache& cache, int heads, MutableMatrixView out) override {
    require_view(q, "attention", "q");
    require_view(out, "attention", "out");
    require(heads > 0 && q.cols % heads == 0, "attention", "q.cols must be a multiple of heads");
    require(same_shape(q, out), "attention", "out must have q's shape");
    cpu::cached_attention(q, cache, heads, out, threads_, attention_scratch_, ranges_);
  }

  std::unique_ptr<KvCache> make_kv_cache(int64_t width) override {
    return cpu::make_kv_cache(width, kv_scratch_);
  }

  void embed(const EmbeddingTable& table, const int32_t* ids, const int32_t* positions,
             MutableMatrixView out) override {
    const char* op = "embed";
    require_view(out, op, "out");
    require(out.cols == table.cols, op, "out must have the table's columns");
    require(table.f32 != nullptr || (table.packed.data != nullptr && table.packed.n == table.rows &&
                                     table.packed.k == table.cols),
            op, "the table has no weights of its shape");
    require(table.positions != nullptr || out.rows == 0, op, "the position table is null");
    for (int64_t i = 0; i < out.rows; ++i) {
      require(ids[i] >= 0 && ids[i] < table.rows, op, "a token id is outside the table");
      require(positions[i] >= 0 && positions[i] < table.position_rows, op,
              "a position is outside the position table");
    }
    cpu::embed(table, ids, positions, out, threads_);
  }

  void route_top2(MatrixView logits, ExpertRoute* routes) override {
    require_view(logits, "route_top2", "logits");
    require(logits.cols >= 2 || logits.rows == 0, "route_top2", "needs at least 2 experts");
    require(routes != nullptr || logits.rows == 0, "route_top2", "routes are null");
    cpu::route_top2(logits, routes);
  }

  void gather_rows(MatrixView x, const int64_t* rows, MutableMatrixView out) override {
    require_view(x, "gather_rows", "x");
    require_view(out, "gather_rows", "out");
    require(x.cols == out.cols, "gather_rows", "x and out differ in columns");
    require_row_indices(rows, out.rows, x.rows, "gather_rows", "a row index is outside x");
    cpu::gather_rows(x, rows, out);
  }

  void scatter_rows(MatrixView x, const int64_t* rows, MutableMatrixView out) override {
    require_view(x, "scatter_rows", "x");
    require_view(out, "scatter_rows", "out");
    require(x.cols == out.cols, "scatter_rows", "x and out differ in columns");
    require_row_indices(rows, x.rows, out.rows, "scatter_rows", "a row index is outside out");
    cpu::scatter_rows(x, rows, out);
  }

  void combine_top2(MatrixView first, MatrixView second, const ExpertRoute* routes,
                    MutableMatrixView out) override {
    require_view(first, "combine_top2", "first");
    require_view(second, "combine_top2", "second");
    require_view(out, "combine_top2", "out");
    require(same_shape(first, out) && same_shape(second, out), "combine_top2",
            "first, second and out differ in shape");
    require(routes != nullptr || out.rows == 0, "combine_top2", "routes are null");
    cpu::combine_top2(first, second, routes, out, threads_);
  }

  void fill_column(MutableMatrixView x, int64_t column, float value) override {
    require_view(x, "fill_column", "x");
    require(column >= 0 && column < x.cols, "fill_column", "the column is outside x");
    for (int64_t r = 0; r < x.rows; ++r) x.data[r * x.ld + column] = value;
  }

  void argmax_log_softmax(MatrixView logits, int64_t excluded, int32_t* ids, float* logprobs) override {
    require_view(logits, "argmax_log_softmax", "logits");
    require(excluded == -1 || (excluded >= 0 && excluded < logits.cols), "argmax_log_softmax",
            "the excluded column is outside the logits");
    require((ids != nullptr && logprobs != nullptr) || logits.rows == 0, "argmax_log_softmax",
            "ids or logprobs are null");
    cpu::argmax_log_softmax(logits, excluded, ids, logprobs, threads_);
  }

  void top_k(MatrixView x, const double* base, const int64_t* group_begin, int64_t groups, int k,
             BeamCandidate* out, int64_t* counts) override {
    require_view(x, "top_k", "x");
    require(k >= 1 && groups >= 0, "top_k", "needs k >= 1 and groups >= 0");
    require(groups == 0 || (group_begin[0] >= 0 && group_begin[groups] <= x.rows), "top_k",
            "the groups are outside x");
    for (int64_t g = 0; g < groups; ++g)
      require(group_begin[g] <= group_begin[g + 1], "top_k", "the groups are out of order");
    cpu::top_k(x, base, group_begin, groups, k, out, counts, candidates_);
  }

  Device device() const override { return Device::Cpu; }

  // The kernels read the host layouts in place: nothing to copy or repack.
  const float* prepare(const float* host, int64_t, std::vector<Tensor>&) override { return host; }
  PackedMatrix prepare(const PackedMatrix& host, std::vector<Tensor>&) override { return host; }

  Tensor allocate(DType dtype, const std::vector<int64_t>& shape) override {
    int64_t n = 1;
    for (int64_t d : shape) {
      require(d >= 0, "allocate", "a dimension is negative");
      n *= d;
    }
    // 64-byte aligned like the mmapped weights, so every kernel path applies.
    const size_t bytes = (std::max<size_t>(static_cast<size_t>(n) * dtype_size(dtype), 1) + 63) / 64 * 64;
    std::shared_ptr<void> buffer(std::aligned_alloc(64, bytes), std::free);
    if (!buffer) throw Error(ErrorCode::OutOfMemory, "allocate: out of memory");
    return Tensor::own(Device::Cpu, dtype, std::move(buffer), shape);
  }

  void upload(const void* host, Tensor& dst) override {
    require(dst.device() == Device::Cpu && dst.contiguous(), "upload",
            "needs a contiguous tensor of this device");
    if (dst.bytes() > 0) std::memcpy(dst.data(), host, dst.bytes());
  }

  void download(const Tensor& src, void* host) override {
    require(src.device() == Device::Cpu && src.contiguous(), "download",
            "needs a contiguous tensor of this device");
    if (src.bytes() > 0) std::memcpy(host, src.data(), src.bytes());
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
  bool int8_activations_;
  cpu::OneDnnMatmul matmul_;
  std::vector<float> attention_scratch_;  // per-thread scores rows, reused across calls
  std::vector<KeyRange> ranges_;           // attention over a KvCache
  std::vector<cpu::Candidate> candidates_;  // top_k
  std::shared_ptr<std::vector<float>> kv_scratch_ = std::make_shared<std::vector<float>>();
};

}  // namespace

std::unique_ptr<Backend> make_cpu_backend(int threads, bool int8_activations) {
  return std::make_unique<CpuBackend>(resolve_threads(threads), int8_activations);
}

}  // namespace tusk::backends
