// Scaled dot-product attention, one (head, query) pair at a time over a whole batch, each
// query with its own key range. Sizes are small (keys <= ~256, head_dim 64), so a direct loop
// with a per-thread scores row beats packing into GEMMs.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "backends/cpu/cpu_ops.h"
#include "backends/cpu/exp_cpu.h"
#include "backends/cpu/parallel.h"
#include "backends/cpu/vector_clones.h"

namespace tusk::backends::cpu {
namespace {

float dot(const float* a, const float* b, int64_t n) {
  float acc = 0.0f;
#pragma omp simd reduction(+ : acc)
  for (int64_t i = 0; i < n; ++i) acc += a[i] * b[i];
  return acc;
}

// A head of 64 floats (every NLLB model's head_dim) as four 16-float vectors (GCC/Clang vector
// extensions: one register each with AVX-512, two with AVX2, four with SSE2).
constexpr int64_t kHead64 = 64;
typedef float F16 __attribute__((vector_size(64)));
struct Head64 {
  F16 v[4];
};

inline __attribute__((always_inline)) void load16(const float* p, F16& v) { std::memcpy(&v, p, sizeof v); }
inline __attribute__((always_inline)) void load_head(const float* p, Head64& h) {
  for (int u = 0; u < 4; ++u) load16(p + 16 * u, h.v[u]);
}

// q . k for sixteen keys at once. Each key's 64 products are summed in a fixed order (pairs of
// the four 16-lane products, then the halves of the 16 lanes, quarters, and so on), and the
// sixteen keys' horizontal sums share one shuffle network: four levels of (two shuffles, one
// add) over pairs of vectors, 15 steps in all, where a reduction of its own per key (3
// shuffles and 6 adds, the last of them scalar) cost about twice as much per key.
inline __attribute__((always_inline)) void add_halves(const F16& a, const F16& b, F16& out) {
  out = __builtin_shufflevector(a, b, 0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23) +
        __builtin_shufflevector(a, b, 8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29, 30, 31);
}
inline __attribute__((always_inline)) void add_quarters(const F16& a, const F16& b, F16& out) {
  out = __builtin_shufflevector(a, b, 0, 1, 2, 3, 8, 9, 10, 11, 16, 17, 18, 19, 24, 25, 26, 27) +
        __builtin_shufflevector(a, b, 4, 5, 6, 7, 12, 13, 14, 15, 20, 21, 22, 23, 28, 29, 30, 31);
}
inline __attribute__((always_inline)) void add_pairs(const F16& a, const F16& b, F16& out) {
  out = __builtin_shufflevector(a, b, 0, 1, 4, 5, 8, 9, 12, 13, 16, 17, 20, 21, 24, 25, 28, 29) +
        __builtin_shufflevector(a, b, 2, 3, 6, 7, 10, 11, 14, 15, 18, 19, 22, 23, 26, 27, 30, 31);
}
inline __attribute__((always_inline)) void add_neighbours(const F16& a, const F16& b, F16& out) {
  out = __builtin_shufflevector(a, b, 0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30) +
        __builtin_shufflevector(a, b, 1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
}

// Lane j = q . key j for the n <= 16 keys at k, rows `step` floats apart (lanes past n: 0).
// Level by level: lane l + lane l + 8 (add_halves), then l + l + 4 (add_quarters), then
// (0 + 2, 1 + 3) (add_pairs), then those two (add_neighbours).
inline __attribute__((always_inline)) void head_dots16(const Head64& q, const float* k, int64_t step,
                                                       int64_t n, F16& out) {
  F16 s[16];
#pragma GCC unroll 16
  for (int j = 0; j < 16; ++j) {
    if (j < n) {
      F16 k0, k1, k2, k3;
      load16(k + j * step, k0);
      load16(k + j * step + 16, k1);
      load16(k + j * step + 32, k2);
      load16(k + j * step + 48, k3);
      s[j] = (q.v[0] * k0 + q.v[1] * k1) + (q.v[2] * k2 + q.v[3] * k3);
    } else {
      s[j] = F16{};
    }
  }
  F16 halves[8], quarters[4], pairs[2];
#pragma GCC unroll 8
  for (int j = 0; j < 8; ++j) add_halves(s[2 * j], s[2 * j + 1], halves[j]);
#pragma GCC unroll 4
  for (int j = 0; j < 4; ++j) add_quarters(halves[2 * j], halves[2 * j + 1], quarters[j]);
  add_pairs(quarters[0], quarters[1], pairs[0]);
  add_pairs(quarters[2], quarters[3], pairs[1]);
  add_neighbours(pairs[0], pairs[1], out);
}

struct HeadQuery {
  MatrixView q, k, v;
  MutableMatrixView out;
  int64_t head_dim;
  float scale;
};

// scores[j] = q . k_j * scale for a head of 64, written 16 at a time (the row is whole vectors
// long); returns their maximum.
inline __attribute__((always_inline)) float head64_scores(const HeadQuery& a, const float* qi, const float* k0,
                                                          int64_t k_step, int64_t n_keys, float* scores) {
  Head64 q;
  load_head(qi, q);
  const F16 lowest = F16{} - __builtin_inff();
  F16 max_lanes = lowest;
  for (int64_t j = 0; j < n_keys; j += 16) {
    const int64_t n = std::min<int64_t>(16, n_keys - j);
    F16 dots;
    head_dots16(q, k0 + j * k_step, k_step, n, dots);
    const F16 scaled = dots * a.scale;
    std::memcpy(scores + j, &scaled, sizeof scaled);
    const F16 lane = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};
    const F16 valid = lane < static_cast<float>(n) ? scaled : lowest;
    max_lanes = max_lanes > valid ? max_lanes : valid;
  }
  float m = max_lanes[0];
  for (int l = 1; l < 16; ++l) m = std::max(m, max_lanes[l]);
  return m;
}

// exp_shifted(scores, n, m, true) (exp_cpu.h), the same bits, 16 lanes at a time: each
// vector's four quarters are added to the 4-lane sum in order, as exp_shifted adds its
// 4-lane steps (lanes past n are e^-inf = 0, and adding zeros leaves a sum of positive terms
// as it is). The row is whole vectors long.
inline __attribute__((always_inline)) float exp_shifted16(float* scores, int64_t n, float m) {
  typedef int32_t I16 __attribute__((vector_size(64)));
  const F16 lane = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};
  const F16 minus_inf = F16{} - __builtin_inff();
  F4 sum = F4{};
  for (int64_t j = 0; j < n; j += 16) {
    F16 v, e;
    load16(scores + j, v);
    v = lane < static_cast<float>(n - j) ? v - m : minus_inf;
    exp_nonpositive_lanes<F16, I16>(v, e);
    std::memcpy(scores + j, &e, sizeof e);
    sum += __builtin_shufflevector(e, e, 0, 1, 2, 3);
    sum += __builtin_shufflevector(e, e, 4, 5, 6, 7);
    sum += __builtin_shufflevector(e, e, 8, 9, 10, 11);
    sum += __builtin_shufflevector(e, e, 12, 13, 14, 15);
  }
  return (sum[0] + sum[1]) + (sum[2] + sum[3]);
}

// out[i, head] = softmax(q_i . k_j * scale over the keys j of r) @ v[j, head]. Built for
// AVX-512, AVX2 and the baseline (the loader picks): the dot products and the weighted sum
// of values vectorize to the machine's width (at batch 16 this op took 9% of an int8 decode
// with baseline SSE2 code). With a head of 64 the query, sixteen keys' sums and the output
// stay in registers.
TUSK_VECTOR_CLONES void attend_one(const HeadQuery& a, int64_t head, int64_t i, const KeyRange& r, float* scores) {
  const int64_t col = head * a.head_dim, hd = a.head_dim;
  const float* qi = a.q.data + i * a.q.ld + col;
  float* o = a.out.data + i * a.out.ld + col;
  const int64_t n_keys = r.count;
  if (n_keys <= 0) {
    std::fill(o, o + hd, 0.0f);
    return;
  }
  const int64_t k_step = r.stride * a.k.ld, v_step = r.stride * a.v.ld;
  const float* k0 = a.k.data + r.begin * a.k.ld + col;
  const float* v0 = a.v.data + r.begin * a.v.ld + col;

  if (hd == kHead64) {
    const float max_score = head64_scores(a, qi, k0, k_step, n_keys, scores);
    const float inv_sum = 1.0f / exp_shifted16(scores, n_keys, max_score);
    F16 acc0{}, acc1{}, acc2{}, acc3{};
    for (int64_t j = 0; j < n_keys; ++j) {
      const float p = scores[j] * inv_sum;
      F16 v[4];
      for (int u = 0; u < 4; ++u) load16(v0 + j * v_step + 16 * u, v[u]);
      acc0 += p * v[0];
      acc1 += p * v[1];
      acc2 += p * v[2];
      acc3 += p * v[3];
    }
    std::memcpy(o, &acc0, sizeof acc0);
    std::memcpy(o + 16, &acc1, sizeof acc1);
    std::memcpy(o + 32, &acc2, sizeof acc2);
    std::memcpy(o + 48, &acc3, sizeof acc3);
    return;
  }
  float max_score = -std::numeric_limits<float>::infinity();
  for (int64_t j = 0; j < n_keys; ++j) {
    scores[j] = dot(qi, k0 + j * k_step, hd) * a.scale;
    max_score = std::max(max_score, scores[j]);
  }
  const float inv_sum = 1.0f / exp_shifted(scores, n_keys, max_score, /*store=*/true);
  std::fill(o, o + hd, 0.0f);
  for (int64_t j = 0; j < n_keys; ++j) {
    const float p = scores[j] * inv_sum;
    const float* vj = v0 + j * v_step;
#pragma omp simd
    for (int64_t d = 0; d < hd; ++d) o[d] += p * vj[d];
  }
}

}  // namespace

void attention(MatrixView q, MatrixView k, MatrixView v, int heads, const KeyRange* ranges,
               MutableMatrixView out, int threads, std::vector<float>& scratch) {
  const int64_t tq = q.rows;
  const int64_t head_dim = q.cols / heads;
  const HeadQuery args{q, k, v, out, head_dim,
                       1.0f / std::sqrt(static_cast<float>(head_dim))};
  int64_t longest = 1, keys = 0;
  for (int64_t i = 0; i < tq; ++i) {
    longest = std::max(longest, ranges[i].count);
    keys += ranges[i].count;
  }
  // One scores row per thread: each (head, query) task uses its thread's row.
  const size_t row = static_cast<size_t>((longest + 15) / 16 * 16);  // whole 16-float stores
  if (scratch.size() < row * static_cast<size_t>(threads)) {
    scratch.resize(row * static_cast<size_t>(threads));
  }
  float* scratch_data = scratch.data();
  const int64_t tasks = static_cast<int64_t>(heads) * tq;
  const bool parallel = worth_parallel(threads, keys * q.cols);

#pragma omp parallel for num_threads(threads) if (parallel)
  for (int64_t t = 0; t < tasks; ++t) {
    // Query-major: one query's heads in a row, so its key rows stay in cache across them.
    const int64_t i = t / heads, head = t % heads;
    float* scores = scratch_data + row * static_cast<size_t>(omp_get_thread_num());
    attend_one(args, head, i, ranges[i], scores);
  }
}

}  // namespace tusk::backends::cpu
