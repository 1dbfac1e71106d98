// GEMV (decode, m = 1) speed of the quantized kernels against memory bandwidth and oneDNN
// fp32, all measured in this one run.
//
//   (a) copy bandwidth: memcpy over 256 MB buffers, best of several passes, STREAM
//       convention (bytes read + written); also a streaming read of 256 MB (bytes read)
//   (b) int4 GEMV: quantized_linear (fp32 activations; per-channel scales and groups of 128)
//       and quantized_linear_x16 (int16 activations), (c) oneDNN fp32 matmul m = 1,
//   (d) int8 GEMV, both paths,
// on n x k = 1024x256, 256x1024 (this model's FFN) and 8192x2048, 2048x8192 (NLLB-MoE-54B's
// fc1 / fc2), each cycling over enough distinct matrices that the working set is at least
// twice the last-level cache, so weights come from DRAM as in decoding. GEMV times are the
// median of per-call times: other processes preempting a thread (a shared machine) would
// otherwise dominate a pass.
//
// (e) "read only": a plain read (prefetched 4 KB ahead) of each int4 matrix's bytes with the
// same thread split and working set: about the ceiling for a GEMV of that size here.
//
// Usage: bench_gemv [--threads 1,2] [--min-seconds 0.3] [--shape NxK ...] [--kernel NAME ...]
// [--hot] (NAME as in the kernel column, e.g. "int4 x16"; oneDNN fp32 always runs, as the
// baseline; --hot reuses one matrix per shape, so it measures compute from cache);
// TUSK_CPU_ISA picks the kernel level.
#include <cpuinfo.h>
// GCC 12's AVX-512 intrinsics trip -Wuninitialized inside the header (GCC bug 105593).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>
#pragma GCC diagnostic pop
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include <oneapi/dnnl/dnnl.hpp>

#include "bench/bench_args.h"
#include "kernels/cpu/quantized_linear.h"

namespace {

using Clock = std::chrono::steady_clock;
using tusk::kernels::PackedWeights;
using tusk::kernels::WeightType;

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

// 64-byte aligned, first-touched buffer.
struct Buffer {
  std::unique_ptr<uint8_t, decltype(&std::free)> data{nullptr, &std::free};
  size_t bytes = 0;
  explicit Buffer(size_t n) : data(static_cast<uint8_t*>(std::aligned_alloc(64, (n + 63) / 64 * 64)), &std::free), bytes(n) {
    if (!data) throw std::bad_alloc();
  }
  uint8_t* get() const { return data.get(); }
};

void fill_random(uint8_t* p, size_t bytes, uint32_t seed) {
  std::mt19937 rng(seed);
  for (size_t i = 0; i + 4 <= bytes; i += 4) {
    const uint32_t v = rng();
    std::memcpy(p + i, &v, 4);
  }
}

// Median of per-call times of call(j) over passes j = 0..count-1 until min_seconds.
double median_call(const std::function<void(int64_t)>& call, int64_t count, double min_seconds) {
  std::vector<double> times;
  double total = 0;
  for (int pass = 0; pass < 3 || total < min_seconds; ++pass) {
    for (int64_t j = 0; j < count; ++j) {
      const auto t0 = Clock::now();
      call(j);
      const double s = seconds_since(t0);
      times.push_back(s);
      total += s;
    }
  }
  std::nth_element(times.begin(), times.begin() + times.size() / 2, times.end());
  return times[times.size() / 2];
}

// Best time of passes of fn() until min_seconds have passed (at least 3 passes).
double best_of(const std::function<void()>& fn, double min_seconds) {
  double best = 1e30, total = 0;
  for (int pass = 0; pass < 3 || total < min_seconds; ++pass) {
    const auto t0 = Clock::now();
    fn();
    const double s = seconds_since(t0);
    best = std::min(best, s);
    total += s;
  }
  return best;
}

size_t last_level_cache_bytes() {
  size_t bytes = 0;
  for (uint32_t i = 0; i < cpuinfo_get_l3_caches_count(); ++i) bytes += cpuinfo_get_l3_cache(i)->size;
  if (bytes == 0)
    for (uint32_t i = 0; i < cpuinfo_get_l2_caches_count(); ++i) bytes += cpuinfo_get_l2_cache(i)->size;
  return bytes ? bytes : size_t{32} << 20;
}

// STREAM-like copy: each thread copies its share of 256 MB; counts bytes read + written.
double copy_gbps(int threads, double min_seconds) {
  const size_t bytes = size_t{256} << 20;
  Buffer src(bytes), dst(bytes);
  std::memset(src.get(), 1, bytes);
  std::memset(dst.get(), 2, bytes);
  const double s = best_of([&] {
#pragma omp parallel for num_threads(threads) schedule(static)
    for (int t = 0; t < threads; ++t) {
      const size_t chunk = bytes / threads;
      std::memcpy(dst.get() + t * chunk, src.get() + t * chunk, chunk);
    }
  }, min_seconds);
  return 2.0 * bytes / s / 1e9;
}

// Sum of 64-bit words over [words, words + n), n a multiple of 8: one line per step,
// prefetched 4 KB ahead. Plain code for any x86-64, and a 64-byte-load version for CPUs with
// AVX-512: fewer instructions per line keep more misses in flight (here ~20% faster), and
// the ceiling should be the best plain read, not one the kernels beat by their wider loads.
uint64_t read_words_plain(const uint64_t* words, int64_t n) {
  uint64_t acc[8] = {};
  for (int64_t i = 0; i + 8 <= n; i += 8) {
    __builtin_prefetch(words + i + 512);
    for (int l = 0; l < 8; ++l) acc[l] += words[i + l];
  }
  return acc[0] + acc[1] + acc[2] + acc[3] + acc[4] + acc[5] + acc[6] + acc[7];
}

__attribute__((target("avx512f"))) uint64_t read_words_avx512(const uint64_t* words, int64_t n) {
  __m512i a = _mm512_setzero_si512(), b = _mm512_setzero_si512();
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    _mm_prefetch(reinterpret_cast<const char*>(words + i + 512), _MM_HINT_T0);
    _mm_prefetch(reinterpret_cast<const char*>(words + i + 520), _MM_HINT_T0);
    a = _mm512_add_epi64(a, _mm512_loadu_si512(words + i));
    b = _mm512_add_epi64(b, _mm512_loadu_si512(words + i + 8));
  }
  if (i < n) a = _mm512_add_epi64(a, _mm512_loadu_si512(words + i));
  return static_cast<uint64_t>(_mm512_reduce_add_epi64(_mm512_add_epi64(a, b)));
}

uint64_t read_words(const uint64_t* words, int64_t n) {
  static const bool wide = cpuinfo_has_x86_avx512f();
  return wide ? read_words_avx512(words, n) : read_words_plain(words, n);
}

// Streaming read: each thread reads its share of 256 MB; counts bytes read. The rate reads
// alone reach, which GEMV calls (one matrix each, a few µs to a ms) approach but cannot pass.
double stream_read_gbps(int threads, double min_seconds) {
  const size_t bytes = size_t{256} << 20;
  Buffer src(bytes);
  std::memset(src.get(), 1, bytes);
  volatile uint64_t sink = 0;
  const auto* words = reinterpret_cast<const uint64_t*>(src.get());
  const int64_t n = static_cast<int64_t>(bytes / 8);
  const double s = best_of([&] {
#pragma omp parallel num_threads(threads)
    {
      const int64_t t = omp_get_thread_num(), parts = omp_get_num_threads();
      const int64_t begin = n * t / parts / 8 * 8, end = n * (t + 1) / parts / 8 * 8;
      sink = sink + read_words(words + begin, end - begin);
    }
  }, min_seconds);
  return bytes / s / 1e9;
}

struct Shape {
  int64_t n, k;
  const char* what;
};

// --hot: one matrix, called again and again, so it stays in cache: the kernels' compute rate.
bool g_hot = false;

// Matrices of `bytes_each` cycled over so the working set is >= 2x the LLC (and >= 2 of them).
int64_t matrix_count(size_t bytes_each, size_t llc) {
  if (g_hot) return 1;
  return std::max<int64_t>(2, static_cast<int64_t>((2 * llc + bytes_each - 1) / bytes_each));
}

struct Result {
  double seconds;  // per GEMV
  size_t bytes;    // weight bytes read per GEMV (packed + scales)
  int64_t matrices;
};

Result bench_quantized(WeightType type, const Shape& s, int64_t group, bool x16, int threads, size_t llc,
                       double min_seconds) {
  const size_t packed = tusk::kernels::packed_bytes(type, s.n, s.k);
  const size_t scales = static_cast<size_t>(s.n * (s.k / group)) * sizeof(float);
  const int64_t count = matrix_count(packed + scales, llc);
  const size_t stride = (packed + 63) / 64 * 64;
  Buffer data(stride * count);
  fill_random(data.get(), data.bytes, 1);  // every byte pattern is a valid int4 / int8 matrix
  std::vector<float> scale_values(static_cast<size_t>(s.n * (s.k / group)) * count, 0.01f);
  std::vector<float> x(s.k, 0.5f), y(s.n);
  std::vector<PackedWeights> w;
  for (int64_t j = 0; j < count; ++j)
    w.push_back({type, data.get() + j * stride, scale_values.data() + j * s.n * (s.k / group), s.n, s.k, group});
  const tusk::kernels::Isa isa = tusk::kernels::active_isa();
  auto call = [&](int64_t j) {
    if (x16)
      tusk::kernels::quantized_linear_x16(isa, w[j], x.data(), 1, s.k, nullptr, false, y.data(), s.n, threads);
    else
      tusk::kernels::quantized_linear(isa, w[j], x.data(), 1, s.k, nullptr, false, y.data(), s.n, threads);
  };
  for (int64_t j = 0; j < count; ++j) call(j);  // warm-up: scratch, thread pool
  return {median_call(call, count, min_seconds), packed + scales, count};
}

// The ceiling for a GEMV of this size: only reading the bytes of each int4 matrix (packed +
// scales), split between the threads as the kernels split rows, with the same working set.
// Two cores of a VM read at well under the copy rate (which counts the writes too), and a
// call this short also pays the parallel region and the DRAM latency before the first bytes.
Result bench_read_only(const Shape& s, int threads, size_t llc, double min_seconds) {
  const size_t bytes = tusk::kernels::packed_bytes(WeightType::Int4, s.n, s.k) + s.n * sizeof(float);
  const size_t stride = (bytes + 63) / 64 * 64;
  const int64_t count = matrix_count(bytes, llc);
  Buffer data(stride * count);
  fill_random(data.get(), data.bytes, 2);
  volatile uint64_t sink = 0;
  auto call = [&](int64_t j) {
    const auto* words = reinterpret_cast<const uint64_t*>(data.get() + j * stride);
    const int64_t n_words = static_cast<int64_t>(bytes / 8);
#pragma omp parallel num_threads(threads)
    {
      const int64_t t = omp_get_thread_num(), parts = omp_get_num_threads();
      const int64_t begin = n_words * t / parts / 8 * 8, end = n_words * (t + 1) / parts / 8 * 8;
      sink = sink + read_words(words + begin, end - begin);
    }
  };
  for (int64_t j = 0; j < count; ++j) call(j);
  return {median_call(call, count, min_seconds), bytes, count};
}

Result bench_onednn(const Shape& s, int threads, size_t llc, double min_seconds) {
  using dnnl::memory;
  omp_set_num_threads(threads);  // oneDNN (OpenMP build) sizes and runs with this
  const size_t bytes = static_cast<size_t>(s.n * s.k) * sizeof(float);
  const int64_t count = matrix_count(bytes, llc);
  Buffer data(bytes * count);
  auto* f = reinterpret_cast<float*>(data.get());
  for (size_t i = 0; i < data.bytes / sizeof(float); ++i) f[i] = static_cast<float>(i % 7) * 0.01f;
  std::vector<float> x(s.k, 0.5f), y(s.n);

  dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  dnnl::stream stream(engine);
  const memory::desc src_md({1, s.k}, memory::data_type::f32, {s.k, 1});
  const memory::desc weights_md({s.k, s.n}, memory::data_type::f32, {1, s.k});  // [n, k] row-major
  const memory::desc dst_md({1, s.n}, memory::data_type::f32, {s.n, 1});
  const dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(src_md, weights_md, dst_md), engine);
  const dnnl::matmul matmul(pd);
  memory src(src_md, engine, x.data()), dst(dst_md, engine, y.data());
  std::vector<memory> weights;
  for (int64_t j = 0; j < count; ++j) weights.emplace_back(weights_md, engine, f + j * s.n * s.k);
  auto call = [&](int64_t j) {
    matmul.execute(stream, {{DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, weights[j]}, {DNNL_ARG_DST, dst}});
    stream.wait();
  };
  for (int64_t j = 0; j < count; ++j) call(j);
  return {median_call(call, count, min_seconds), bytes, count};
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<int> thread_counts{1, 2};
  double min_seconds = 0.3;
  std::vector<std::string> only;     // "NxK" filters
  std::vector<std::string> kernels;  // kernel-name filters
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--threads") && i + 1 < argc) {
      thread_counts = tusk::bench::parse_int_list(argv[++i]);
    } else if (!std::strcmp(argv[i], "--min-seconds") && i + 1 < argc) {
      min_seconds = std::atof(argv[++i]);
    } else if (!std::strcmp(argv[i], "--shape") && i + 1 < argc) {
      only.push_back(argv[++i]);
    } else if (!std::strcmp(argv[i], "--kernel") && i + 1 < argc) {
      kernels.push_back(argv[++i]);
    } else if (!std::strcmp(argv[i], "--hot")) {
      g_hot = true;
    } else {
      std::fprintf(stderr,
                   "usage: %s [--threads 1,2] [--min-seconds 0.3] [--shape NxK ...] [--kernel NAME ...] [--hot]\n",
                   argv[0]);
      return 2;
    }
  }
  if (!cpuinfo_initialize()) std::fprintf(stderr, "cpuinfo failed; assuming a 32 MB last-level cache\n");
  const size_t llc = last_level_cache_bytes();
  if (g_hot)
    std::printf("kernels: %s   --hot: one matrix per shape, in cache (compute rate, not DRAM)\n",
                tusk::kernels::isa_name(tusk::kernels::active_isa()));
  else
    std::printf("kernels: %s   last-level cache: %zu MB   working set per shape >= %zu MB\n",
                tusk::kernels::isa_name(tusk::kernels::active_isa()), llc >> 20, (2 * llc) >> 20);
  std::printf("GB/s = weight bytes read (packed + scales) per second; copy = STREAM convention\n"
              "(bytes read + written); x fp32 = oneDNN fp32 time / this kernel's time; x16 =\n"
              "quantized_linear_x16 (int16 activations), else quantized_linear (fp32 activations).\n\n");

  const Shape shapes[] = {{1024, 256, "multi30k fc1"},
                          {256, 1024, "multi30k fc2"},
                          {8192, 2048, "NLLB-54B fc1"},
                          {2048, 8192, "NLLB-54B fc2"}};
  for (int threads : thread_counts) {
    const double copy = copy_gbps(threads, min_seconds);
    const double read = stream_read_gbps(threads, min_seconds);
    std::printf("threads %d: copy %.1f GB/s, streaming read %.1f GB/s (%.0f%% of copy)\n", threads, copy, read,
                100.0 * read / copy);
    std::printf("%-11s %-12s %-14s %5s %9s %7s %7s %6s\n", "shape n x k", "model", "kernel", "mats",
                "us/gemv", "GB/s", "%copy", "x fp32");
    for (const Shape& s : shapes) {
      const std::string dims = std::to_string(s.n) + "x" + std::to_string(s.k);
      if (!only.empty() && std::find(only.begin(), only.end(), dims) == only.end()) continue;
      const Result fp32 = bench_onednn(s, threads, llc, min_seconds);
      struct Row {
        const char* name;
        WeightType type;
        int64_t group;
        bool x16;
      };
      const Row rows[] = {
          {"int4", WeightType::Int4, s.k, false},      {"int4 g128", WeightType::Int4, 128, false},
          {"int4 x16", WeightType::Int4, s.k, true},   {"int4 x16 g128", WeightType::Int4, 128, true},
          {"int8", WeightType::Int8, s.k, false},      {"int8 x16", WeightType::Int8, s.k, true},
      };
      auto print = [&](const char* name, const Result& r) {
        const double gbps = r.bytes / r.seconds / 1e9;
        std::printf("%-11s %-12s %-14s %5lld %9.1f %7.1f %6.0f%% %6.2f\n", dims.c_str(), s.what, name,
                    static_cast<long long>(r.matrices), r.seconds * 1e6, gbps, 100.0 * gbps / copy,
                    fp32.seconds / r.seconds);
        std::fflush(stdout);
      };
      for (const Row& row : rows) {
        if (!kernels.empty() && std::find(kernels.begin(), kernels.end(), row.name) == kernels.end()) continue;
        print(row.name, bench_quantized(row.type, s, row.group, row.x16, threads, llc, min_seconds));
      }
      print("oneDNN fp32", fp32);
      if (kernels.empty() || std::find(kernels.begin(), kernels.end(), "read only") != kernels.end())
        print("read only", bench_read_only(s, threads, llc, min_seconds));
    }
    std::printf("\n");
  }
  return 0;
}
