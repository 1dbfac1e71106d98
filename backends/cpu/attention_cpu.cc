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
typedef float F8 __attribute__((vector_size(32)));
struct Head64 {
  F16 v[4];
};

inline __attribute__((always_inline)) void load_head(const float* p, Head64& h) { std::memcpy(&h, p, sizeof h); }

// q . k over a head, its lanes added pairwise (an `omp simd reduction` ends in sixteen
// dependent scalar additions).
inline __attribute__((always_inline)) float head_dot(const Head64& q, const Head64& k) {
  const F16 s = (q.v[0] * k.v[0] + q.v[1] * k.v[1]) + (q.v[2] * k.v[2] + q.v[3] * k.v[3]);
  const F8 s8 = __builtin_shufflevector(s, s, 0, 1, 2, 3, 4, 5, 6, 7) +
                __builtin_shufflevector(s, s, 8, 9, 10, 11, 12, 13, 14, 15);
  const F4 s4 = __builtin_shufflevector(s8, s8, 0, 1, 2, 3) + __builtin_shufflevector(s8, s8, 4, 5, 6, 7);
  return (s4[0] + s4[2]) + (s4[1] + s4[3]);
}

struct HeadQuery {
  MatrixView q, k, v;
  MutableMatrixView out;
  int64_t head_dim;
  float scale;
};

// out[i, head] = softmax(q_i . k_j * scale over the keys j of r) @ v[j, head]. Built for
// AVX-512, AVX2 and the baseline (the loader picks): the dot products and the weighted sum
// of values vectorize to the machine's width (at batch 16 this op took 9% of an int8 decode
// with baseline SSE2 code). With a head of 64 the query, each key and the output stay in
// registers (the output summed in memory was a load-add-store chain per key).
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

  // A head reads a quarter or less of each key row (a row holds every head), rows a whole
  // row or more apart (KeyRange strides: a batch-strided layout was 16 KB apart at batch 16),
  // so each key's load could wait on the last-level cache. Keys are fetched kKeysAhead
  // ahead, and each value row while the scores are computed.
  constexpr int64_t kKeysAhead = 4;
  const int64_t row_bytes = hd * static_cast<int64_t>(sizeof(float));
  const auto fetch = [row_bytes](const float* row) {
    for (int64_t b = 0; b < row_bytes; b += 64) __builtin_prefetch(reinterpret_cast<const char*>(row) + b);
  };
  for (int64_t j = 0; j < kKeysAhead && j < n_keys; ++j) fetch(k0 + j * k_step);
  float max_score = -std::numeric_limits<float>::infinity();
  Head64 q, kv;
  if (hd == kHead64) load_head(qi, q);
  for (int64_t j = 0; j < n_keys; ++j) {
    if (j + kKeysAhead < n_keys) fetch(k0 + (j + kKeysAhead) * k_step);
    fetch(v0 + j * v_step);
    if (hd == kHead64) {
      load_head(k0 + j * k_step, kv);
      scores[j] = head_dot(q, kv) * a.scale;
    } else {
      scores[j] = dot(qi, k0 + j * k_step, hd) * a.scale;
    }
    max_score = std::max(max_score, scores[j]);
  }
  const float sum = exp_shifted(scores, n_keys, max_score, /*store=*/true);
  const float inv_sum = 1.0f / sum;
  if (hd == kHead64) {
    Head64 acc{};
    for (int64_t j = 0; j < n_keys; ++j) {
      const float p = scores[j] * inv_sum;
      load_head(v0 + j * v_step, kv);
      for (int u = 0; u < 4; ++u) acc.v[u] += p * kv.v[u];
    }
    std::memcpy(o, &acc, sizeof acc);
    return;
  }
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
  const size_t row = static_cast<size_t>(longest);
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
