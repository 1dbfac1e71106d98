// gemv_f32 against a double-precision reference: every m it takes (1..4), widths around the
// 16-float chunks and the 4-row blocks, bias and ReLU, row strides with padding that must stay
// untouched, 1 and 2 threads; and the cases it declines (m > 4, levels below AVX-512).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include "kernels/cpu/gemv_f32.h"

namespace tusk::kernels {
namespace {

constexpr float kPad = 12345.0f;

struct Case {
  int64_t m, n, k;
  bool bias, relu;
  int threads;
};

void check(const Case& c) {
  SCOPED_TRACE(::testing::Message() << "m " << c.m << " n " << c.n << " k " << c.k << " bias "
                                    << c.bias << " relu " << c.relu << " threads " << c.threads);
  std::mt19937 rng(static_cast<unsigned>(c.m * 131 + c.n * 7 + c.k));
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  const int64_t ld_x = c.k + 3, ld_y = c.n + 5;
  std::vector<float> x(c.m * ld_x), w(c.n * c.k), b(c.n), y(c.m * ld_y, kPad);
  for (auto& v : x) v = dist(rng);
  for (auto& v : w) v = dist(rng);
  for (auto& v : b) v = dist(rng);
  ASSERT_TRUE(gemv_f32(Isa::Avx512, x.data(), c.m, ld_x, w.data(), c.n, c.k, c.bias ? b.data() : nullptr,
                       c.relu, y.data(), ld_y, c.threads));
  for (int64_t i = 0; i < c.m; ++i) {
    for (int64_t j = 0; j < c.n; ++j) {
      double want = c.bias ? b[j] : 0.0, scale = 1.0;
      for (int64_t p = 0; p < c.k; ++p) {
        want += double(x[i * ld_x + p]) * w[j * c.k + p];
        scale += std::abs(double(x[i * ld_x + p]) * w[j * c.k + p]);
      }
      if (c.relu) want = std::max(want, 0.0);
      // fp32 accumulation: error grows with the sum of |terms|.
      ASSERT_NEAR(y[i * ld_y + j], want, 1e-6 * scale) << "at " << i << ", " << j;
    }
    for (int64_t j = c.n; j < ld_y; ++j) ASSERT_EQ(y[i * ld_y + j], kPad) << "padding written";
  }
}

TEST(GemvF32, MatchesTheReference) {
  if (!isa_supported(Isa::Avx512)) GTEST_SKIP() << "this CPU has no AVX-512";
  for (int64_t m : {1, 2, 3, 4})
    for (int64_t n : {1, 3, 4, 7, 64, 130})
      for (int64_t k : {1, 15, 16, 17, 64, 100})
        check({m, n, k, (n + k) % 2 == 0, (n * k) % 3 == 0, 1});
}

TEST(GemvF32, LargeProductsSplitAcrossThreads) {
  if (!isa_supported(Isa::Avx512)) GTEST_SKIP() << "this CPU has no AVX-512";
  for (int threads : {1, 2})
    for (int64_t m : {1, 4}) check({m, 1000, 1024, true, false, threads});
}

TEST(GemvF32, DeclinesWhatItDoesNotCover) {
  std::vector<float> x(5 * 16, 1.0f), w(16 * 16, 1.0f), y(5 * 16, kPad);
  EXPECT_FALSE(gemv_f32(Isa::Avx512, x.data(), 5, 16, w.data(), 16, 16, nullptr, false, y.data(), 16, 1));
  EXPECT_FALSE(gemv_f32(Isa::Avx2, x.data(), 1, 16, w.data(), 16, 16, nullptr, false, y.data(), 16, 1));
  EXPECT_FALSE(gemv_f32(Isa::Generic, x.data(), 1, 16, w.data(), 16, 16, nullptr, false, y.data(), 16, 1));
  EXPECT_TRUE(std::all_of(y.begin(), y.end(), [](float v) { return v == kPad; }));
}

}  // namespace
}  // namespace tusk::kernels
