// The device-neutral seam: the backend factory, and the packed-weight ops (linear over a
// PackedMatrix, dequantize_row) against scalar references built from the stored layouts
// (model_format/layout/weight_layout.h), not from any kernel code.
#include <cmath>
#include <cstring>
#include <random>

#include "common/error.h"
#include "test_util.h"

namespace tusk::backends::test {
namespace {

using weight_layout::Layout;

// A random [n, k] matrix in `layout` (group = k), with what it stands for in fp32.
struct Packed {
  std::vector<unsigned char> bytes;
  std::vector<float> scales, values;
  PackedMatrix view(Layout layout, int64_t n, int64_t k) const {
    return {layout, bytes.data(), layout == Layout::F16 ? nullptr : scales.data(), n, k, k};
  }
};

uint16_t exact_half(int v) {  // small integers / 8 are exact halves: sign, exponent, mantissa
  const float f = static_cast<float>(v) / 8.0f;
  if (f == 0.0f) return 0;
  uint32_t bits;
  std::memcpy(&bits, &f, 4);
  const uint32_t sign = (bits >> 16) & 0x8000u;
  const int exp = static_cast<int>((bits >> 23) & 0xff) - 127 + 15;
  return static_cast<uint16_t>(sign | (exp << 10) | ((bits >> 13) & 0x3ffu));
}

Packed make_packed(Layout layout, int64_t n, int64_t k, unsigned seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> q4(-8, 7), q8(-127, 127), h(-64, 64);
  Packed p;
  p.bytes.resize(weight_layout::packed_bytes(layout, n, k));
  p.values.resize(static_cast<size_t>(n * k));
  if (layout == Layout::F16) {
    std::vector<uint16_t> halves(p.values.size());
    for (size_t i = 0; i < halves.size(); ++i) {
      const int v = h(rng);
      halves[i] = exact_half(v);
      p.values[i] = static_cast<float>(v) / 8.0f;
    }
    weight_layout::pack_weights(layout, halves.data(), n, k, p.bytes.data());
    return p;
  }
  std::vector<int8_t> q(p.values.size());
  for (int64_t r = 0; r < n; ++r) {
    p.scales.push_back(0.01f * static_cast<float>(r + 1));
    for (int64_t c = 0; c < k; ++c) {
      q[r * k + c] = static_cast<int8_t>(layout == Layout::Int4 ? q4(rng) : q8(rng));
      p.values[r * k + c] = static_cast<float>(q[r * k + c]) * p.scales[r];
    }
  }
  weight_layout::pack_weights(layout, q.data(), n, k, p.bytes.data());
  return p;
}

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
    backend->dequantize_row(p.view(GetParam(), n, k), r, row.data());
    for (int64_t c = 0; c < k; ++c) ASSERT_EQ(row[c], p.values[r * k + c]) << "row " << r << " col " << c;
  }
  EXPECT_THROW(backend->dequantize_row(p.view(GetParam(), n, k), n, row.data()), Error);
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
  backend->linear(x.view(), p.view(GetParam(), n, k), bias.data(), Activation::Relu, y.mut());
  // Activations are rounded to int16 for int4/int8 (relative error ~1e-4 of the output).
  expect_close(y, ref_linear(x, p.values, n, bias.data(), Activation::Relu), 2e-3);
}

INSTANTIATE_TEST_SUITE_P(Layouts, PackedOps, ::testing::Values(Layout::Int8, Layout::Int4, Layout::F16),
                         [](const auto& info) { return std::string(weight_layout::layout_name(info.param)); });

}  // namespace
}  // namespace tusk::backends::test
