// The CUDA Backend: argument checks (backends/op_checks.h, the same as the CPU's), then the
// work enqueued on the context's stream: cuBLAS for fp32 weights, kernels/cuda for packed
// weights, backends/cuda/*.cu for the rest. Host arrays go down through the context's
// staging arena; the only reads back are routes, chosen tokens and beam candidates.
#include "backends/cuda/cuda_backend.h"

#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "backends/cuda/cuda_context.h"
#include "backends/cuda/cuda_ops.h"
#include "backends/cuda/kv_cache_cuda.h"
#include "backends/host_ops.h"
#include "backends/op_checks.h"
#include "common/error.h"
#include "kernels/cuda/packed_math.h"
#include "kernels/cuda/quantized_linear.h"

namespace tusk::backends::cuda {
namespace {

namespace kc = kernels::cuda;

kc::WeightsView packed_view(const PackedMatrix& m) {
  return {static_cast<int>(m.layout), m.data, m.scales, m.n, m.k, m.group};
}

kc::WeightsView weights_view(const LinearOperand& l) {
  if (l.f32 != nullptr) return {kc::kLayoutF32, l.f32, nullptr, l.out, l.in, l.in};
  return packed_view(l.packed);
}

void launched(const char* op) { check(cudaGetLastError(), op); }

// A fence: an event recorded on the stream after the work given so far.
class EventFence final : public Fence {
 public:
  explicit EventFence(std::shared_ptr<Context> context) : context_(std::move(context)) {
    check(cudaEventCreateWithFlags(&event_, cudaEventDisableTiming), "cudaEventCreate");
    check(cudaEventRecord(event_, context_->stream()), "cudaEventRecord");
  }
  ~EventFence() override { cudaEventDestroy(event_); }
  bool done() const override {
    const cudaError_t status = cudaEventQuery(event_);
    if (status == cudaErrorNotReady) {
      cudaGetLastError();  // not an error: keep it from surfacing in the next op's launch check
      return false;
    }
    check(status, "cudaEventQuery");
    return true;
  }
  void wait() const override { check(cudaEventSynchronize(event_), "cudaEventSynchronize"); }

 private:
  std::shared_ptr<Context> context_;
  cudaEvent_t event_ = nullptr;
};

int32_t checked_int(int64_t v, const char* what) {
  if (v > INT32_MAX) throw Error(ErrorCode::Unsupported, std::string("linear: ") + what + " exceeds cuBLAS's int range");
  return static_cast<int32_t>(v);
}

class CudaBackend final : public Backend {
 public:
  CudaBackend(int device, int threads, Compute compute)
      : context_(std::make_shared<Context>(device)), threads_(threads),
        precision_(compute == Compute::F16    ? kc::Precision::F16
                   : compute == Compute::BF16 ? kc::Precision::BF16
                                              : kc::Precision::F32) {}

  Device device() const override { return Device::Cuda; }
  int device_index() const override { return context_->device(); }
  int threads() const override { return threads_; }

  // ---- memory ----
  Tensor allocate(DType dtype, const std::vector<int64_t>& shape) override {
    const int64_t n = checks::allocate(shape);
    context_->make_current();
    std::shared_ptr<Context> context = context_;
    void* p = context->allocate(static_cast<size_t>(n) * dtype_size(dtype));
    std::shared_ptr<void> buffer(p, [context](void* q) { context->free_async(q); });
    return Tensor::own(Device::Cuda, dtype, std::move(buffer), shape);
  }

  void upload(const void* host, Tensor& dst) override {
    checks::transfer(dst, Device::Cuda, "upload");
    context_->make_current();
    if (dst.bytes() > 0)
      check(cudaMemcpyAsync(dst.data(), host, dst.bytes(), cudaMemcpyHostToDevice, context_->stream()), "upload");
    context_->synchronize();  // the caller may reuse its host array right away
  }

  void download(const Tensor& src, void* host) override {
    checks::transfer(src, Device::Cuda, "download");
    context_->make_current();
    if (src.bytes() > 0)
      check(cudaMemcpyAsync(host, src.data(), src.bytes(), cudaMemcpyDeviceToHost, context_->stream()), "download");
    context_->synchronize();
  }

  std::unique_ptr<KvCache> make_kv_cache(int64_t width) override {
    if (width <= 0) throw Error(ErrorCode::InvalidArgument, "kv cache: width must be > 0");
    return std::make_unique<CudaKvCache>(context_, width);
  }

  // ---- weights: uploaded once, in the stored layouts (the kernels read them as they are), on
  // the upload stream: the call returns once the host bytes are copied to pinned memory, and
  // the work given afterwards waits for the device copy ----
  const float* prepare(const float* host, int64_t count, std::vector<Tensor>& keep) override {
    if (host == nullptr) return nullptr;
    Tensor t = allocate(DType::F32, {count});
    context_->upload_async(t.data(), host, t.bytes());
    keep.push_back(t);
    return static_cast<const float*>(keep.back().data());
  }

  PackedMatrix prepare(const PackedMatrix& host, std::vector<Tensor>& keep) override {
    PackedMatrix out = host;
    if (host.data == nullptr) return out;
    const size_t bytes = weight_layout::packed_bytes(host.layout, host.n, host.k);
    Tensor data = allocate(DType::I32, {static_cast<int64_t>((bytes + 3) / 4)});
    context_->upload_async(data.data(), host.data, bytes);
    keep.push_back(data);
    out.data = keep.back().data();
    out.scales = nullptr;  // F16 has none
    if (host.scales != nullptr && host.layout != weight_layout::Layout::F16)
      out.scales = prepare(host.scales, host.n * (host.k / host.group), keep);
    return out;
  }

  // ---- dense math ----
  void linear(MatrixView x, const float* w, int64_t n, const float* bias, Activation act,
              MutableMatrixView y) override {
    checks::linear(x, w, n, y);
    if (x.rows == 0 || n == 0) return;
    context_->make_current();
    const bool relu = act == Activation::Relu;
    if (x.cols == 0) {  // the empty sum: bias (or zeros)
      check(cudaMemset2DAsync(y.data, y.ld * sizeof(float), 0, y.cols * sizeof(float), y.rows, context_->stream()),
            "linear");
      bias_activation(context_->stream(), bias, relu, y);
      return launched("linear");
    }
    // Row-major y = x w^T is column-major y^T = w^T' x^T: w [n, k] read transposed.
    const float one = 1.0f, zero = 0.0f;
    check(cublasSgemm(context_->cublas(), CUBLAS_OP_T, CUBLAS_OP_N, checked_int(n, "n"), checked_int(x.rows, "m"),
                      checked_int(x.cols, "k"), &one, w, checked_int(x.cols, "k"), x.data, checked_int(x.ld, "ld"),
                      &zero, y.data, checked_int(y.ld, "ld")),
          "linear");
    bias_activation(context_->stream(), bias, relu, y);
    launched("linear");
  }

  void linear(MatrixView x, const PackedMatrix& w, const float* bias, Activation act,
              MutableMatrixView y) override {
    checks::linear(x, w, y);
    if (x.rows == 0 || w.n == 0) return;
    if (x.rows > kc::kMaxGroupRows)
      throw Error(ErrorCode::Unsupported, "linear: more rows than one launch takes (" +
                                              std::to_string(kc::kMaxGroupRows) + ")");
    context_->make_current();
    kc::linear(context_->stream(), packed_view(w), x.data, x.rows, x.ld, bias, act == Activation::Relu, y.data,
               y.ld, precision_);
    launched("linear");
  }

  void add_scaled(MatrixView x, float alpha, MutableMatrixView y) override {
    checks::add_scaled(x, y);
    context_->make_current();
    cuda::add_scaled(context_->stream(), x, alpha, y);
    launched("add_scaled");
  }

  void layer_norm(MatrixView x, const float* gamma, const float* beta, float eps, MutableMatrixView y) override {
    checks::layer_norm(x, gamma, beta, y);
    if (x.cols == 0) return;
    context_->make_current();
    cuda::layer_norm(context_->stream(), x, gamma, beta, eps, y);
    launched("layer_norm");
  }

  void embed(const EmbeddingTable& table, const int32_t* ids, const int32_t* positions,
             MutableMatrixView out) override {
    checks::embed(table, ids, positions, out);
    if (out.rows == 0) return;
    context_->make_current();
    const int32_t* d_ids = context_->put_array(ids, out.rows);
    const int32_t* d_positions = context_->put_array(positions, out.rows);
    cuda::embed(context_->stream(), table, packed_view(table.packed), d_ids, d_positions, out);
    launched("embed");
  }

  void dequantize_row(const PackedMatrix& w, int64_t row, float* out) override {
    checks::dequantize_row(w, row, out);
    context_->make_current();
    kc::dequantize_row(context_->stream(), packed_view(w), row, out);
    launched("dequantize_row");
  }

  // ---- attention ----
  void attention(MatrixView q, MatrixView k, MatrixView v, int heads, const KeyRange* ranges,
                 MutableMatrixView out) override {
    checks::attention(q, k, v, heads, ranges, out);
    if (q.rows == 0 || q.cols == 0) return;
    context_->make_current();
    int64_t max_count = 0;
    for (int64_t i = 0; i < q.rows; ++i) max_count = std::max(max_count, ranges[i].count);
    run_attention(q, k, v, heads, context_->put_array(ranges, q.rows), max_count, out);
  }

  void attention(MatrixView q, const KvCache& cache, int heads, MutableMatrixView out) override {
    checks::cached_attention(q, heads, out);
    const auto* c = dynamic_cast<const CudaKvCache*>(&cache);
    if (c == nullptr || c->context() != context_.get())
      throw Error(ErrorCode::InvalidArgument, "attention: the kv cache belongs to another backend");
    if (q.rows != c->hyps() || q.cols != c->width())
      throw Error(ErrorCode::InvalidArgument, "attention: q must be [cache hyps, cache width]");
    if (q.rows == 0) return;
    context_->make_current();
    ranges_.resize(static_cast<size_t>(q.rows));
    const KvSlots& slots = c->slots();
    for (int64_t j = 0; j < q.rows; ++j) ranges_[j] = slots.range(j);
    run_attention(q, c->keys(), c->values(), heads, context_->put_array(ranges_.data(), q.rows), c->steps(), out);
  }

  // ---- mixture of experts ----
  void route_top2(MatrixView logits, ExpertRoute* routes) override {
    checks::route_top2(logits, routes);
    if (logits.rows == 0) return;
    context_->make_current();
    // Routed on the device: what comes back is the choices, 16 bytes a token.
    const size_t bytes = static_cast<size_t>(logits.rows) * sizeof(ExpertRoute);
    auto* d_routes = static_cast<ExpertRoute*>(context_->scratch(2, bytes));
    cuda::route_top2(context_->stream(), logits, d_routes);
    launched("route_top2");
    std::memcpy(routes, context_->read_back(d_routes, bytes), bytes);
  }

  void gather_rows(MatrixView x, const int64_t* rows, MutableMatrixView out) override {
    checks::gather_rows(x, rows, out);
    if (out.rows == 0) return;
    context_->make_current();
    cuda::gather_rows(context_->stream(), x, context_->put_array(rows, out.rows), out);
    launched("gather_rows");
  }

  void scatter_rows(MatrixView x, const int64_t* rows, MutableMatrixView out) override {
    checks::scatter_rows(x, rows, out);
    if (x.rows == 0) return;
    context_->make_current();
    cuda::scatter_rows(context_->stream(), x, context_->put_array(rows, x.rows), out);
    launched("scatter_rows");
  }

  // Every expert's fc1 in one launch (rows read through `rows`, ReLU into hidden), then every
  // fc2 (written through `slots`): the grouped kernels of kernels/cuda.
  void expert_ffn(MatrixView x, const ExpertGroup* groups, int64_t count, const int64_t* rows, const int64_t* slots,
                  MutableMatrixView gathered, MutableMatrixView hidden, MutableMatrixView out) override {
    const int64_t positions = checks::expert_ffn(x, groups, count, rows, slots, gathered, hidden, out);
    if (positions == 0) return;
    if (count > kc::kMaxGroups || positions > kc::kMaxGroupRows)
      throw Error(ErrorCode::Unsupported, "expert_ffn: more experts or rows than one launch takes (" +
                                              std::to_string(kc::kMaxGroups) + " experts, " +
                                              std::to_string(kc::kMaxGroupRows) + " rows)");
    context_->make_current();
    fc1_.resize(static_cast<size_t>(count));
    fc2_.resize(static_cast<size_t>(count));
    bool any_f32 = false;  // the compute type is for packed weights: fp32 experts stay fp32
    for (int64_t g = 0; g < count; ++g) {
      const ExpertGroup& e = groups[g];
      fc1_[g] = {weights_view(e.fc1), e.fc1.bias, e.begin, e.count};
      fc2_[g] = {weights_view(e.fc2), e.fc2.bias, e.begin, e.count};
      any_f32 = any_f32 || e.fc1.f32 != nullptr || e.fc2.f32 != nullptr;
    }
    const kc::Precision precision = any_f32 ? kc::Precision::F32 : precision_;
    const int64_t* d_rows = context_->put_array(rows, positions);
    const int64_t* d_slots = context_->put_array(slots, positions);
    kc::grouped_linear(context_->stream(), context_->put_array(fc1_.data(), count), fc1_.data(), count,
                       {d_rows, nullptr}, x.data, x.ld, /*relu=*/true, hidden.data, hidden.ld, precision);
    kc::grouped_linear(context_->stream(), context_->put_array(fc2_.data(), count), fc2_.data(), count,
                       {nullptr, d_slots}, hidden.data, hidden.ld, /*relu=*/false, out.data, out.ld, precision);
    launched("expert_ffn");
  }

  void combine_top2(MatrixView first, MatrixView second, const ExpertRoute* routes,
                    MutableMatrixView out) override {
    checks::combine_top2(first, second, routes, out);
    if (out.rows == 0) return;
    context_->make_current();
    gates_.resize(static_cast<size_t>(2 * out.rows));
    for (int64_t t = 0; t < out.rows; ++t) {
      gates_[2 * t] = routes[t].gate[0];
      gates_[2 * t + 1] = routes[t].gate[1];
    }
    cuda::combine_top2(context_->stream(), first, second, context_->put_array(gates_.data(), 2 * out.rows), out);
    launched("combine_top2");
  }

  // ---- outputs ----
  void fill_column(MutableMatrixView x, int64_t column, float value) override {
    checks::fill_column(x, column);
    context_->make_current();
    cuda::fill_column(context_->stream(), x, column, value);
    launched("fill_column");
  }

  void edit_scores(MutableMatrixView x, const ScoreEdit* edits, int64_t count) override {
    checks::edit_scores(x, edits, count);
    if (count == 0) return;
    context_->make_current();
    cuda::edit_scores(context_->stream(), x, context_->put_array(edits, count), count);
    launched("edit_scores");
  }

  void read_scores(MatrixView x, const ScoreIndex* entries, int64_t count, float* values) override {
    checks::read_scores(x, entries, count, values);
    if (count == 0) return;
    context_->make_current();
    const size_t bytes = static_cast<size_t>(count) * sizeof(float);
    auto* d_values = static_cast<float*>(context_->scratch(3, bytes));
    cuda::read_scores(context_->stream(), x, context_->put_array(entries, count), count, d_values);
    launched("read_scores");
    std::memcpy(values, context_->read_back(d_values, bytes), bytes);
  }

  void log_softmax(MutableMatrixView x) override {
    checks::rows_op(x, "log_softmax");
    context_->make_current();
    softmax_rows(context_->stream(), x, /*log=*/true);
    launched("log_softmax");
  }

  void softmax(MutableMatrixView x) override {
    checks::rows_op(x, "softmax");
    context_->make_current();
    softmax_rows(context_->stream(), x, /*log=*/false);
    launched("softmax");
  }

  void argmax_log_softmax(MatrixView logits, int64_t excluded, int32_t* ids, float* logprobs) override {
    checks::argmax_log_softmax(logits, excluded, ids, logprobs);
    if (logits.rows == 0) return;
    context_->make_current();
    const size_t n = static_cast<size_t>(logits.rows);
    // ids then log-probabilities in one buffer: one read back.
    auto* d_ids = static_cast<int32_t*>(context_->scratch(0, 2 * n * sizeof(int32_t)));
    auto* d_logprobs = reinterpret_cast<float*>(d_ids + n);
    cuda::argmax_log_softmax(context_->stream(), logits, excluded, d_ids, d_logprobs);
    launched("argmax_log_softmax");
    const auto* back = static_cast<const int32_t*>(context_->read_back(d_ids, 2 * n * sizeof(int32_t)));
    std::copy(back, back + n, ids);
    std::copy(reinterpret_cast<const float*>(back + n), reinterpret_cast<const float*>(back + n) + n, logprobs);
  }

  void top_k(MatrixView x, const double* base, const int64_t* group_begin, int64_t groups, int k,
             BeamCandidate* out, int64_t* counts) override {
    checks::top_k(x, group_begin, groups, k);
    if (groups == 0) return;
    if (x.rows == 0 || x.cols == 0) {
      for (int64_t g = 0; g < groups; ++g) counts[g] = 0;
      return;
    }
    context_->make_current();
    // Each row's best min(k, cols) on the device; the groups' best k from those on the host.
    const int row_k = static_cast<int>(std::min<int64_t>(k, x.cols));
    const size_t n = static_cast<size_t>(x.rows) * row_k;
    const size_t bytes = n * (sizeof(float) + sizeof(int32_t)) + static_cast<size_t>(x.rows) * sizeof(int32_t);
    auto* d_values = static_cast<float*>(context_->scratch(1, bytes));
    auto* d_columns = reinterpret_cast<int32_t*>(d_values + n);
    int32_t* d_counts = d_columns + n;
    row_top_k(context_->stream(), x, row_k, d_values, d_columns, d_counts);
    launched("top_k");
    const auto* back = static_cast<const char*>(context_->read_back(d_values, bytes));
    const auto* values = reinterpret_cast<const float*>(back);
    const auto* columns = reinterpret_cast<const int32_t*>(values + n);
    host::merge_row_top_k(values, columns, columns + n, row_k, base, group_begin, groups, k, out, counts);
  }

  // ---- execution ----
  FencePtr fence() override {
    context_->make_current();
    return std::make_shared<EventFence>(context_);
  }

 private:
  void run_attention(MatrixView q, MatrixView k, MatrixView v, int heads, const KeyRange* device_ranges,
                     int64_t max_count, MutableMatrixView out) {
    const int64_t head_dim = q.cols / heads;
    if (attention_shared_bytes(head_dim, max_count) > attention_shared_limit())
      throw Error(ErrorCode::Unsupported, "attention: " + std::to_string(max_count) +
                                              " keys of one query exceed this GPU's shared memory");
    cuda::attention(context_->stream(), q, k, v, heads, device_ranges, max_count, out);
    launched("attention");
  }

  std::shared_ptr<Context> context_;
  int threads_;
  kc::Precision precision_;  // of packed-weight GEMMs (fp32 weights: cuBLAS in fp32)
  std::vector<KeyRange> ranges_;  // cached attention's, reused
  std::vector<float> gates_;      // combine_top2's, reused
  std::vector<kc::LinearGroup> fc1_, fc2_;  // expert_ffn's, reused
};

}  // namespace

std::unique_ptr<Backend> make_cuda_backend(const BackendOptions& options) {
  return std::make_unique<CudaBackend>(options.device_index, options.threads > 0 ? options.threads : 1,
                                       options.compute);
}

}  // namespace tusk::backends::cuda
