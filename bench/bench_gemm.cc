// GEMM (m > 1 rows of x: the encoder, batched decoding, an expert's tokens) speed of the
// quantized kernels against oneDNN fp32 matmul, all measured in this one run.
//
// For the default model's shapes (int4 experts, int8 dense layers and output projection), or
// with --shapes nllb600m nllb-200-distilled-600M's int8 dense ones (bench/peers.py's model),
// and m = 8 .. 480, it times per call: oneDNN fp32 (the baseline), quantized_linear (fp32
// activations: a dequantized panel per 32 weight rows, fp32 FMA), quantized_linear_x16
// (int16 activations: the GEMV tiles up to m = 8, the int16 GEMM above; on AVX-512 VNNI with
// k <= 256 lane groups instead of the GEMV tiles from m = 2 (Int4) or at 4 and 6 .. 8 rows
// (Int8), and the rows past a block of 16 run apart, gemm_vnni_grouped.h) and
// quantized_linear_x8 (the opt-in int8 activations; the x16 path where it does not apply).
// One matrix per shape, reused, as in a layer applied to a batch: GEMMs are compute-bound,
// so this measures compute. Times are medians of per-call times.
//
// Usage: bench_gemm [--threads 1,2] [--min-seconds 0.2] [--m 8,32,...] [--shapes moe|nllb600m]; TUSK_CPU_ISA picks
// the kernel level.
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <random>
#include <vector>

#include <oneapi/dnnl/dnnl.hpp>

#include "bench/bench_args.h"
#include "kernels/cpu/quantized_linear.h"

namespace {

using Clock = std::chrono::steady_clock;
using tusk::kernels::PackedWeights;
using tusk::kernels::WeightType;

// Median of per-call times of call() until min_seconds have passed (at least 5 calls).
double median_call(const std::function<void()>& call, double min_seconds) {
  call();  // warm-up: scratch, thread pool, oneDNN's kernel
  std::vector<double> times;
  double total = 0;
  while (times.size() < 5 || total < min_seconds) {
    const auto t0 = Clock::now();
    call();
    times.push_back(std::chrono::duration<double>(Clock::now() - t0).count());
    total += times.back();
  }
  std::nth_element(times.begin(), times.begin() + times.size() / 2, times.end());
  return times[times.size() / 2];
}

struct Shape {
  WeightType type;
  int64_t n, k;
  const char* what;
};

// oneDNN fp32 y[m, n] = x[m, k] . w[n, k]^T on the dequantized values.
double time_onednn(const Shape& s, int64_t m, const std::vector<float>& w, const std::vector<float>& x,
                   int threads, double min_seconds) {
  using dnnl::memory;
  omp_set_num_threads(threads);  // oneDNN (OpenMP build) sizes and runs with this
  dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  dnnl::stream stream(engine);
  const memory::desc src_md({m, s.k}, memory::data_type::f32, {s.k, 1});
  const memory::desc weights_md({s.k, s.n}, memory::data_type::f32, {1, s.k});  // [n, k] row-major
  const memory::desc dst_md({m, s.n}, memory::data_type::f32, {s.n, 1});
  const dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(src_md, weights_md, dst_md), engine);
  const dnnl::matmul matmul(pd);
  std::vector<float> y(static_cast<size_t>(m * s.n));
  memory src(src_md, engine, const_cast<float*>(x.data())), dst(dst_md, engine, y.data());
  memory weights(weights_md, engine, const_cast<float*>(w.data()));
  return median_call([&] {
    matmul.execute(stream, {{DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, weights}, {DNNL_ARG_DST, dst}});
    stream.wait();
  }, min_seconds);
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<int> thread_counts{1, 2}, ms{8, 16, 32, 64, 480};
  double min_seconds = 0.2;
  bool nllb = false;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--threads") && i + 1 < argc) {
      thread_counts = tusk::bench::parse_int_list(argv[++i]);
    } else if (!std::strcmp(argv[i], "--m") && i + 1 < argc) {
      ms = tusk::bench::parse_int_list(argv[++i]);
    } else if (!std::strcmp(argv[i], "--min-seconds") && i + 1 < argc) {
      min_seconds = std::atof(argv[++i]);
    } else if (!std::strcmp(argv[i], "--shapes") && i + 1 < argc && (!std::strcmp(argv[i + 1], "moe") ||
                                                                     !std::strcmp(argv[i + 1], "nllb600m"))) {
      nllb = !std::strcmp(argv[++i], "nllb600m");
    } else {
      std::fprintf(stderr, "usage: %s [--threads 1,2] [--m 8,16,32,64,480] [--min-seconds 0.2] [--shapes moe|nllb600m]\n",
                   argv[0]);
      return 2;
    }
  }
  const tusk::kernels::Isa isa = tusk::kernels::active_isa();
  std::printf("kernels: %s   per-channel scales; times are medians per call\n"
              "fp32 path = quantized_linear, x16 = quantized_linear_x16; x oneDNN = oneDNN fp32 time / this\n\n",
              tusk::kernels::isa_name(isa));
  const std::vector<Shape> moe_shapes{{WeightType::Int4, 1024, 256, "expert fc1"}, {WeightType::Int4, 256, 1024, "expert fc2"},
                                      {WeightType::Int8, 256, 256, "attention"},   {WeightType::Int8, 1024, 256, "dense fc1"},
                                      {WeightType::Int8, 256, 1024, "dense fc2"},  {WeightType::Int8, 8000, 256, "output proj"}};
  // nllb-200-distilled-600M's int8 dense layers (bench/peers.py's model); the output projection
  // is a quarter of its 256,204 rows, to keep oneDNN's fp32 copy small.
  const std::vector<Shape> nllb_shapes{{WeightType::Int8, 1024, 1024, "attention"},
                                       {WeightType::Int8, 4096, 1024, "ffn fc1"},
                                       {WeightType::Int8, 1024, 4096, "ffn fc2"},
                                       {WeightType::Int8, 64051, 1024, "out proj/4"}};
  const std::vector<Shape>& shapes = nllb ? nllb_shapes : moe_shapes;
  std::mt19937 rng(7);
  for (int threads : thread_counts) {
    std::printf("threads %d\n%-11s %-5s %-9s %4s %10s %10s %10s %8s %8s %9s %10s %7s\n", threads, "what", "type", "n x k", "m",
                "oneDNN us", "fp32 us", "x16 us", "x16/fp32", "x oneDNN", "x16 GMAC/s", "x8 us", "x8/x16");
    for (const Shape& s : shapes) {
      // Weight values and their dequantized copy for oneDNN (scale 0.01 per row).
      const int limit = s.type == WeightType::Int4 ? 7 : 127;
      std::vector<int8_t> q(static_cast<size_t>(s.n * s.k));
      for (auto& v : q) v = static_cast<int8_t>(static_cast<int>(rng() % (2 * limit + 1)) - limit);
      std::vector<float> w(q.size()), scales(static_cast<size_t>(s.n), 0.01f);
      for (size_t i = 0; i < q.size(); ++i) w[i] = 0.01f * q[i];
      const size_t packed_size = (tusk::kernels::packed_bytes(s.type, s.n, s.k) + 63) / 64 * 64;
      std::unique_ptr<void, decltype(&std::free)> packed(std::aligned_alloc(64, packed_size), &std::free);
      tusk::kernels::pack_weights(s.type, q.data(), s.n, s.k, packed.get());
      const PackedWeights pw{s.type, packed.get(), scales.data(), s.n, s.k, s.k};
      for (int m : ms) {
        std::vector<float> x(static_cast<size_t>(m * s.k)), y(static_cast<size_t>(m * s.n));
        std::normal_distribution<float> normal;
        for (auto& v : x) v = normal(rng);
        const double dnn = time_onednn(s, m, w, x, threads, min_seconds);
        const double fp32 = median_call([&] {
          tusk::kernels::quantized_linear(isa, pw, x.data(), m, s.k, nullptr, false, y.data(), s.n, threads);
        }, min_seconds);
        const double x16 = median_call([&] {
          tusk::kernels::quantized_linear_x16(isa, pw, x.data(), m, s.k, nullptr, false, y.data(), s.n, threads);
        }, min_seconds);
        const double x8 = median_call([&] {
          tusk::kernels::quantized_linear_x8(isa, pw, x.data(), m, s.k, nullptr, false, y.data(), s.n, threads);
        }, min_seconds);
        std::printf("%-11s %-5s %4lldx%-4lld %4d %10.1f %10.1f %10.1f %7.2fx %7.2fx %9.1f %10.1f %6.2fx\n", s.what,
                    s.type == WeightType::Int4 ? "int4" : "int8", static_cast<long long>(s.n),
                    static_cast<long long>(s.k), m, dnn * 1e6, fp32 * 1e6, x16 * 1e6, fp32 / x16, dnn / x16,
                    static_cast<double>(m) * s.n * s.k / x16 / 1e9, x8 * 1e6, x16 / x8);
        std::fflush(stdout);
      }
    }
    std::printf("\n");
  }
  return 0;
}
