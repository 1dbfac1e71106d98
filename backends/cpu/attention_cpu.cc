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
#include "kernels/cpu/quantized_linear.h"

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

inline __attribute__((always_inline)) void load16(const float* p, F16& v) { std::memcpy(&v, p, sizeof v); }
inline __attribute__((always_inline)) void load_head(const float* p, Head64& h) { std::memcpy(&h, p, sizeof h); }

// q . key over a head of 64, lane by lane: the four vectors' products added in pairs. (One
// definition for attend_one and attend_head64_by_16_keys: which product of a pair the compiler
// fuses into a multiply-add follows the statements' order, so the same expression written
// twice could round differently.)
inline __attribute__((always_inline)) void head_dot_products(const Head64& q, const float* key, F16& s) {
  F16 k0, k1, k2, k3;
  load16(key, k0);
  load16(key + 16, k1);
  load16(key + 32, k2);
  load16(key + 48, k3);
  s = (q.v[0] * k0 + q.v[1] * k1) + (q.v[2] * k2 + q.v[3] * k3);
}

// q . key over a head, its lanes added pairwise (an `omp simd reduction` ends in sixteen
// dependent scalar additions): the 16 lanes' halves, quarters, (0 + 2, 1 + 3), and those two.
inline __attribute__((always_inline)) float head_dot(const Head64& q, const float* key) {
  F16 s;
  head_dot_products(q, key, s);
  const F8 s8 = __builtin_shufflevector(s, s, 0, 1, 2, 3, 4, 5, 6, 7) +
                __builtin_shufflevector(s, s, 8, 9, 10, 11, 12, 13, 14, 15);
  const F4 s4 = __builtin_shufflevector(s8, s8, 0, 1, 2, 3) + __builtin_shufflevector(s8, s8, 4, 5, 6, 7);
  return (s4[0] + s4[2]) + (s4[1] + s4[3]);
}

// head_dot for sixteen keys at once, the same additions in the same order (so the same bits),
// but the sixteen keys' horizontal reductions share one shuffle network: four levels of (two
// shuffles, one add) over pairs of vectors, 15 steps in all, where a reduction of its own per
// key (3 shuffles and 6 adds, the last of them scalar) cost about twice as much per key. Each
// level below puts two vectors' results side by side.
inline __attribute__((always_inline)) void add_halves(const F16& a, const F16& b, F16& out) {  // l + (l + 8)
  out = __builtin_shufflevector(a, b, 0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23) +
        __builtin_shufflevector(a, b, 8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29, 30, 31);
}
inline __attribute__((always_inline)) void add_quarters(const F16& a, const F16& b, F16& out) {  // l + (l + 4)
  out = __builtin_shufflevector(a, b, 0, 1, 2, 3, 8, 9, 10, 11, 16, 17, 18, 19, 24, 25, 26, 27) +
        __builtin_shufflevector(a, b, 4, 5, 6, 7, 12, 13, 14, 15, 20, 21, 22, 23, 28, 29, 30, 31);
}
inline __attribute__((always_inline)) void add_pairs(const F16& a, const F16& b, F16& out) {  // 0 + 2, 1 + 3
  out = __builtin_shufflevector(a, b, 0, 1, 4, 5, 8, 9, 12, 13, 16, 17, 20, 21, 24, 25, 28, 29) +
        __builtin_shufflevector(a, b, 2, 3, 6, 7, 10, 11, 14, 15, 18, 19, 22, 23, 26, 27, 30, 31);
}
inline __attribute__((always_inline)) void add_neighbours(const F16& a, const F16& b, F16& out) {  // the two
  out = __builtin_shufflevector(a, b, 0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30) +
        __builtin_shufflevector(a, b, 1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
}

// Lane j = q . key j (head_dot) for the n <= 16 keys at k, rows `step` floats apart (lanes
// past n: 0).
inline __attribute__((always_inline)) void head_dots16(const Head64& q, const float* k, int64_t step,
                                                       int64_t n, F16& out) {
  // Each level is combined as soon as both its inputs exist, so few vectors are live at once.
  F16 pairs[2];
#pragma GCC unroll 2
  for (int p = 0; p < 2; ++p) {
    F16 quarters[2];
#pragma GCC unroll 2
    for (int g = 0; g < 2; ++g) {
      F16 halves[2];
#pragma GCC unroll 2
      for (int h = 0; h < 2; ++h) {
        const int j = 8 * p + 4 * g + 2 * h;
        F16 a{}, b{};
        if (j < n) head_dot_products(q, k + j * step, a);
        if (j + 1 < n) head_dot_products(q, k + (j + 1) * step, b);
        add_halves(a, b, halves[h]);
      }
      add_quarters(halves[0], halves[1], quarters[g]);
    }
    add_pairs(quarters[0], quarters[1], pairs[p]);
  }
  add_neighbours(pairs[0], pairs[1], out);
}

// acc += p * value over a head of 64 (one definition for both paths, as head_dot_products).
inline __attribute__((always_inline)) void add_weighted_value(Head64& acc, float p, const float* value) {
  F16 v;
#pragma GCC unroll 4
  for (int u = 0; u < 4; ++u) {
    load16(value + 16 * u, v);
    acc.v[u] += p * v;
  }
}

struct HeadQuery {
  MatrixView q, k, v;
  MutableMatrixView out;
  int64_t head_dim;
  float scale;
};

// One (head, query) task of a HeadQuery: its query and output columns, and its keys' and
// values' first rows (null without keys: attention() writes zeros then).
struct HeadTask {
  const float* q;
  float* out;
  const float* k0;
  const float* v0;
  int64_t keys, k_step, v_step;
};

inline HeadTask head_task(const HeadQuery& a, int64_t head, int64_t i, const KeyRange& r) {
  const int64_t col = head * a.head_dim;
  HeadTask t{a.q.data + i * a.q.ld + col, a.out.data + i * a.out.ld + col, nullptr, nullptr, r.count,
             r.stride * a.k.ld, r.stride * a.v.ld};
  if (r.count > 0) {
    t.k0 = a.k.data + r.begin * a.k.ld + col;
    t.v0 = a.v.data + r.begin * a.v.ld + col;
  }
  return t;
}

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
    max_lanes = valid > max_lanes ? valid : max_lanes;  // a NaN score is passed over, as std::max does
  }
  float m = max_lanes[0];
  for (int l = 1; l < 16; ++l) m = std::max(m, max_lanes[l]);
  return m;
}

// exp_shifted(scores, n, m, true) (exp_cpu.h) 16 lanes a step (the row is whole vectors
// long), lanes past n masked to -inf (e^-inf = 0: they add nothing), each vector's quarters
// added to the 4-lane sum in exp_shifted's order. Not the same bits: on AVX-512 the compiler
// fuses the 16-lane exponential's multiply-adds (more exact), and even exponentials taken by
// quarters were merged into 16-lane ones, so attend_head64_by_16_keys may differ from
// attend_one in the last bits of a weight.
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

// out[i, head] = softmax(q_i . k_j * scale over the keys j of r) @ v[j, head] for a task with
// keys, one key at a time. Built for AVX-512, AVX2 and the baseline (the loader picks): the dot
// products and the weighted sum of values vectorize to the machine's width (at batch 16 this
// op took 9% of an int8 decode with baseline SSE2 code). With a head of 64 the query, each key
// and the output stay in registers (the output summed in memory was a load-add-store chain per
// key). Heads of 64 on AVX-512 take attend_head64_by_16_keys instead.
TUSK_VECTOR_CLONES void attend_one(const HeadQuery& a, const HeadTask& task, float* scores) {
  const int64_t hd = a.head_dim, n_keys = task.keys, k_step = task.k_step, v_step = task.v_step;
  const float *qi = task.q, *k0 = task.k0, *v0 = task.v0;
  float* o = task.out;

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
  Head64 q;
  if (hd == kHead64) load_head(qi, q);
  for (int64_t j = 0; j < n_keys; ++j) {
    if (j + kKeysAhead < n_keys) fetch(k0 + (j + kKeysAhead) * k_step);
    fetch(v0 + j * v_step);
    if (hd == kHead64) {
      scores[j] = head_dot(q, k0 + j * k_step) * a.scale;
    } else {
      scores[j] = dot(qi, k0 + j * k_step, hd) * a.scale;
    }
    max_score = std::max(max_score, scores[j]);
  }
  const float sum = exp_shifted(scores, n_keys, max_score, /*store=*/true);
  const float inv_sum = 1.0f / sum;
  if (hd == kHead64) {
    Head64 acc{};
    for (int64_t j = 0; j < n_keys; ++j) add_weighted_value(acc, scores[j] * inv_sum, v0 + j * v_step);
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

// attend_one for a head of 64, sixteen keys at a time, on AVX-512 (attention() checks the
// kernels' ISA level): sixteen keys' dot products share one reduction network (head_dots16: attend_one's
// sums, the same bits), and the softmax runs 16 lanes a step (exp_shifted16: the last bits of
// a weight may differ). Not for AVX2 or SSE2: there sixteen keys' vectors outgrow the
// registers, and attend_one built for them measured as fast or faster.
__attribute__((target("avx512f"))) void attend_head64_by_16_keys(const HeadQuery& a, const HeadTask& task,
                                                                float* scores) {
  const float max_score = head64_scores(a, task.q, task.k0, task.k_step, task.keys, scores);
  const float inv_sum = 1.0f / exp_shifted16(scores, task.keys, max_score);
  Head64 acc{};
  for (int64_t j = 0; j < task.keys; ++j) add_weighted_value(acc, scores[j] * inv_sum, task.v0 + j * task.v_step);
  std::memcpy(task.out, &acc, sizeof acc);
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
  // The kernels' level (TUSK_CPU_ISA caps it, so tests reach attend_one on this CPU too).
  const bool by_16_keys = head_dim == kHead64 && kernels::active_isa() >= kernels::Isa::Avx512;

#pragma omp parallel for num_threads(threads) if (parallel)
  for (int64_t t = 0; t < tasks; ++t) {
    // Query-major: one query's heads in a row, so its key rows stay in cache across them.
    const int64_t i = t / heads, head = t % heads;
    float* scores = scratch_data + row * static_cast<size_t>(omp_get_thread_num());
    const HeadTask task = head_task(args, head, i, ranges[i]);
    if (task.keys <= 0)
      std::fill(task.out, task.out + head_dim, 0.0f);
    else if (by_16_keys)
      attend_head64_by_16_keys(args, task, scores);
    else
      attend_one(args, task, scores);
  }
}

}  // namespace tusk::backends::cpu
