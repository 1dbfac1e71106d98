// The device-neutral seam: the backend factory, and the packed-weight ops (linear over a
// PackedMatrix, dequantize_row) against scalar references built from the stored layouts
// (model_format/layout/weight_layout.h), not from any kernel code.
#include "common/error.h"
#include "test_util.h"

namespace tusk::backends::test {
namespace {

using weight_layout::Layout;

TEST(BackendFactory, PicksTheCpuBackendAndRefusesWhatThisBuildLacks) {
  auto cpu = make_backend({Device::Cpu, 1});
  ASSERT_NE(cpu, nullptr);
  EXPECT_EQ(cpu->threads(), 1);
  try {
    make_backend({Device::Cuda, 1});
    ADD_FAILURE() << "a CUDA backend was made";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::Unsupported);
    EXPECT_NE(std::string(e.what()).find("CUDA"), std::string::npos) << e.what();
  }
}

class PackedOps : public ::testing::TestWithParam<Layout> {};

TEST_P(PackedOps, DequantizeRowIsTheStoredValues) {
  const int64_t n = 5, k = 128;
  const Packed p = make_packed(GetParam(), n, k, 3);
  auto backend = make_backend({Device::Cpu, 1});
  std::vector<float> row(static_cast<size_t>(k));
  for (int64_t r = 0; r < n; ++r) {
    backend->dequantize_row(p.view(), r, row.data());
    for (int64_t c = 0; c < k; ++c) ASSERT_EQ(row[c], p.values[r * k + c]) << "row " << r << " col " << c;
  }
  EXPECT_THROW(backend->dequantize_row(p.view(), n, row.data()), Error);
}

TEST_P(PackedOps, LinearMatchesTheFp32Reference) {
  const int64_t n = 7, k = 256, m = 3;
  const Packed p = make_packed(GetParam(), n, k, 5);
  std::mt19937 rng(9);
  Matrix x(m, k, -1);
  x.fill_random(rng);
  const std::vector<float> bias = random_vector(rng, n);
  auto backend = make_backend({Device::Cpu, 1});
  Matrix y(m, n, -1);
  backend->linear(x.view(), p.view(), bias.data(), Activation::Relu, y.mut());
  // Activations are rounded to int16 for int4/int8 (relative error ~1e-4 of the output).
  expect_close(y, ref_linear(x, p.values, n, bias.data(), Activation::Relu), 2e-3);
}

INSTANTIATE_TEST_SUITE_P(Layouts, PackedOps, ::testing::Values(Layout::Int8, Layout::Int4, Layout::F16),
                         [](const auto& info) { return std::string(weight_layout::layout_name(info.param)); });

}  // namespace
}  // namespace tusk::backends::test
