// Blocking and threading shared by every ISA level. A policy P (one per ISA x weight type,
// defined in that ISA's translation unit) supplies the pieces that differ:
//   P::kNr, P::kMr                 GEMM panel width (weight rows) and micro-kernel rows (x rows)
//   P::gemv_prepare(call)          -> P::GemvPrep: activations as the GEMV loop wants them
//   P::gemv_rows(call, prep, r0, r1)   y[0..m)[r0..r1) for m <= kGemvMaxRows
//   P::x16_prepare(call), P::x16_rows(call, prep, r0, r1)   the same with int16 activations
//   P::dequant_panel(w, r0, nr, c0, kc, panel)  panel[kc][kNr] = dequant(w[r0+j][c0+p]) (0 past nr)
//   P::micro(mr, MicroArgs)        y tile (+)= x tile . panel, bias at the first, ReLU at the last
//
// Internal linkage only (anonymous namespace, templates on the policies): this header is
// compiled once per ISA with different flags, and merged copies would leak AVX code into
// the generic path.
#pragma once

#include <omp.h>

#include <algorithm>
#include <cstdint>

#include "kernels/cpu/kernel_entry.h"
#include "kernels/cpu/x16_prep.h"

namespace tusk::kernels::detail {
namespace {

// Columns of one dequantized panel: 16 or 32 rows x 256 floats stays within L1.
constexpr int64_t kPanelCols = 256;
// Below this many multiply-adds one thread beats a parallel region (fork/join ~ microseconds):
// the 256 x 256 layers of a small model run on the calling thread.
constexpr int64_t kMinParallelMacs = int64_t{1} << 17;
// GEMV hands out rows in chunks of this many (a multiple of every row blocking).
constexpr int64_t kGemvRowChunk = 16;

inline int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }
inline int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

struct MicroArgs {
  const float* x;  // x[row 0][c0], rows ld_x apart
  int64_t ld_x;
  const float* panel;  // [kc][kNr]
  int64_t kc;
  float* y;  // y[row 0][r0], rows ld_y apart
  int64_t ld_y;
  int nr;             // valid columns of the y tile (weight rows in the panel)
  const float* bias;  // bias + r0 or null; used when first
  bool first, last, relu;
};

// Runs body(begin, end) over [0, units) split into contiguous ranges, one per thread.
template <class Body>
void parallel_ranges(int threads, int64_t units, const Body& body) {
  if (threads > units) threads = static_cast<int>(units);
  if (threads <= 1) {
    body(int64_t{0}, units);
    return;
  }
#pragma omp parallel num_threads(threads)
  {
    const int64_t t = omp_get_thread_num(), count = omp_get_num_threads();
    body(units * t / count, units * (t + 1) / count);
  }
}

// Runs body(t, count) on each of `threads` threads (t = 0 .. count - 1) of one parallel region,
// or on the calling thread alone (0, 1): for a call whose phases meet at a barrier
// (`#pragma omp barrier` inside body binds to this region, and is a no-op without one).
template <class Body>
void parallel_team(int threads, const Body& body) {
  if (threads <= 1) {
    body(0, 1);
    return;
  }
#pragma omp parallel num_threads(threads)
  body(omp_get_thread_num(), omp_get_num_threads());
}

inline int worth_threads(const LinearCall& c) {
  return c.m * c.w.n * c.w.k >= kMinParallelMacs ? c.threads : 1;
}

template <class P>
void run_gemv(const LinearCall& c) {
  const typename P::GemvPrep prep = P::gemv_prepare(c);
  const int64_t n = c.w.n;
  parallel_ranges(worth_threads(c), ceil_div(n, kGemvRowChunk), [&](int64_t u0, int64_t u1) {
    P::gemv_rows(c, prep, u0 * kGemvRowChunk, min64(n, u1 * kGemvRowChunk));
  });
}

template <class P>
void run_gemv_x16(const LinearCall& c) {
  const X16Prep prep = P::x16_prepare(c);
  const int64_t n = c.w.n;
  parallel_ranges(worth_threads(c), ceil_div(n, kGemvRowChunk), [&](int64_t u0, int64_t u1) {
    P::x16_rows(c, prep, u0 * kGemvRowChunk, min64(n, u1 * kGemvRowChunk));
  });
}

// Work units are (panel of kNr weight rows, block of x rows); x is split only when there are
// fewer panels than threads, since every block dequantizes its panels again.
template <class P>
void run_gemm(const LinearCall& c) {
  const int64_t n = c.w.n, k = c.w.k, m = c.m;
  const int threads = worth_threads(c);
  const int64_t panels = ceil_div(n, P::kNr);
  int64_t m_blocks = panels >= threads ? 1 : ceil_div(threads, panels);
  const int64_t block_rows = ceil_div(ceil_div(m, m_blocks), P::kMr) * P::kMr;
  m_blocks = ceil_div(m, block_rows);
  parallel_ranges(threads, panels * m_blocks, [&](int64_t u0, int64_t u1) {
    alignas(64) float panel[kPanelCols * P::kNr];
    for (int64_t u = u0; u < u1; ++u) {
      const int64_t r0 = (u / m_blocks) * P::kNr;
      const int64_t m0 = (u % m_blocks) * block_rows, m1 = min64(m, m0 + block_rows);
      MicroArgs a;
      a.ld_x = c.ld_x;
      a.ld_y = c.ld_y;
      a.panel = panel;
      a.nr = static_cast<int>(min64(P::kNr, n - r0));
      a.relu = c.relu;
      for (int64_t c0 = 0; c0 < k; c0 += kPanelCols) {
        a.kc = min64(kPanelCols, k - c0);
        P::dequant_panel(c.w, r0, a.nr, c0, a.kc, panel);
        a.first = c0 == 0;
        a.last = c0 + a.kc == k;
        a.bias = c.bias ? c.bias + r0 : nullptr;
        for (int64_t i = m0; i < m1; i += P::kMr) {
          a.x = c.x + i * c.ld_x + c0;
          a.y = c.y + i * c.ld_y + r0;
          P::micro(static_cast<int>(min64(P::kMr, m1 - i)), a);
        }
      }
    }
  });
}

// x16 with kGemvMaxRows < m <= kX16TileMaxRows: the GEMV tiles, kGemvMaxRows rows of x at a
// time, over blocks of weight rows that stay in L2 while every group of rows sweeps them.
template <class P>
void run_gemv_x16_grouped(const LinearCall& c) {
  const X16Prep prep = P::x16_prepare(c);
  const int64_t n = c.w.n;
  const int64_t row_bytes = c.w.type == WeightType::Int4 ? c.w.k / 2 : c.w.k;
  const int64_t block_rows = std::max<int64_t>(1, kX16TileBlockBytes / (row_bytes * kGemvRowChunk)) * kGemvRowChunk;
  parallel_ranges(worth_threads(c), ceil_div(n, kGemvRowChunk), [&](int64_t u0, int64_t u1) {
    const int64_t r_end = min64(n, u1 * kGemvRowChunk);
    for (int64_t rb = u0 * kGemvRowChunk; rb < r_end; rb += block_rows)
      for (int64_t i = 0; i < c.m; i += kGemvMaxRows) {
        LinearCall rows = c;
        rows.m = min64(kGemvMaxRows, c.m - i);
        rows.x = c.x + i * c.ld_x;
        rows.y = c.y + i * c.ld_y;
        const X16Prep p{prep.x + i * prep.ld_x, prep.ld_x, prep.sums + i * prep.ld_sums, prep.ld_sums, prep.scale + i};
        P::x16_rows(rows, p, rb, min64(r_end, rb + block_rows));
      }
  });
}

// c.x16 is already uses_x16(): set by dispatch.cc. x16 calls beyond kX16TileMaxRows rows
// never reach here: the SIMD levels' entries send them to gemm_x16.h, and the generic level
// has none.
template <class P>
void run_linear(const LinearCall& c) {
  if (c.x16 && c.m <= kGemvMaxRows)
    run_gemv_x16<P>(c);
  else if (c.x16)
    run_gemv_x16_grouped<P>(c);
  else if (c.m > kGemvMaxRows)
    run_gemm<P>(c);
  else
    run_gemv<P>(c);
}

}  // namespace
}  // namespace tusk::kernels::detail
