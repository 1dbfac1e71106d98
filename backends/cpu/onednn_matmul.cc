#include "backends/cpu/onednn_matmul.h"

#include <functional>
#include <mutex>
#include <string>

#include "backends/cpu/parallel.h"
#include "common/error.h"

namespace tusk::backends::cpu {
namespace {

using dnnl::memory;
using dt = dnnl::memory::data_type;

[[noreturn]] void rethrow_dnnl(const dnnl::error& e) {
  throw Error(ErrorCode::Internal, std::string("oneDNN matmul failed: ") + e.what());
}

void* mutable_ptr(const float* p) { return const_cast<float*>(p); }  // oneDNN takes void*

}  // namespace

std::size_t OneDnnMatmul::KeyHash::operator()(const Key& key) const {
  std::size_t h = 0;
  auto mix = [&h](int64_t v) {
    h ^= std::hash<int64_t>{}(v) + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2);
  };
  mix(key.m);
  mix(key.k);
  mix(key.n);
  mix(key.lda);
  mix(key.ldc);
  mix(int64_t{key.has_bias} | (static_cast<int64_t>(key.act) << 1));
  return h;
}

OneDnnMatmul::OneDnnMatmul(int threads, std::size_t max_cached)
    : threads_(threads), max_cached_(max_cached < 1 ? 1 : max_cached) {
  try {
    engine_ = dnnl::engine(dnnl::engine::kind::cpu, 0);
    stream_ = dnnl::stream(engine_);
  } catch (const dnnl::error& e) {
    rethrow_dnnl(e);
  }
}

OneDnnMatmul::Entry OneDnnMatmul::build(const Key& key, MatrixView x, const float* w,
                                        const float* bias, MutableMatrixView y) const {
  // Row-major views with explicit row strides; the weight [n, k] is read as its transpose
  // {k, n} with strides {1, k}, so the model's tensor is used in place.
  memory::desc src_md({key.m, key.k}, dt::f32, {key.lda, 1});
  memory::desc weights_md({key.k, key.n}, dt::f32, {1, key.k});
  memory::desc dst_md({key.m, key.n}, dt::f32, {key.ldc, 1});
  memory::desc bias_md({1, key.n}, dt::f32, {key.n, 1});

  dnnl::primitive_attr attr;
  if (key.act == Activation::Relu) {
    dnnl::post_ops ops;
    ops.append_eltwise(1.0f, dnnl::algorithm::eltwise_relu, 0.0f, 0.0f);
    attr.set_post_ops(ops);
  }
  const auto desc = key.has_bias ? dnnl::matmul::desc(src_md, weights_md, bias_md, dst_md)
                                 : dnnl::matmul::desc(src_md, weights_md, dst_md);
  Entry entry;
  {
    // oneDNN documents primitive creation as thread-safe (its primitive cache takes a lock),
    // but libdnnl is not built for ThreadSanitizer, which then reports its cache's accesses
    // from two translators as a race. Creation is rare (once per shape per translator, then
    // cached here), so one process-wide lock costs nothing measurable and leaves nothing for
    // TSan to take on trust.
    static std::mutex creating;
    const std::lock_guard<std::mutex> lock(creating);
    const dnnl::matmul::primitive_desc pd(desc, attr, engine_);
    entry.primitive = dnnl::matmul(pd);
  }
  entry.src = memory(src_md, engine_, mutable_ptr(x.data));
  entry.weights = memory(weights_md, engine_, mutable_ptr(w));
  entry.dst = memory(dst_md, engine_, y.data);
  entry.args = {{DNNL_ARG_SRC, entry.src.get()},
                {DNNL_ARG_WEIGHTS, entry.weights.get()},
                {DNNL_ARG_DST, entry.dst.get()}};
  if (key.has_bias) {
    entry.bias = memory(bias_md, engine_, mutable_ptr(bias));
    entry.args.push_back({DNNL_ARG_BIAS, entry.bias.get()});
  }
  return entry;
}

OneDnnMatmul::Entry& OneDnnMatmul::lookup(const Key& key, MatrixView x, const float* w,
                                          const float* bias, MutableMatrixView y) {
  auto it = cache_.find(key);
  if (it != cache_.end()) {
    lru_.splice(lru_.begin(), lru_, it->second.lru_pos);  // mark most recently used
    return it->second.entry;
  }
  if (cache_.size() >= max_cached_) {
    cache_.erase(lru_.back());
    lru_.pop_back();
  }
  Entry entry = build(key, x, w, bias, y);
  lru_.push_front(key);
  auto inserted = cache_.emplace(key, Slot{std::move(entry), lru_.begin()});
  return inserted.first->second.entry;
}

void OneDnnMatmul::run(MatrixView x, const float* w, int64_t n, const float* bias,
                       Activation act, MutableMatrixView y) {
  const Key key{x.rows, x.cols, n, x.ld, y.ld, bias != nullptr, act};
  try {
    OmpThreadsScope omp_threads(threads_);  // covers primitive creation and execution
    Entry& e = lookup(key, x, w, bias, y);
    e.src.set_data_handle(mutable_ptr(x.data));
    e.weights.set_data_handle(mutable_ptr(w));
    e.dst.set_data_handle(y.data);
    if (bias != nullptr) e.bias.set_data_handle(mutable_ptr(bias));
    // The C entry point takes our prebuilt argument array; the C++ execute() would build a
    // std::unordered_map and a vector on every call.
    dnnl::error::wrap_c_api(
        dnnl_primitive_execute(e.primitive.get(), stream_.get(),
                               static_cast<int>(e.args.size()), e.args.data()),
        "could not execute a matmul primitive");
    stream_.wait();
  } catch (const dnnl::error& e) {
    rethrow_dnnl(e);
  }
}

}  // namespace tusk::backends::cpu
