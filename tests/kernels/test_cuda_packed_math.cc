// The CUDA kernels' reading of the stored layouts (kernels/cuda/packed_math.h, host/device
// code) on the host, against the layout library's packing and the CPU kernels' dequantization:
// the GPU computes with the same functions, so a disagreement here is a GPU bug found on a CPU.
#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <vector>

#include "kernels/cuda/packed_math.h"
#include "tests/kernels/kernel_test_util.h"

namespace tusk::kernels::test {
namespace {

namespace cm = tusk::kernels::cuda;

uint32_t word_at(const uint8_t* row, int64_t w) {
  uint32_t word;
  std::memcpy(&word, row + 4 * w, 4);
  return word;
}

TEST(CudaPackedMath, Int4WordsHoldTheDocumentedColumns) {
  std::mt19937 rng(5);
  QuantMatrix m(WeightType::Int4, 3, 256, 128, rng);
  const int64_t words = m.k / cm::kInt4ColsPerWord;
  for (int64_t r = 0; r < m.n; ++r) {
    const uint8_t* row = m.packed_data() + r * m.k / 2;
    for (int64_t w = 0; w < words; ++w)
      for (int t = 0; t < 8; ++t) {
        const int64_t c = cm::int4_word_column(w, t);
        ASSERT_LT(c, m.k);
        EXPECT_EQ(cm::int4_word_value(word_at(row, w), t), m.q[r * m.k + c]) << "row " << r << " word " << w;
        EXPECT_EQ(cm::int4_column_word(c), w);
        EXPECT_EQ(cm::int4_column_nibble(c), t);
      }
  }
}

TEST(CudaPackedMath, Int8WordsHoldFourConsecutiveColumns) {
  std::mt19937 rng(6);
  QuantMatrix m(WeightType::Int8, 2, 64, 32, rng);
  for (int64_t r = 0; r < m.n; ++r)
    for (int64_t w = 0; w < m.k / cm::kInt8ColsPerWord; ++w)
      for (int l = 0; l < 4; ++l)
        EXPECT_EQ(cm::int8_word_value(word_at(m.packed_data() + r * m.k, w), l), m.q[r * m.k + 4 * w + l]);
}

TEST(CudaPackedMath, EveryHalfConvertsExactly) {
  for (uint32_t h = 0; h < 65536; ++h) {
    const float got = cm::half_bits_to_float(static_cast<uint16_t>(h));
    const double want = half_value(static_cast<uint16_t>(h));
    const int exp = (h >> 10) & 31;
    if (exp == 31) {  // inf and NaN keep their class and sign
      EXPECT_EQ(std::isnan(got), (h & 1023) != 0) << h;
      EXPECT_EQ(std::signbit(got), (h >> 15) != 0) << h;
      continue;
    }
    EXPECT_EQ(static_cast<double>(got), want) << "half bits " << h;
  }
}

// packed_value is what the GEMM tiles, embeddings and dequantize_row read on the GPU: the
// same fp32 as the CPU kernels' dequantize_row, for every layout and grouping.
TEST(CudaPackedMath, PackedValueMatchesTheCpuDequantization) {
  std::mt19937 rng(7);
  struct Case {
    WeightType type;
    int64_t k, group;
  };
  for (const Case& c : {Case{WeightType::Int4, 192, 64}, Case{WeightType::Int4, 256, 256},
                        Case{WeightType::Int8, 96, 32}, Case{WeightType::Int8, 128, 128},
                        Case{WeightType::F16, 50, 50}}) {
    QuantMatrix m(c.type, 4, c.k, c.group, rng);
    std::vector<float> row(static_cast<size_t>(m.k));
    for (int64_t r = 0; r < m.n; ++r) {
      dequantize_row(m.weights(), r, row.data());
      for (int64_t col = 0; col < m.k; ++col)
        ASSERT_EQ(cm::packed_value(static_cast<int>(c.type), m.packed_data(),
                                   c.type == WeightType::F16 ? nullptr : m.scales.data(), m.k, m.group, r, col),
                  row[col])
            << type_name(c.type) << " row " << r << " col " << col;
    }
  }
}

}  // namespace
}  // namespace tusk::kernels::test

namespace tusk::kernels::test {
namespace {

// The GEMM tiles read through TileReader: the same values as packed_value, tile by tile.
TEST(CudaPackedMath, TileReaderMatchesPackedValue) {
  std::mt19937 rng(8);
  struct Case {
    WeightType type;
    int64_t k, group;
  };
  for (const Case& c : {Case{WeightType::Int4, 256, 64}, Case{WeightType::Int4, 128, 128},
                        Case{WeightType::Int8, 96, 32}, Case{WeightType::F16, 70, 70}}) {
    QuantMatrix m(c.type, 3, c.k, c.group, rng);
    const float* scales = c.type == WeightType::F16 ? nullptr : m.scales.data();
    for (int64_t k0 = 0; k0 < m.k; k0 += 32) {
      const cm::TileReader tile = cm::tile_reader(static_cast<int>(c.type), m.packed_data(), scales, m.k, m.group, k0);
      for (int64_t n = 0; n < m.n; ++n)
        for (int64_t col = k0; col < std::min<int64_t>(k0 + 32, m.k); ++col)
          ASSERT_EQ(tile.value(n, col, tile.scale(n)),
                    cm::packed_value(static_cast<int>(c.type), m.packed_data(), scales, m.k, m.group, n, col))
              << type_name(c.type) << " row " << n << " col " << col;
    }
  }
  // fp32 weights (expert_ffn's fp32 experts) read in place.
  const std::vector<float> w{1.5f, -2.0f, 0.25f, 4.0f};
  const cm::TileReader f32 = cm::tile_reader(cm::kLayoutF32, w.data(), nullptr, 2, 2, 0);
  EXPECT_EQ(f32.value(1, 0, f32.scale(1)), 0.25f);
}

}  // namespace
}  // namespace tusk::kernels::test
