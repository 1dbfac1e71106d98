// Packing: round trips, the documented Int4 byte layout (the .tusk files store it), sizes,
// shape rules and single-row dequantization.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "kernels/cpu/quantized_linear.h"
#include "tests/kernels/kernel_test_util.h"

namespace tusk::kernels::test {
namespace {

TEST(Packing, RoundTripsEveryType) {
  std::mt19937 rng(11);
  for (WeightType type : {WeightType::Int4, WeightType::Int8, WeightType::F16}) {
    const int64_t n = 7, k = 192;
    QuantMatrix w(type, n, k, 64, rng);
    if (type == WeightType::F16) {
      std::vector<uint16_t> back(static_cast<size_t>(n * k));
      unpack_weights(type, w.packed_data(), n, k, back.data());
      EXPECT_EQ(back, w.halves);
    } else {
      std::vector<int8_t> back(static_cast<size_t>(n * k));
      unpack_weights(type, w.packed_data(), n, k, back.data());
      EXPECT_EQ(back, w.q) << type_name(type);
    }
  }
}

TEST(Packing, Int4RoundTripsTheWholeRange) {
  const int64_t n = 2, k = 64;
  std::vector<int8_t> q(n * k);
  for (size_t i = 0; i < q.size(); ++i) q[i] = static_cast<int8_t>(static_cast<int>(i % 16) - 8);
  std::vector<uint8_t> packed(packed_bytes(WeightType::Int4, n, k));
  pack_weights(WeightType::Int4, q.data(), n, k, packed.data());
  std::vector<int8_t> back(q.size());
  unpack_weights(WeightType::Int4, packed.data(), n, k, back.data());
  EXPECT_EQ(back, q);
}

// Column c of a row lives in block c / 64, word j = c % 8, nibble t = (c % 64) / 8, stored
// as q + 8: byte 32 * (c / 64) + 4 * j + t / 2, bits 4 * (t % 2).
TEST(Packing, Int4LayoutIsTheDocumentedOne) {
  const int64_t k = 128;
  for (int64_t c = 0; c < k; ++c) {
    std::vector<int8_t> q(k, -8);  // stored nibble 0
    q[c] = 7;                      // stored nibble 15
    std::vector<uint8_t> packed(packed_bytes(WeightType::Int4, 1, k));
    pack_weights(WeightType::Int4, q.data(), 1, k, packed.data());
    const int64_t t = (c % 64) / 8;
    const size_t byte = static_cast<size_t>(32 * (c / 64) + 4 * (c % 8) + t / 2);
    for (size_t b = 0; b < packed.size(); ++b) {
      const int expected = b == byte ? (t % 2 ? 0xF0 : 0x0F) : 0;
      ASSERT_EQ(packed[b], expected) << "column " << c << " byte " << b;
    }
  }
}

TEST(Packing, PlainTypesAreStoredAsTheyAre) {
  std::mt19937 rng(2);
  QuantMatrix i8(WeightType::Int8, 3, 64, 64, rng);
  EXPECT_EQ(std::memcmp(i8.packed_data(), i8.q.data(), i8.q.size()), 0);
  QuantMatrix f16(WeightType::F16, 3, 10, 10, rng);
  EXPECT_EQ(std::memcmp(f16.packed_data(), f16.halves.data(), f16.halves.size() * 2), 0);
}

TEST(Packing, PackedBytes) {
  EXPECT_EQ(packed_bytes(WeightType::Int8, 3, 64), 192u);
  EXPECT_EQ(packed_bytes(WeightType::Int4, 3, 64), 96u);
  EXPECT_EQ(packed_bytes(WeightType::F16, 3, 10), 60u);
  EXPECT_EQ(packed_bytes(WeightType::Int4, 8192, 2048), 8192u * 1024u);
}

TEST(CheckShape, AcceptsValidLayouts) {
  EXPECT_EQ(check_shape(WeightType::Int4, 1024, 256, 256), nullptr);
  EXPECT_EQ(check_shape(WeightType::Int4, 1024, 256, 64), nullptr);
  EXPECT_EQ(check_shape(WeightType::Int4, 3, 192, 192), nullptr);
  EXPECT_EQ(check_shape(WeightType::Int8, 5, 96, 32), nullptr);
  EXPECT_EQ(check_shape(WeightType::Int8, 5, 96, 96), nullptr);
  EXPECT_EQ(check_shape(WeightType::F16, 5, 7, 7), nullptr);
  EXPECT_EQ(check_shape(WeightType::F16, 5, 7, 0), nullptr);  // group ignored
}

TEST(CheckShape, RejectsInvalidLayouts) {
  struct Case {
    WeightType type;
    int64_t n, k, group;
  };
  const Case cases[] = {
      {WeightType::Int4, 0, 64, 64},    // no rows
      {WeightType::Int4, 4, 0, 64},     // no columns
      {WeightType::Int4, 4, 96, 96},    // k not a multiple of 64
      {WeightType::Int4, 4, 128, 32},   // group not a multiple of 64
      {WeightType::Int4, 4, 192, 128},  // group does not divide k
      {WeightType::Int4, 4, 128, 0},    // no group
      {WeightType::Int8, 4, 48, 48},    // k not a multiple of 32
      {WeightType::Int8, 4, 64, 16},    // group not a multiple of 32
      {WeightType::Int8, 4, 96, 64},    // group does not divide k
      {WeightType::Int8, 4, 64, -32},   // negative group
      {WeightType::F16, -1, 8, 8},      // negative rows
      {static_cast<WeightType>(9), 4, 64, 64},
  };
  for (const Case& c : cases) {
    const char* problem = check_shape(c.type, c.n, c.k, c.group);
    ASSERT_NE(problem, nullptr) << "type " << int(c.type) << " n " << c.n << " k " << c.k << " group " << c.group;
    EXPECT_GT(std::strlen(problem), 10u);
  }
}

TEST(DequantizeRow, MatchesTheReference) {
  std::mt19937 rng(4);
  for (WeightType type : {WeightType::Int4, WeightType::Int8, WeightType::F16}) {
    for (int64_t group : {int64_t{64}, int64_t{256}}) {
      QuantMatrix w(type, 5, 256, group, rng);
      std::vector<float> row(256);
      for (int64_t r = 0; r < w.n; ++r) {
        dequantize_row(w.weights(), r, row.data());
        for (int64_t c = 0; c < w.k; ++c)
          ASSERT_EQ(row[c], static_cast<float>(w.ref[r * w.k + c]))
              << type_name(type) << " group " << group << " [" << r << "][" << c << "]";
      }
    }
  }
}

TEST(DequantizeRow, F16SpecialValues) {
  const uint16_t h[] = {0x0000, 0x8000, 0x0001, 0x03FF, 0x0400, 0x3C00, 0xC000, 0x7BFF, 0x7C00, 0xFC00, 0x7E00};
  const int64_t k = sizeof h / sizeof h[0];
  std::vector<uint8_t> packed(packed_bytes(WeightType::F16, 1, k));
  pack_weights(WeightType::F16, h, 1, k, packed.data());
  std::vector<float> row(k);
  dequantize_row({WeightType::F16, packed.data(), nullptr, 1, k, k}, 0, row.data());
  const float expected[] = {0.0f, -0.0f, 0x1p-24f, 1023 * 0x1p-24f, 0x1p-14f, 1.0f, -2.0f, 65504.0f,
                            INFINITY, -INFINITY};
  for (int64_t c = 0; c < k - 1; ++c) EXPECT_EQ(row[c], expected[c]) << c;
  EXPECT_TRUE(std::signbit(row[1]));
  EXPECT_TRUE(std::isnan(row[k - 1]));
}

}  // namespace
}  // namespace tusk::kernels::test
