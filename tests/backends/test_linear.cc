// linear(): oneDNN matmul against a naive reference, over shapes, sub-views, bias, ReLU,
// thread counts, and the primitive cache.
#include <tuple>

#include "backends/cpu/onednn_matmul.h"
#include "common/error.h"
#include "test_util.h"

namespace tusk::backends::test {
namespace {

constexpr double kTol = 1e-4;

struct LinearShape {
  int64_t m, k, n, lda, ldc;  // lda/ldc < 0: dense
};

std::ostream& operator<<(std::ostream& os, const LinearShape& s) {
  return os << "m" << s.m << "_k" << s.k << "_n" << s.n << "_lda" << s.lda << "_ldc" << s.ldc;
}

// Runs one linear on fresh random data and checks it against the reference.
void check_linear(Backend& backend, const LinearShape& s, bool with_bias, Activation act,
                  unsigned seed) {
  std::mt19937 rng(seed);
  Matrix x(s.m, s.k, s.lda);
  x.fill_random(rng);
  const std::vector<float> w = random_vector(rng, s.n * s.k);
  const std::vector<float> bias = random_vector(rng, s.n);
  const float* b = with_bias ? bias.data() : nullptr;
  Matrix y(s.m, s.n, s.ldc);
  backend.linear(x.view(), w.data(), s.n, b, act, y.mut());
  expect_close(y, ref_linear(x, w, s.n, b, act), kTol);
}

class LinearTest
    : public ::testing::TestWithParam<std::tuple<LinearShape, bool, Activation, int>> {};

TEST_P(LinearTest, MatchesReference) {
  const auto& [shape, with_bias, act, threads] = GetParam();
  auto backend = make_cpu_backend(threads);
  check_linear(*backend, shape, with_bias, act, 42);
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, LinearTest,
    ::testing::Combine(::testing::Values(LinearShape{1, 256, 8000, -1, -1},  // logits step
                                         LinearShape{1, 7, 13, -1, -1},
                                         LinearShape{5, 7, 13, 11, 20},  // odd sub-views
                                         LinearShape{64, 256, 1024, -1, -1},
                                         LinearShape{3, 1024, 256, -1, -1},
                                         LinearShape{33, 256, 256, 768, 512},  // slices
                                         LinearShape{17, 1, 5, -1, -1}),
                       ::testing::Bool(), ::testing::Values(Activation::None, Activation::Relu),
                       ::testing::Values(1, 2)));

TEST(Linear, OneAndTwoThreadsAgree) {
  auto one = make_cpu_backend(1);
  auto two = make_cpu_backend(2);
  EXPECT_EQ(one->threads(), 1);
  EXPECT_EQ(two->threads(), 2);
  std::mt19937 rng(7);
  const int64_t m = 48, k = 256, n = 1024;
  Matrix x(m, k);
  x.fill_random(rng);
  const std::vector<float> w = random_vector(rng, n * k), bias = random_vector(rng, n);
  Matrix y1(m, n), y2(m, n);
  one->linear(x.view(), w.data(), n, bias.data(), Activation::Relu, y1.mut());
  two->linear(x.view(), w.data(), n, bias.data(), Activation::Relu, y2.mut());
  std::vector<double> want(y1.data.begin(), y1.data.end());
  expect_close(y2, want, kTol);
}

TEST(Linear, DefaultThreadCountUsesAllCores) {
  EXPECT_GE(make_cpu_backend(0)->threads(), 1);
  EXPECT_GE(make_cpu_backend(-3)->threads(), 1);
}

TEST(Linear, ZeroInnerDimensionGivesActivatedBias) {
  auto backend = make_cpu_backend(1);
  Matrix x(2, 0);
  const std::vector<float> bias{-1.0f, 2.0f, 0.5f};
  Matrix y(2, 3);
  backend->linear(x.view(), nullptr, 3, bias.data(), Activation::Relu, y.mut());
  expect_close(y, {0, 2, 0.5, 0, 2, 0.5}, 0);
}

TEST(Linear, RejectsMismatchedShapes) {
  auto backend = make_cpu_backend(1);
  Matrix x(2, 4), y(2, 5);
  const std::vector<float> w(6 * 4);
  try {
    backend->linear(x.view(), w.data(), 6, nullptr, Activation::None, y.mut());
    FAIL() << "expected tusk::Error";
  } catch (const tusk::Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::InvalidArgument);
  }
  Matrix bad_ld(2, 4, 3);  // ld < cols
  EXPECT_THROW(backend->linear(bad_ld.view(), w.data(), 5, nullptr, Activation::None, y.mut()),
               tusk::Error);
}

// Same shape twice with different buffers: one cached primitive, both results right.
TEST(OneDnnMatmulCache, ReusesPrimitiveWithNewPointers) {
  cpu::OneDnnMatmul matmul(1);
  std::mt19937 rng(3);
  const int64_t m = 4, k = 32, n = 24;
  for (int call = 0; call < 2; ++call) {
    Matrix x(m, k);
    x.fill_random(rng);
    const std::vector<float> w = random_vector(rng, n * k), bias = random_vector(rng, n);
    Matrix y(m, n);
    matmul.run(x.view(), w.data(), n, bias.data(), Activation::None, y.mut());
    expect_close(y, ref_linear(x, w, n, bias.data(), Activation::None), kTol);
    EXPECT_EQ(matmul.cached_primitives(), 1u);
  }
}

TEST(OneDnnMatmulCache, StaysBoundedAndRebuildsEvictedShapes) {
  cpu::OneDnnMatmul matmul(1, /*max_cached=*/2);
  std::mt19937 rng(5);
  const int64_t k = 16, n = 8;
  const std::vector<float> w = random_vector(rng, n * k);
  for (int64_t m : {1, 2, 3, 1, 3, 2}) {
    Matrix x(m, k);
    x.fill_random(rng);
    Matrix y(m, n);
    matmul.run(x.view(), w.data(), n, nullptr, Activation::Relu, y.mut());
    expect_close(y, ref_linear(x, w, n, nullptr, Activation::Relu), kTol);
    EXPECT_LE(matmul.cached_primitives(), 2u);
  }
}

}  // namespace
}  // namespace tusk::backends::test
