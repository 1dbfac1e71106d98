// quantized_linear on every ISA level and weight type against the scalar reference, over
// GEMV (m <= 4) and GEMM shapes, grouped and per-channel scales, bias/ReLU, strided x and y
// (padding must stay untouched) and 1 or 2 threads.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>
#include <stdexcept>
#include <string>
#include <tuple>
#include <vector>

#include "kernels/cpu/quantized_linear.h"
#include "tests/kernels/kernel_test_util.h"

namespace tusk::kernels::test {
namespace {

constexpr float kPad = 12345.0f;

struct Shape {
  int64_t n, k;
};

// Per-channel (k) plus the grouped sizes that fit the type and divide k.
std::vector<int64_t> groups_for(WeightType type, int64_t k) {
  if (type == WeightType::F16) return {k};
  std::vector<int64_t> groups{k};
  const std::vector<int64_t> candidates =
      type == WeightType::Int4 ? std::vector<int64_t>{64, 128} : std::vector<int64_t>{32, 64, 128};
  for (int64_t g : candidates)
    if (g < k && k % g == 0) groups.push_back(g);
  return groups;
}

std::vector<Shape> shapes_for(WeightType type) {
  std::vector<Shape> shapes{{8, 64}, {13, 128}, {256, 256}, {1024, 256}, {256, 1024}, {100, 512}};
  if (type == WeightType::Int8) shapes.push_back({19, 96});   // k a multiple of 32 only
  if (type == WeightType::F16) {                               // SIMD tails of k
    shapes.push_back({37, 100});
    shapes.push_back({5, 7});
  }
  return shapes;
}

// Runs one case and compares with the reference; |error| <= 1e-5 * (sum |x * w| + |bias|),
// the scale of fp32 rounding in a dot product. The x16 path may also move each output by
// its documented bound, 0.5 * max|x_i| / 32767 * sum_c |w[r][c]| (0.51: float rounding of
// x / scale can flip a tie).
void check_case(Isa isa, QuantMatrix& w, int64_t m, bool use_bias, bool relu, int threads,
                std::mt19937& rng, bool x16 = false) {
  const int64_t n = w.n, k = w.k;
  const int64_t ld_x = k + 3, ld_y = n + 5;  // padding on both sides
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  // x padding is NaN: reading it would poison the result.
  std::vector<float> x(static_cast<size_t>(m * ld_x), std::numeric_limits<float>::quiet_NaN());
  for (int64_t i = 0; i < m; ++i)
    for (int64_t c = 0; c < k; ++c) x[i * ld_x + c] = dist(rng);
  std::vector<float> bias(static_cast<size_t>(n));
  for (auto& b : bias) b = dist(rng);
  std::vector<float> y(static_cast<size_t>(m * ld_y), kPad);

  const PackedWeights pw = w.weights();
  if (x16)
    quantized_linear_x16(isa, pw, x.data(), m, ld_x, use_bias ? bias.data() : nullptr, relu, y.data(), ld_y,
                         threads);
  else
    quantized_linear(isa, pw, x.data(), m, ld_x, use_bias ? bias.data() : nullptr, relu, y.data(), ld_y,
                     threads);
  // Where x16 falls back to fp32 (large m off the VNNI level) the bound only gets looser;
  // X16FallsBackToFp32Exactly pins those cases down.
  const bool quantized_x = x16 && w.type != WeightType::F16;

  const std::string where = std::string(isa_name(isa)) + " " + type_name(w.type) + " m=" +
                            std::to_string(m) + " n=" + std::to_string(n) + " k=" + std::to_string(k) +
                            " group=" + std::to_string(w.group) + " bias=" + std::to_string(use_bias) +
                            " relu=" + std::to_string(relu) + " threads=" + std::to_string(threads) +
                            (x16 ? " x16" : "");
  int failures = 0;
  for (int64_t i = 0; i < m && failures < 5; ++i) {
    double x_step = 0;  // x16: the int16 scale of this row
    if (quantized_x) {
      for (int64_t c = 0; c < k; ++c) x_step = std::max(x_step, std::fabs(double{x[i * ld_x + c]}));
      x_step /= 32767;
    }
    for (int64_t r = 0; r < n && failures < 5; ++r) {
      // Four interleaved double sums: exact enough, and quicker than one long chain.
      double part[4] = {}, mag[4] = {};
      const float* xi = &x[i * ld_x];
      const double* wr = &w.ref[r * k];
      int64_t c = 0;
      for (; c + 4 <= k; c += 4)
        for (int l = 0; l < 4; ++l) {
          const double p = double{xi[c + l]} * wr[c + l];
          part[l] += p;
          mag[l] += std::fabs(p);
        }
      for (; c < k; ++c) {
        const double p = double{xi[c]} * wr[c];
        part[0] += p;
        mag[0] += std::fabs(p);
      }
      double sum = (part[0] + part[1]) + (part[2] + part[3]) + (use_bias ? bias[r] : 0.0);
      const double magnitude = (mag[0] + mag[1]) + (mag[2] + mag[3]) + (use_bias ? std::fabs(bias[r]) : 0.0);
      if (relu && sum < 0) sum = 0;
      const double got = y[i * ld_y + r];
      double bound = 1e-5 * magnitude + 1e-30;
      if (quantized_x) {
        double w_abs = 0;
        for (int64_t c = 0; c < k; ++c) w_abs += std::fabs(w.ref[r * k + c]);
        bound += 0.51 * x_step * w_abs;
      }
      if (!(std::fabs(got - sum) <= bound)) {
        ADD_FAILURE() << where << ": y[" << i << "][" << r << "] = " << got << ", expected " << sum
                      << " (scale " << magnitude << ")";
        ++failures;
      }
    }
    for (int64_t r = n; r < ld_y; ++r)
      if (y[i * ld_y + r] != kPad) {
        ADD_FAILURE() << where << ": wrote padding y[" << i << "][" << r << "]";
        ++failures;
        break;
      }
  }
}

class LinearTest : public ::testing::TestWithParam<std::tuple<Isa, WeightType>> {};

TEST_P(LinearTest, MatchesScalarReference) {
  const auto [isa, type] = GetParam();
  TUSK_SKIP_UNLESS_SUPPORTED(isa);
  std::mt19937 rng(1234);
  for (const Shape& shape : shapes_for(type)) {
    for (int64_t group : groups_for(type, shape.k)) {
      QuantMatrix w(type, shape.n, shape.k, group, rng);
      for (int64_t m : {1, 2, 3, 4, 5, 64, 130}) {
        int combo = static_cast<int>((m + shape.n + group) % 8);  // cycles bias x relu x threads
        for (int rep = 0; rep < (m < 64 ? 2 : 1); ++rep, combo = (combo + 3) % 8)
          check_case(isa, w, m, combo & 1, (combo >> 1) & 1, 1 + ((combo >> 2) & 1), rng);
      }
    }
  }
}

// Every bias/ReLU/threads combination on one GEMV and one GEMM shape, threads above the
// parallel threshold.
TEST_P(LinearTest, AllEpilogueAndThreadCombinations) {
  const auto [isa, type] = GetParam();
  TUSK_SKIP_UNLESS_SUPPORTED(isa);
  std::mt19937 rng(99);
  QuantMatrix w(type, 1024, 256, type == WeightType::F16 ? 256 : 128, rng);
  for (int64_t m : {1, 4, 7, 33})
    for (int combo = 0; combo < 8; ++combo)
      check_case(isa, w, m, combo & 1, (combo >> 1) & 1, 1 + ((combo >> 2) & 1), rng);
}

// A large k: the GEMM path accumulates over several 256-column panels.
TEST_P(LinearTest, LongRowsAcrossPanels) {
  const auto [isa, type] = GetParam();
  TUSK_SKIP_UNLESS_SUPPORTED(isa);
  std::mt19937 rng(7);
  QuantMatrix w(type, 40, 2048, type == WeightType::F16 ? 2048 : 256, rng);
  for (int64_t m : {1, 3, 9})
    check_case(isa, w, m, true, true, 2, rng);
}

// The int16-activation path: same sweep, every epilogue combination, at GEMV sizes (m <= 4),
// the GEMV tiles over groups of rows (5..8), and beyond: the SIMD levels' int16 GEMM, with
// partial row blocks (9, 10, 19, 27: on the VNNI level some run apart, vnni_tiled_rows) and
// panels (n not a multiple of 16 or 32), or the fp32 GEMM on the generic level.
TEST_P(LinearTest, X16MatchesScalarReference) {
  const auto [isa, type] = GetParam();
  TUSK_SKIP_UNLESS_SUPPORTED(isa);
  std::mt19937 rng(4321);
  for (const Shape& shape : shapes_for(type)) {
    for (int64_t group : groups_for(type, shape.k)) {
      QuantMatrix w(type, shape.n, shape.k, group, rng);
      for (int64_t m : {1, 2, 3, 4, 5, 8, 9, 10, 19, 27}) {
        int combo = static_cast<int>((m + shape.n + group) % 8);  // cycles bias x relu x threads
        for (int rep = 0; rep < 2; ++rep, combo = (combo + 3) % 8)
          check_case(isa, w, m, combo & 1, (combo >> 1) & 1, 1 + ((combo >> 2) & 1), rng, /*x16=*/true);
      }
    }
  }
  QuantMatrix w(type, 1024, 256, type == WeightType::F16 ? 256 : 128, rng);
  for (int64_t m : {1, 4})
    for (int combo = 0; combo < 8; ++combo)
      check_case(isa, w, m, combo & 1, (combo >> 1) & 1, 1 + ((combo >> 2) & 1), rng, /*x16=*/true);
  QuantMatrix long_rows(type, 24, 4096, type == WeightType::F16 ? 4096 : 1024, rng);  // several segments
  check_case(isa, long_rows, 1, true, false, 2, rng, /*x16=*/true);
  check_case(isa, long_rows, 11, true, true, 2, rng, /*x16=*/true);  // GEMM: 16 panels, 4 groups
  QuantMatrix wide(type, 70, 512, 512, rng);  // few panels: the GEMM splits x between threads
  check_case(isa, wide, 40, true, false, 2, rng, /*x16=*/true);
}

// A GEMV row's result does not depend on how many threads split the rows (row ranges start
// on 16-row boundaries and every tile sums in a fixed order), on both paths, short rows and long.
TEST_P(LinearTest, GemvSameBitsForAnyThreadCount) {
  const auto [isa, type] = GetParam();
  TUSK_SKIP_UNLESS_SUPPORTED(isa);
  std::mt19937 rng(17);
  for (const Shape& shape : {Shape{1024, 256}, Shape{100, 512}, Shape{77, 2048}}) {
    QuantMatrix w(type, shape.n, shape.k, shape.k, rng);
    std::vector<float> x(static_cast<size_t>(shape.k)), bias(static_cast<size_t>(shape.n));
    std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
    for (auto& v : x) v = dist(rng);
    for (auto& v : bias) v = dist(rng);
    for (bool x16 : {false, true}) {
      if (x16 && type == WeightType::F16) continue;  // x16 is the fp32 path there
      auto linear = x16 ? quantized_linear_x16 : quantized_linear;
      std::vector<float> one(static_cast<size_t>(shape.n)), two(one.size());
      linear(isa, w.weights(), x.data(), 1, shape.k, bias.data(), true, one.data(), shape.n, 1);
      linear(isa, w.weights(), x.data(), 1, shape.k, bias.data(), true, two.data(), shape.n, 2);
      EXPECT_EQ(one, two) << shape.n << "x" << shape.k << (x16 ? " x16" : "");
    }
  }
}

// Where x16 does not apply it is the fp32 path, bit for bit: F16 weights at any m; above
// kX16TileMaxRows rows, groups that do not hold whole 256-column panels, and every group on
// the generic level (no int16 GEMM there).
TEST_P(LinearTest, X16FallsBackToFp32Exactly) {
  const auto [isa, type] = GetParam();
  TUSK_SKIP_UNLESS_SUPPORTED(isa);
  std::mt19937 rng(8);
  struct Case {
    int64_t m, group;
  };
  for (const Case& t : {Case{1, 256}, Case{7, 256}, Case{9, 64}, Case{12, 256}}) {
    const bool falls_back = type == WeightType::F16 || (t.m > 8 && (t.group != 256 || isa == Isa::Generic));
    if (!falls_back) continue;
    QuantMatrix w(type, 40, 256, t.group, rng);
    std::vector<float> x(static_cast<size_t>(t.m * 256)), a(static_cast<size_t>(t.m * 40)), b(a.size());
    std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
    for (auto& v : x) v = dist(rng);
    quantized_linear(isa, w.weights(), x.data(), t.m, 256, nullptr, false, a.data(), 40, 1);
    quantized_linear_x16(isa, w.weights(), x.data(), t.m, 256, nullptr, false, b.data(), 40, 1);
    EXPECT_EQ(a, b) << "m=" << t.m << " group=" << t.group;
  }
}

struct GemmCase {
  int64_t n, k, group, m;
};

// The VNNI level's x16 GEMM of `type` against the AVX-512 level's int16 panels (gemm_x16.h),
// bit for bit, over every bias x ReLU x threads combination; row 0 of the weights gets the
// type's extremes (every `stride`-th column) and each row of x one value at +-40 (at the
// int16 limit once quantized). With `x8_same`, quantized_linear_x8 must give those bits too.
void expect_vnni_gemm_same_bits(WeightType type, const std::vector<GemmCase>& cases, int8_t low, int8_t high,
                                int64_t stride, bool x8_same, std::mt19937& rng) {
  for (const GemmCase& t : cases) {
    QuantMatrix w(type, t.n, t.k, t.group, rng);
    for (int64_t c = 0; c < t.k; c += stride) w.q[static_cast<size_t>(c)] = c % 2 ? high : low;
    pack_weights(type, w.q.data(), t.n, t.k, w.packed_data());
    std::vector<float> x(static_cast<size_t>(t.m * t.k)), bias(static_cast<size_t>(t.n));
    std::normal_distribution<float> dist(0.0f, 1.0f);
    for (auto& v : x) v = dist(rng);
    for (auto& v : bias) v = dist(rng);
    for (int64_t i = 0; i < t.m; ++i) x[static_cast<size_t>(i * t.k + i % t.k)] = i % 2 ? 40.0f : -40.0f;
    for (int combo = 0; combo < 8; ++combo) {
      const bool use_bias = combo & 1, relu = combo & 2;
      const int threads = combo & 4 ? 2 : 1;
      const float* b = use_bias ? bias.data() : nullptr;
      std::vector<float> int16(static_cast<size_t>(t.m * t.n)), vnni(int16.size()), x8(int16.size());
      quantized_linear_x16(Isa::Avx512, w.weights(), x.data(), t.m, t.k, b, relu, int16.data(), t.n, threads);
      quantized_linear_x16(Isa::Avx512Vnni, w.weights(), x.data(), t.m, t.k, b, relu, vnni.data(), t.n, threads);
      const std::string where = std::string(type_name(type)) + " " + std::to_string(t.n) + "x" +
                                std::to_string(t.k) + " group " + std::to_string(t.group) + " m " +
                                std::to_string(t.m) + " combo " + std::to_string(combo);
      ASSERT_EQ(int16, vnni) << where;
      if (!x8_same) continue;
      quantized_linear_x8(Isa::Avx512Vnni, w.weights(), x.data(), t.m, t.k, b, relu, x8.data(), t.n, threads);
      ASSERT_EQ(int16, x8) << "x8: " << where;
    }
  }
}

// The VNNI level's Int8 x16 GEMM (byte panels, split activations: gemm_int8_vnni.h) sums the
// same integers as the AVX-512 level's int16 panels (gemm_x16.h): the results are equal bit
// for bit, over row and column tails, grouped scales, extreme values (|x| at the int16 limit
// on both signs, weights at +-127), bias, ReLU and both thread counts.
TEST(LinearInt8VnniGemm, SameBitsAsTheInt16Gemm) {
  TUSK_SKIP_UNLESS_SUPPORTED(Isa::Avx512Vnni);
  std::mt19937 rng(99);
  expect_vnni_gemm_same_bits(WeightType::Int8,
                             {{70, 512, 512, 9}, {32, 256, 256, 16}, {100, 1024, 256, 19}, {1024, 1024, 1024, 40},
                              {33, 4096, 512, 13}, {17, 320, 320, 12}, {48, 192, 192, 64}},
                             -127, 127, 7, /*x8_same=*/false, rng);
}

// The VNNI level's Int4 x16 GEMM (nibbles read in place, gemm_int4_vnni.h), the same way,
// with partial panels (k = 320, 192) and weights at -8 and 7; the opt-in 8-bit activations
// leave Int4 products as they are.
TEST(LinearInt4VnniGemm, SameBitsAsTheInt16Gemm) {
  TUSK_SKIP_UNLESS_SUPPORTED(Isa::Avx512Vnni);
  std::mt19937 rng(98);
  expect_vnni_gemm_same_bits(WeightType::Int4,
                             {{70, 512, 512, 9}, {32, 256, 256, 16}, {100, 1024, 256, 19}, {1024, 256, 256, 40},
                              {256, 1024, 1024, 37}, {33, 4096, 512, 13}, {17, 320, 320, 12}, {48, 192, 192, 64}},
                             -8, 7, 5, /*x8_same=*/true, rng);
}

// The lane-group tests' data. Weight row 0's every fifth column at the type's extremes (then
// packed again), so sums reach their bounds.
void with_extreme_columns(QuantMatrix& w, WeightType type, int64_t n, int64_t k) {
  const bool int8 = type == WeightType::Int8;
  for (int64_t c = 0; c < k; c += 5) w.q[static_cast<size_t>(c)] = c % 2 ? (int8 ? 127 : 7) : (int8 ? -127 : -8);
  pack_weights(type, w.q.data(), n, k, w.packed_data());
}

std::vector<float> gaussian(int64_t count, std::mt19937& rng) {
  std::normal_distribution<float> dist(0.0f, 1.0f);
  std::vector<float> v(static_cast<size_t>(count));
  for (auto& x : v) x = dist(rng);
  return v;
}

// `rows` Gaussian rows of k values, ld_x floats apart, each with one outlier of +-40.
std::vector<float> rows_with_outliers(int64_t rows, int64_t k, int64_t ld_x, std::mt19937& rng) {
  std::vector<float> x = gaussian(rows * ld_x, rng);
  for (int64_t i = 0; i < rows; ++i) x[static_cast<size_t>(i * ld_x + (7 * i) % k)] = i % 2 ? 40.0f : -40.0f;
  return x;
}

// With k <= 256 (one panel) the VNNI level computes a few rows of x in lane groups
// (gemm_vnni_grouped.h: Int4 from 2 rows, Int8 at 4 and 6 .. 8) with the 16-row tiles' bits,
// and of a larger call the rows past its last whole block of 16 apart: up to 8 of them as a
// call of their own, 9 .. 11 as 8 and the rest. So, against a 32-row call (all tiles) and
// calls on the rows alone: grouped row counts give the tiles' bits; of m = 17 .. 31 rows,
// rows 0 .. 15 give the tiles' bits and the rest what a call on them alone gives; of m = 9 ..
// 15, rows 0 .. 7 the tiles' bits (8 rows are grouped) and the rest the bits of a call on
// them alone (m <= 11) or the tiles' (m >= 12: one block). With strided x and y, partial tiles
// (n = 5, 17, 33, 70), k = 64 .. 256, extreme values, bias, ReLU, 1 and 2 threads, Int8 also
// with 8-bit activations.
TEST(LinearVnniGrouped, FewRowsGiveTheTilesBitsOrTheirOwn) {
  TUSK_SKIP_UNLESS_SUPPORTED(Isa::Avx512Vnni);
  std::mt19937 rng(97);
  struct Case {
    WeightType type;
    int64_t n, k;
  };
  for (const Case& t : {Case{WeightType::Int8, 70, 256}, Case{WeightType::Int8, 1024, 256},
                        Case{WeightType::Int8, 17, 192}, Case{WeightType::Int8, 5, 128}, Case{WeightType::Int8, 33, 64},
                        Case{WeightType::Int4, 70, 256}, Case{WeightType::Int4, 1024, 256},
                        Case{WeightType::Int4, 17, 192}, Case{WeightType::Int4, 48, 128}, Case{WeightType::Int4, 5, 64}}) {
    QuantMatrix w(t.type, t.n, t.k, t.k, rng);
    const bool int8 = t.type == WeightType::Int8;
    with_extreme_columns(w, t.type, t.n, t.k);
    constexpr int64_t kMany = 32;
    const int64_t ld_x = t.k + 3, ld_y = t.n + 5;
    const std::vector<float> x = rows_with_outliers(kMany, t.k, ld_x, rng), bias = gaussian(t.n, rng);
    const auto grouped = [int8](int64_t m) { return int8 ? m == 4 || (m >= 6 && m <= 8) : m >= 2 && m <= 8; };
    for (int64_t m = 1; m <= 31; ++m) {
      const int combo = static_cast<int>(m + t.n) % 4;
      const bool relu = combo & 2;
      const float* b = combo & 1 ? bias.data() : nullptr;
      for (int threads : {1, 2}) {
        for (bool x8 : {false, true}) {
          if (x8 && !int8) continue;
          auto linear = x8 ? quantized_linear_x8 : quantized_linear_x16;
          const auto run = [&](int64_t first, int64_t rows) {
            std::vector<float> y(static_cast<size_t>(rows * ld_y), kPad);
            linear(Isa::Avx512Vnni, w.weights(), x.data() + first * ld_x, rows, ld_x, b, relu, y.data(), ld_y,
                   threads);
            return y;
          };
          const std::vector<float> few = run(0, m), many = run(0, kMany);
          // Rows [0, tiled) must give the 32-row call's bits, the rest those of `alone`.
          int64_t tiled = m;
          std::vector<float> alone;
          if (m <= 8) {
            if (!grouped(m)) continue;  // the GEMV tiles' own rounding
          } else if (m <= 11 || (m > 16 && m < 32)) {
            tiled = m <= 11 ? 8 : 16;
            alone = run(tiled, m - tiled);
          }
          for (int64_t i = 0; i < m; ++i) {
            const float* want = i < tiled ? &many[i * ld_y] : &alone[(i - tiled) * ld_y];
            for (int64_t r = 0; r < t.n; ++r)
              ASSERT_EQ(few[i * ld_y + r], want[r]) << type_name(t.type) << " " << t.n << "x" << t.k << " m " << m
                                                    << " row " << i << " col " << r << " threads " << threads
                                                    << (x8 ? " x8" : "");
            for (int64_t r = t.n; r < ld_y; ++r) ASSERT_EQ(few[i * ld_y + r], kPad) << "padding written, m " << m;
          }
        }
      }
    }
  }
}

// Int8 lane groups over several panels (k > 256: 4 .. 8 rows of a matrix of 1 MiB or more,
// gemm_vnni_grouped.h) give the 16-row tiles' bits: each row of a call of m = 4 .. 8 equals
// that row of a 32-row call. Per-channel and per-256-column scales, a last panel of 64
// columns, 64 panels (k = 16384, the most), partial tiles (n % 8 != 0), bias, ReLU, 1 and 2
// threads, 8-bit activations too.
// Below 4 rows, or on a smaller matrix, the GEMV tiles keep their own rounding (not checked
// here).
TEST(LinearVnniGrouped, PanelsFromFourRowsGiveTheTilesBits) {
  TUSK_SKIP_UNLESS_SUPPORTED(Isa::Avx512Vnni);
  std::mt19937 rng(41);
  struct Case {
    int64_t n, k, group;
  };
  for (const Case& t : {Case{1030, 1024, 1024}, Case{1030, 1024, 256}, Case{1001, 1088, 1088},
                        Case{70, 16384, 16384}}) {  // the last: the most panels (64)
    QuantMatrix w(WeightType::Int8, t.n, t.k, t.group, rng);
    with_extreme_columns(w, WeightType::Int8, t.n, t.k);
    constexpr int64_t kMany = 32;
    const int64_t ld_x = t.k + 3, ld_y = t.n + 5;
    const std::vector<float> x = rows_with_outliers(kMany, t.k, ld_x, rng), bias = gaussian(t.n, rng);
    for (int64_t m = 4; m <= 8; ++m) {
      const bool relu = m % 2;
      const float* b = m % 3 ? bias.data() : nullptr;
      for (int threads : {1, 2}) {
        for (bool x8 : {false, true}) {
          auto linear = x8 ? quantized_linear_x8 : quantized_linear_x16;
          const auto run = [&](int64_t rows) {
            std::vector<float> y(static_cast<size_t>(rows * ld_y), kPad);
            linear(Isa::Avx512Vnni, w.weights(), x.data(), rows, ld_x, b, relu, y.data(), ld_y, threads);
            return y;
          };
          const std::vector<float> few = run(m), many = run(kMany);
          for (int64_t i = 0; i < m; ++i) {
            for (int64_t r = 0; r < t.n; ++r)
              ASSERT_EQ(few[i * ld_y + r], many[i * ld_y + r])
                  << t.n << "x" << t.k << " group " << t.group << " m " << m << " row " << i << " col " << r
                  << " threads " << threads << (x8 ? " x8" : "");
            for (int64_t r = t.n; r < ld_y; ++r) ASSERT_EQ(few[i * ld_y + r], kPad) << "padding written, m " << m;
          }
        }
      }
    }
  }
}

// quantized_linear_x8 (the opt-in 8-bit activations): where it applies (Int8, VNNI, k % 64
// == 0, m > 8, or 4 or 6 .. 8 rows with k <= 256, or 4 .. 8 rows with k > 256 on a matrix of
// 1 MiB or more) every output is within its documented bound of the exact product,
// 0.5 * (max|x_i| / 127) * sum_c |w[r][c]| (plus fp32 rounding), and uses the int8 rounding
// (some output lies beyond the int16 bound); everywhere else it is quantized_linear_x16 bit
// for bit.
TEST(LinearX8, WithinTheInt8BoundWhereItAppliesElseX16) {
  std::mt19937 rng(5);
  struct Case {
    int64_t n, k, group, m;
  };
  for (Isa isa : {Isa::Generic, Isa::Avx2, Isa::Avx512, Isa::Avx512Vnni}) {
    if (!isa_supported(isa)) continue;
    for (const Case& t : {Case{70, 512, 512, 9}, Case{100, 1024, 256, 19}, Case{33, 256, 256, 4},
                          Case{33, 256, 256, 3}, Case{40, 256, 256, 6}, Case{40, 256, 256, 20},
                          Case{19, 96, 96, 12}, Case{48, 192, 192, 64}, Case{1040, 1024, 256, 5},
                          Case{100, 1024, 1024, 5}}) {
      QuantMatrix w(WeightType::Int8, t.n, t.k, t.group, rng);
      std::vector<float> x(static_cast<size_t>(t.m * t.k)), bias(static_cast<size_t>(t.n));
      std::normal_distribution<float> dist(0.0f, 1.0f);
      for (auto& v : x) v = dist(rng);
      for (auto& v : bias) v = dist(rng);
      const bool panels_rows = t.k > 256 && t.m >= 4 && t.n * t.k >= (int64_t{1} << 20) &&
                               (t.group == t.k || t.group % 256 == 0);  // lane groups, k > 256
      const bool applies = isa == Isa::Avx512Vnni && t.k % 64 == 0 &&
                           (t.m > 8 || ((t.m == 4 || t.m >= 6) && t.k <= 256) || panels_rows);
      for (int threads : {1, 2}) {
        std::vector<float> a(static_cast<size_t>(t.m * t.n)), b(a.size());
        quantized_linear_x16(isa, w.weights(), x.data(), t.m, t.k, bias.data(), false, a.data(), t.n, threads);
        quantized_linear_x8(isa, w.weights(), x.data(), t.m, t.k, bias.data(), false, b.data(), t.n, threads);
        if (!applies) {
          EXPECT_EQ(a, b) << isa_name(isa) << " " << t.n << "x" << t.k << " m " << t.m;
          continue;
        }
        bool beyond_int16 = false;
        for (int64_t i = 0; i < t.m; ++i) {
          double amax = 0;
          for (int64_t c = 0; c < t.k; ++c) amax = std::max(amax, std::fabs(double(x[i * t.k + c])));
          for (int64_t r = 0; r < t.n; ++r) {
            double exact = bias[r], abs_sum = 0, abs_terms = std::fabs(bias[r]);
            for (int64_t c = 0; c < t.k; ++c) {
              const double wv = w.ref[static_cast<size_t>(r * t.k + c)];
              exact += double(x[i * t.k + c]) * wv;
              abs_sum += std::fabs(wv);
              abs_terms += std::fabs(double(x[i * t.k + c]) * wv);
            }
            const double err = std::fabs(double(b[i * t.n + r]) - exact);
            EXPECT_LE(err, 0.5 * amax / 127.0 * abs_sum + 1e-5 * abs_terms)
                << t.n << "x" << t.k << " m " << t.m << " row " << i << " col " << r;
            beyond_int16 |= err > 0.5 * amax / 32767.0 * abs_sum + 1e-5 * abs_terms;
          }
        }
        EXPECT_TRUE(beyond_int16) << "no output shows int8 rounding: " << t.n << "x" << t.k << " m " << t.m;
      }
    }
  }
}

TEST_P(LinearTest, EmptyBatchWritesNothing) {
  const auto [isa, type] = GetParam();
  TUSK_SKIP_UNLESS_SUPPORTED(isa);
  std::mt19937 rng(3);
  QuantMatrix w(type, 8, 64, 64, rng);
  float y = kPad;
  quantized_linear(isa, w.weights(), nullptr, 0, 64, nullptr, false, &y, 8, 1);
  EXPECT_EQ(y, kPad);
}

std::string param_name(const ::testing::TestParamInfo<std::tuple<Isa, WeightType>>& info) {
  return std::string(isa_name(std::get<0>(info.param))) + "_" + type_name(std::get<1>(info.param));
}

INSTANTIATE_TEST_SUITE_P(IsaLevels, LinearTest,
                         ::testing::Combine(::testing::Values(Isa::Generic, Isa::Avx2, Isa::Avx512,
                                                              Isa::Avx512Vnni),
                                            ::testing::Values(WeightType::Int4, WeightType::Int8,
                                                              WeightType::F16)),
                         param_name);

TEST(LinearArguments, RejectsBadCalls) {
  std::mt19937 rng(5);
  QuantMatrix w(WeightType::Int4, 8, 64, 64, rng);
  std::vector<float> x(64 * 2), y(8 * 2);
  const Isa isa = Isa::Generic;
  PackedWeights bad = w.weights();
  bad.group = 32;  // not a multiple of 64
  EXPECT_THROW(quantized_linear(isa, bad, x.data(), 1, 64, nullptr, false, y.data(), 8, 1),
               std::invalid_argument);
  EXPECT_THROW(quantized_linear(isa, w.weights(), x.data(), 1, 63, nullptr, false, y.data(), 8, 1),
               std::invalid_argument);
  EXPECT_THROW(quantized_linear(isa, w.weights(), x.data(), 1, 64, nullptr, false, y.data(), 7, 1),
               std::invalid_argument);
  EXPECT_THROW(quantized_linear(isa, w.weights(), x.data(), -1, 64, nullptr, false, y.data(), 8, 1),
               std::invalid_argument);
  PackedWeights no_scales = w.weights();
  no_scales.scales = nullptr;
  EXPECT_THROW(quantized_linear(isa, no_scales, x.data(), 1, 64, nullptr, false, y.data(), 8, 1),
               std::invalid_argument);
  for (Isa level : {Isa::Avx2, Isa::Avx512, Isa::Avx512Vnni}) {
    if (!isa_supported(level)) {
      EXPECT_THROW(quantized_linear(level, w.weights(), x.data(), 1, 64, nullptr, false, y.data(), 8, 1),
                   std::invalid_argument)
          << isa_name(level);
    }
  }
}

}  // namespace
}  // namespace tusk::kernels::test
