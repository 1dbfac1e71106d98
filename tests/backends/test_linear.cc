// linear(): every available backend against a naive reference, over shapes, sub-views, bias,
// ReLU and thread counts; and the CPU backend's oneDNN primitive cache.
#include <string>
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

// Runs one linear on fresh random data, on the backend's device (weights and bias through
// prepare, as a model's are), and checks it against the reference.
void check_linear(Backend& backend, const LinearShape& s, bool with_bias, Activation act,
                  unsigned seed) {
  std::mt19937 rng(seed);
  Matrix x(s.m, s.k, s.lda);
  x.fill_random(rng);
  const std::vector<float> w = random_vector(rng, s.n * s.k);
  const std::vector<float> bias = random_vector(rng, s.n);
  const float* b = with_bias ? bias.data() : nullptr;
  std::vector<Tensor> keep;
  const float* dw = backend.prepare(w.data(), s.n * s.k, keep);
  const float* db = with_bias ? backend.prepare(bias.data(), s.n, keep) : nullptr;
  const DeviceMatrix dx(backend, x);
  DeviceMatrix y(backend, Matrix(s.m, s.n, s.ldc));
  backend.linear(dx.view(), dw, s.n, db, act, y.mut());
  expect_close(y.download(), ref_linear(x, w, s.n, b, act), kTol);
}

using LinearParam = std::tuple<BackendParam, LinearShape, bool, Activation>;

class LinearTest : public ::testing::TestWithParam<LinearParam> {};

TEST_P(LinearTest, MatchesReference) {
  const auto& [backend_param, shape, with_bias, act] = GetParam();
  auto backend = make_backend({backend_param.device, backend_param.threads});
  ASSERT_EQ(backend->device(), backend_param.device);
  check_linear(*backend, shape, with_bias, act, 42);
}

std::string linear_test_name(const ::testing::TestParamInfo<LinearParam>& info) {
  const auto& [backend_param, s, with_bias, act] = info.param;
  auto dim = [](int64_t v) { return v < 0 ? std::string("dense") : std::to_string(v); };
  return param_name(backend_param) + "_m" + std::to_string(s.m) + "_k" + std::to_string(s.k) +
         "_n" + std::to_string(s.n) + "_lda" + dim(s.lda) + "_ldc" + dim(s.ldc) +
         (with_bias ? "_bias" : "_nobias") + (act == Activation::Relu ? "_relu" : "_none");
}

INSTANTIATE_TEST_SUITE_P(
    Devices, LinearTest,
    ::testing::Combine(::testing::ValuesIn(backend_params()),  // every device, 1 and 2 threads
                       ::testing::Values(LinearShape{1, 256, 8000, -1, -1},  // logits step
                                         LinearShape{1, 7, 13, -1, -1},
                                         LinearShape{5, 7, 13, 11, 20},  // odd sub-views
                                         LinearShape{64, 256, 1024, -1, -1},
                                         LinearShape{3, 1024, 256, -1, -1},
                                         LinearShape{33, 256, 256, 768, 512},  // slices
                                         LinearShape{17, 1, 5, -1, -1}),
                       ::testing::Bool(), ::testing::Values(Activation::None, Activation::Relu)),
    linear_test_name);

// Edge cases and thread counts: each test makes the backends it needs.
class LinearDeviceTest : public DeviceTest {};

TEST_P(LinearDeviceTest, OneAndTwoThreadsAgree) {
  auto one = make(1);
  auto two = make(2);
  EXPECT_EQ(one->threads(), 1);
  EXPECT_EQ(two->threads(), 2);
  std::mt19937 rng(7);
  const int64_t m = 48, k = 256, n = 1024;
  Matrix x(m, k);
  x.fill_random(rng);
  const std::vector<float> w = random_vector(rng, n * k), bias = random_vector(rng, n);
  std::vector<Tensor> keep1, keep2;
  const DeviceMatrix x1(*one, x), x2(*two, x);
  DeviceMatrix y1(*one, Matrix(m, n)), y2(*two, Matrix(m, n));
  one->linear(x1.view(), one->prepare(w.data(), n * k, keep1), n,
              one->prepare(bias.data(), n, keep1), Activation::Relu, y1.mut());
  two->linear(x2.view(), two->prepare(w.data(), n * k, keep2), n,
              two->prepare(bias.data(), n, keep2), Activation::Relu, y2.mut());
  const Matrix got1 = y1.download();
  std::vector<double> want(got1.data.begin(), got1.data.end());
  expect_close(y2.download(), want, kTol);
}

TEST_P(LinearDeviceTest, DefaultThreadCountUsesAllCores) {
  EXPECT_GE(make(0)->threads(), 1);
  EXPECT_GE(make(-3)->threads(), 1);
}

TEST_P(LinearDeviceTest, ZeroInnerDimensionGivesActivatedBias) {
  auto backend = make(1);
  const DeviceMatrix x(*backend, Matrix(2, 0));
  const std::vector<float> bias{-1.0f, 2.0f, 0.5f};
  std::vector<Tensor> keep;
  const float* db = backend->prepare(bias.data(), 3, keep);
  DeviceMatrix y(*backend, Matrix(2, 3));
  // No weights at all: an empty sum needs none.
  backend->linear(x.view(), nullptr, 3, db, Activation::Relu, y.mut());
  expect_close(y.download(), {0, 2, 0.5, 0, 2, 0.5}, 0);
}

TEST_P(LinearDeviceTest, RejectsMismatchedShapes) {
  auto backend = make(1);
  // One row more than the views claim: an unchecked op stays in allocated memory.
  const DeviceMatrix x(*backend, Matrix(2, 4), 1);
  DeviceMatrix y(*backend, Matrix(2, 5), 1);
  const std::vector<float> w(6 * 4);
  std::vector<Tensor> keep;
  const float* dw = backend->prepare(w.data(), 6 * 4, keep);
  try {
    backend->linear(x.view(), dw, 6, nullptr, Activation::None, y.mut());
    FAIL() << "expected tusk::Error";
  } catch (const tusk::Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::InvalidArgument);
  }
  const DeviceMatrix bad_ld(*backend, Matrix(2, 4, 3), 1);  // ld < cols
  EXPECT_THROW(backend->linear(bad_ld.view(), dw, 5, nullptr, Activation::None, y.mut()),
               tusk::Error);
}

TUSK_INSTANTIATE_DEVICE_TESTS(LinearDeviceTest);

// CPU only: these test the CPU backend's oneDNN primitive cache (OneDnnMatmul) directly, on
// host memory; no other backend has one.
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
