// add_scaled, layer_norm, softmax and log_softmax on every available backend against naive
// references.
#include <limits>
#include <string>
#include <tuple>

#include "common/error.h"
#include "test_util.h"

namespace tusk::backends::test {
namespace {

constexpr double kTol = 1e-4;

struct RowsShape {
  int64_t rows, cols, ld;
};

std::ostream& operator<<(std::ostream& os, const RowsShape& s) {
  return os << "rows" << s.rows << "_cols" << s.cols << "_ld" << s.ld;
}

using RowOpsParam = std::tuple<BackendParam, RowsShape>;

class RowOpsTest : public ::testing::TestWithParam<RowOpsParam> {
 protected:
  void SetUp() override {
    const BackendParam& p = std::get<0>(GetParam());
    backend_ = make_backend({p.device, p.threads});
    ASSERT_EQ(backend_->device(), p.device);
  }
  Backend& backend() { return *backend_; }
  Matrix random_matrix(unsigned seed, float lo = -1.0f, float hi = 1.0f) {
    const RowsShape s = std::get<1>(GetParam());
    std::mt19937 rng(seed);
    Matrix m(s.rows, s.cols, s.ld);
    m.fill_random(rng, lo, hi);
    return m;
  }
  // gamma and beta are model weights: the ops read them where prepare() put them.
  const float* prepare(const std::vector<float>& host) {
    return backend_->prepare(host.data(), static_cast<int64_t>(host.size()), keep_);
  }

 private:
  std::unique_ptr<Backend> backend_;
  std::vector<Tensor> keep_;
};

TEST_P(RowOpsTest, AddScaled) {
  const Matrix x = random_matrix(1), y = random_matrix(2);
  std::vector<double> want(y.rows * y.cols);
  for (int64_t r = 0; r < y.rows; ++r)
    for (int64_t c = 0; c < y.cols; ++c)
      want[r * y.cols + c] = double(y.at(r, c)) + double(x.at(r, c)) * 0.375;
  const DeviceMatrix dx(backend(), x);
  DeviceMatrix dy(backend(), y);
  backend().add_scaled(dx.view(), 0.375f, dy.mut());
  expect_close(dy.download(), want, kTol);
}

TEST_P(RowOpsTest, LayerNorm) {
  // An offset mean checks the two-pass variance (one-pass would lose digits).
  const Matrix x = random_matrix(3, 90.0f, 110.0f);
  std::mt19937 rng(4);
  const auto gamma = random_vector(rng, x.cols, 0.5f, 1.5f), beta = random_vector(rng, x.cols);
  const DeviceMatrix dx(backend(), x);
  DeviceMatrix y(backend(), Matrix(x.rows, x.cols, x.ld));
  backend().layer_norm(dx.view(), prepare(gamma), prepare(beta), 1e-5f, y.mut());
  expect_close(y.download(), ref_layer_norm(x, gamma, beta, 1e-5), 1e-3);
}

TEST_P(RowOpsTest, LayerNormInPlace) {
  const Matrix x = random_matrix(5);
  std::mt19937 rng(6);
  const auto gamma = random_vector(rng, x.cols), beta = random_vector(rng, x.cols);
  const auto want = ref_layer_norm(x, gamma, beta, 1e-5);
  DeviceMatrix dx(backend(), x);
  backend().layer_norm(dx.view(), prepare(gamma), prepare(beta), 1e-5f, dx.mut());
  expect_close(dx.download(), want, kTol);
}

TEST_P(RowOpsTest, Softmax) {
  const Matrix x = random_matrix(7, -20.0f, 20.0f);
  const auto want = ref_softmax(x);
  DeviceMatrix dx(backend(), x);
  backend().softmax(dx.mut());
  expect_close(dx.download(), want, kTol);
}

TEST_P(RowOpsTest, LogSoftmax) {
  const Matrix x = random_matrix(8, -20.0f, 20.0f);
  const auto want = ref_log_softmax(x);
  DeviceMatrix dx(backend(), x);
  backend().log_softmax(dx.mut());
  expect_close(dx.download(), want, kTol);
}

// Edge cases: one thread each (as before), on every available device.
class RowOpsDeviceTest : public DeviceTest {};

// The exponential is the backend's own (vectorized, within a few ulp): probabilities within
// 1e-5 relative of double precision (the fp32 sum of 8000 terms is most of that), and masked
// entries (-inf, or far below the row's maximum) get exactly 0.
TEST_P(RowOpsDeviceTest, SoftmaxTightAgainstDoubleAndZeroForMaskedEntries) {
  auto backend = make(1);
  const float inf = std::numeric_limits<float>::infinity();
  std::mt19937 rng(11);
  std::uniform_real_distribution<float> dist(-30.0f, 5.0f);
  for (int64_t cols : {1, 3, 4, 7, 8000, 8003}) {
    Matrix x(1, cols, cols);
    for (int64_t c = 0; c < cols; ++c) x.at(0, c) = dist(rng);
    if (cols > 3) {
      x.at(0, 1) = -inf;
      x.at(0, 2) = -1e30f;
      x.at(0, 3) = x.at(0, 0) - 100.0f;  // e^-100 is below the floats' normal range
    }
    const auto want = ref_softmax(x);
    DeviceMatrix dp(*backend, x), dlp(*backend, x);
    backend->softmax(dp.mut());
    backend->log_softmax(dlp.mut());
    const Matrix p = dp.download(), lp = dlp.download();
    for (int64_t c = 0; c < cols; ++c) {
      if (cols > 3 && (c == 1 || c == 2)) {
        EXPECT_EQ(p.at(0, c), 0.0f) << c;
        EXPECT_LT(lp.at(0, c), -1e29f) << c;
        continue;
      }
      if (want[c] < 1e-37) {
        EXPECT_LE(p.at(0, c), 1e-37f) << c;
        continue;
      }
      EXPECT_NEAR(p.at(0, c), want[c], 1e-5 * want[c] + 1e-12) << "cols " << cols << " c " << c;
      EXPECT_NEAR(lp.at(0, c), std::log(want[c]), 1e-5) << "cols " << cols << " c " << c;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(
    Devices, RowOpsTest,
    ::testing::Combine(::testing::ValuesIn(backend_params()),  // every device, 1 and 2 threads
                       ::testing::Values(RowsShape{1, 1, 1}, RowsShape{1, 8000, 8000},
                                         RowsShape{3, 13, 20}, RowsShape{7, 256, 256},
                                         RowsShape{100, 256, 300}, RowsShape{12, 8000, 8000})),
    [](const ::testing::TestParamInfo<RowOpsParam>& info) {
      const RowsShape& s = std::get<1>(info.param);
      return param_name(std::get<0>(info.param)) + "_rows" + std::to_string(s.rows) + "_cols" +
             std::to_string(s.cols) + "_ld" + std::to_string(s.ld);
    });

TEST_P(RowOpsDeviceTest, LargeLogitsStayFinite) {
  auto backend = make(1);
  Matrix x(1, 3);
  x.at(0, 0) = 1000.0f;
  x.at(0, 1) = 999.0f;
  x.at(0, 2) = -1000.0f;
  const auto want = ref_log_softmax(x);
  DeviceMatrix dx(*backend, x);
  backend->log_softmax(dx.mut());
  expect_close(dx.download(), want, kTol);
  Matrix s(1, 2);
  s.at(0, 0) = 1000.0f;
  s.at(0, 1) = -std::numeric_limits<float>::infinity();  // a masked entry
  DeviceMatrix ds(*backend, s);
  backend->softmax(ds.mut());
  expect_close(ds.download(), {1.0, 0.0}, kTol);
}

TEST_P(RowOpsDeviceTest, RejectsShapeMismatch) {
  auto backend = make(1);
  // One row more than the views claim: an unchecked op stays in allocated memory.
  const DeviceMatrix x(*backend, Matrix(2, 4), 1);
  DeviceMatrix y(*backend, Matrix(2, 5), 1);
  EXPECT_THROW(backend->add_scaled(x.view(), 1.0f, y.mut()), tusk::Error);
}

TUSK_INSTANTIATE_DEVICE_TESTS(RowOpsDeviceTest);

}  // namespace
}  // namespace tusk::backends::test
