// Speed of the CPU backend's attention op at decoding shapes, against a plain reference loop
// (per query and head: dot products, std::exp softmax, weighted sum of values; what the op
// computes, written as one would first write it), both measured in this one run.
//
// A decoder step's attention: `queries` rows (one per sentence of a batch), each attending
// its own range of keys (a random count in [min-keys, max-keys], the same for both), heads of
// 64 (every NLLB model's). Key and value rows hold every head (the KV cache's layout), and
// `layers` separate caches are cycled through, as a step's layers are (the default 8: the
// bundled model's 4 decoder layers, self- and cross-attention). At 16 queries they take ~8 MB
// and are read from the last-level cache, as in a batched translation; at 1 query ~0.5 MB,
// from the L2. Times are the best of 5 rounds, per call. The reference runs on one thread:
// compare at --threads 1.
//
// Usage: bench_attention [--queries 1,16] [--heads 4] [--min-keys 3] [--max-keys 30]
//                        [--layers 8] [--threads 1] [--calls 2000]
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <vector>

#include "backends/backend.h"
#include "bench/bench_args.h"

namespace {

using tusk::backends::KeyRange;
using tusk::backends::MatrixView;
using tusk::backends::MutableMatrixView;
constexpr int64_t kHeadDim = 64;

void reference_attention(MatrixView q, MatrixView k, MatrixView v, int heads, const KeyRange* ranges,
                         MutableMatrixView out) {
  const float scale = 1.0f / std::sqrt(static_cast<float>(kHeadDim));
  std::vector<float> p;
  for (int64_t i = 0; i < q.rows; ++i) {
    const KeyRange& r = ranges[i];
    p.assign(static_cast<size_t>(r.count), 0.0f);
    for (int h = 0; h < heads; ++h) {
      const float* qi = q.data + i * q.ld + h * kHeadDim;
      float max = -INFINITY, sum = 0.0f;
      for (int64_t j = 0; j < r.count; ++j) {
        const float* kj = k.data + (r.begin + j * r.stride) * k.ld + h * kHeadDim;
        float dot = 0.0f;
        for (int64_t d = 0; d < kHeadDim; ++d) dot += qi[d] * kj[d];
        p[j] = dot * scale;
        max = std::max(max, p[j]);
      }
      for (int64_t j = 0; j < r.count; ++j) sum += (p[j] = std::exp(p[j] - max));
      float* o = out.data + i * out.ld + h * kHeadDim;
      std::fill(o, o + kHeadDim, 0.0f);
      for (int64_t j = 0; j < r.count; ++j) {
        const float* vj = v.data + (r.begin + j * r.stride) * v.ld + h * kHeadDim;
        for (int64_t d = 0; d < kHeadDim; ++d) o[d] += p[j] / sum * vj[d];
      }
    }
  }
}

const char* const kFlags[] = {"--queries", "--heads", "--min-keys", "--max-keys", "--layers", "--threads", "--calls"};

// Every argument is a known flag followed by its value; else usage and exit.
void check_args(int argc, char** argv) {
  for (int i = 1; i < argc; i += 2) {
    bool known = false;
    for (const char* flag : kFlags) known = known || std::strcmp(argv[i], flag) == 0;
    if (!known || i + 1 >= argc) {
      std::fprintf(stderr, "%s: %s\nusage: %s [--queries 1,16] [--heads 4] [--min-keys 3] [--max-keys 30] "
                   "[--layers 8] [--threads 1] [--calls 2000]\n",
                   argv[0], known ? "a flag without its value" : "unknown argument", argv[0]);
      std::exit(2);
    }
  }
}

const char* arg(int argc, char** argv, const char* name, const char* fallback) {
  for (int i = 1; i + 1 < argc; i += 2)
    if (std::strcmp(argv[i], name) == 0) return argv[i + 1];
  return fallback;
}

}  // namespace

int main(int argc, char** argv) {
  check_args(argc, argv);
  const std::vector<int> query_counts = tusk::bench::parse_int_list(arg(argc, argv, "--queries", "1,16"));
  const int heads = std::max(1, std::atoi(arg(argc, argv, "--heads", "4")));
  const int64_t min_keys = std::max(1, std::atoi(arg(argc, argv, "--min-keys", "3")));
  const int64_t max_keys = std::max<int64_t>(min_keys, std::atoi(arg(argc, argv, "--max-keys", "30")));
  const int layers = std::max(1, std::atoi(arg(argc, argv, "--layers", "8")));
  const int threads = std::max(1, std::atoi(arg(argc, argv, "--threads", "1")));
  const int calls = std::max(1, std::atoi(arg(argc, argv, "--calls", "2000")));
  const int64_t width = heads * kHeadDim;
  auto backend = tusk::backends::make_backend({tusk::backends::Device::Cpu, threads});

  std::printf("attention, heads of %lld: %d heads, keys %lld..%lld per query, %d caches, %d thread(s)\n",
              static_cast<long long>(kHeadDim), heads, static_cast<long long>(min_keys),
              static_cast<long long>(max_keys), layers, threads);
  std::printf("%8s %12s %14s %8s\n", "queries", "tusk us", "reference us", "ratio");
  std::mt19937 rng(7);
  std::normal_distribution<float> normal;
  for (const int queries : query_counts) {
    // Each query's keys in a slot of max_keys rows, as the KV cache keeps a hypothesis's.
    const int64_t rows = queries * max_keys;
    std::vector<std::vector<float>> keys(layers), values(layers);
    for (int l = 0; l < layers; ++l) {
      keys[l].resize(static_cast<size_t>(rows * width));
      values[l].resize(keys[l].size());
      for (float& x : keys[l]) x = normal(rng);
      for (float& x : values[l]) x = normal(rng);
    }
    std::vector<float> q(static_cast<size_t>(queries * width)), out(q.size()), expect(q.size());
    for (float& x : q) x = normal(rng);
    // A fixed pattern of counts per call, the same for both.
    std::vector<std::vector<KeyRange>> ranges(64, std::vector<KeyRange>(queries));
    std::uniform_int_distribution<int64_t> count(min_keys, max_keys);
    for (auto& call : ranges)
      for (int i = 0; i < queries; ++i) call[i] = {i * max_keys, count(rng), 1};

    const MatrixView qv{q.data(), queries, width, width};
    const MutableMatrixView ov{out.data(), queries, width, width};
    volatile float sink = 0.0f;  // keeps the calls' results live
    const auto time = [&](bool tusk) {
      double best = 1e30;
      for (int round = 0; round < 5; ++round) {
        const auto start = std::chrono::steady_clock::now();
        for (int c = 0; c < calls; ++c) {
          const int l = c % layers;
          const MatrixView kv{keys[l].data(), rows, width, width}, vv{values[l].data(), rows, width, width};
          const KeyRange* r = ranges[c % ranges.size()].data();
          if (tusk)
            backend->attention(qv, kv, vv, heads, r, ov);
          else
            reference_attention(qv, kv, vv, heads, r, ov);
          sink = out[c % out.size()];
        }
        const std::chrono::duration<double, std::micro> us = std::chrono::steady_clock::now() - start;
        best = std::min(best, us.count() / calls);
      }
      return best;
    };
    // The two agree (to rounding) on one call before timing.
    const MatrixView k0{keys[0].data(), rows, width, width}, v0{values[0].data(), rows, width, width};
    reference_attention(qv, k0, v0, heads, ranges[0].data(), {expect.data(), queries, width, width});
    backend->attention(qv, k0, v0, heads, ranges[0].data(), ov);
    for (size_t j = 0; j < out.size(); ++j) {
      if (std::fabs(out[j] - expect[j]) > 1e-4f * (1.0f + std::fabs(expect[j]))) {
        std::fprintf(stderr, "attention differs from the reference at %zu: %g vs %g\n", j, out[j], expect[j]);
        return 1;
      }
    }
    const double reference = time(false), tusk = time(true);
    std::printf("%8d %12.2f %14.2f %7.2fx\n", queries, tusk, reference, reference / tusk);
  }
  return 0;
}
