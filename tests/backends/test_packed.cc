// The device-neutral seam: the backend factory, and the packed-weight ops (linear over a
// PackedMatrix, dequantize_row) on every available backend against scalar references built
// from the stored layouts (model_format/layout/weight_layout.h), not from any kernel code.
#include <algorithm>
#include <cctype>
#include <string>
#include <tuple>

#include "common/error.h"
#include "test_util.h"

namespace tusk::backends::test {
namespace {

using weight_layout::Layout;

// make_backend gives each available device its backend, with the threads asked for.
class BackendFactory : public BackendTest {};

TEST_P(BackendFactory, MakesTheBackendOfEachAvailableDevice) {
  // BackendTest::SetUp made it with make_backend and checked it is non-null and of the device.
  EXPECT_EQ(backend().threads(), GetParam().threads);
}

TUSK_INSTANTIATE_BACKEND_TESTS(BackendFactory);

// Not per device: the factory's answer for the devices available_devices() leaves out (CUDA,
// today), and that the CPU is always there.
TEST(BackendFactoryDevices, CpuIsAvailableAndOtherDevicesAreRefused) {
  const std::vector<Device> available = available_devices();
  EXPECT_NE(std::find(available.begin(), available.end(), Device::Cpu), available.end());
  for (Device device : {Device::Cpu, Device::Cuda}) {
    if (std::find(available.begin(), available.end(), device) != available.end()) continue;
    std::string name = device_name(device);  // the message names the device: "CUDA"
    std::transform(name.begin(), name.end(), name.begin(),
                   [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
    try {
      make_backend({device, 1});
      ADD_FAILURE() << "a " << name << " backend was made";
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::Unsupported);
      EXPECT_NE(std::string(e.what()).find(name), std::string::npos) << e.what();
    }
  }
}

// Every available device, with one thread (the count these tests have always used).
using PackedParam = std::tuple<Device, Layout>;

class PackedOps : public ::testing::TestWithParam<PackedParam> {
 protected:
  void SetUp() override {
    backend_ = make_backend({std::get<0>(GetParam()), 1});
    ASSERT_EQ(backend_->device(), std::get<0>(GetParam()));
  }
  Layout layout() const { return std::get<1>(GetParam()); }
  std::unique_ptr<Backend> backend_;
  std::vector<Tensor> keep_;  // what prepare() made for the device
};

TEST_P(PackedOps, DequantizeRowIsTheStoredValues) {
  const int64_t n = 5, k = 128;
  // A row more than the matrix claims, so an unchecked read of row n stays in allocated
  // memory; rows are independent in every layout, and the first n match an [n, k] matrix's.
  const Packed p = make_packed(layout(), n + 1, k, 3);
  PackedMatrix w = backend_->prepare(p.view(), keep_);
  w.n = n;
  // The row lands in device memory (like every fp32 operand an op writes) and comes back.
  Tensor out = backend_->allocate(DType::F32, {k});
  std::vector<float> row(static_cast<size_t>(k));
  for (int64_t r = 0; r < n; ++r) {
    backend_->dequantize_row(w, r, static_cast<float*>(out.data()));
    backend_->download(out, row.data());
    for (int64_t c = 0; c < k; ++c) ASSERT_EQ(row[c], p.values[r * k + c]) << "row " << r << " col " << c;
  }
  EXPECT_THROW(backend_->dequantize_row(w, n, static_cast<float*>(out.data())), Error);
}

TEST_P(PackedOps, LinearMatchesTheFp32Reference) {
  const int64_t n = 7, k = 256, m = 3;
  const Packed p = make_packed(layout(), n, k, 5);
  std::mt19937 rng(9);
  Matrix x(m, k, -1);
  x.fill_random(rng);
  const std::vector<float> bias = random_vector(rng, n);
  const PackedMatrix w = backend_->prepare(p.view(), keep_);
  const float* db = backend_->prepare(bias.data(), n, keep_);
  const DeviceMatrix dx(*backend_, x);
  DeviceMatrix y(*backend_, Matrix(m, n, -1));
  backend_->linear(dx.view(), w, db, Activation::Relu, y.mut());
  // Activations are rounded to int16 for int4/int8 (relative error ~1e-4 of the output).
  expect_close(y.download(), ref_linear(x, p.values, n, bias.data(), Activation::Relu), 2e-3);
}

INSTANTIATE_TEST_SUITE_P(
    Devices, PackedOps,
    ::testing::Combine(::testing::ValuesIn(available_devices()),
                       ::testing::Values(Layout::Int8, Layout::Int4, Layout::F16)),
    [](const ::testing::TestParamInfo<PackedParam>& info) {
      return device_param_name(std::get<0>(info.param)) + "_" +
             weight_layout::layout_name(std::get<1>(info.param));
    });

}  // namespace
}  // namespace tusk::backends::test
