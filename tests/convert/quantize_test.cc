// The converter's quantizers (model_format/quantize.h) and fp16 conversion (float16.h).
#include "model_format/quantize.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>

#include "model_format/float16.h"
#include "model_format/safetensors.h"  // f16_to_f32
#include "test_helpers.h"

namespace tusk::format {
namespace {

using test::expect_error;

float bits_to_float(uint32_t bits) {
  float f;
  std::memcpy(&f, &bits, sizeof f);
  return f;
}

// ---- fp16 ----------------------------------------------------------------------------------

TEST(Float16, ExactValuesAndSpecials) {
  EXPECT_EQ(f32_to_f16(0.0f), 0x0000);
  EXPECT_EQ(f32_to_f16(-0.0f), 0x8000);
  EXPECT_EQ(f32_to_f16(1.0f), 0x3c00);
  EXPECT_EQ(f32_to_f16(-2.0f), 0xc000);
  EXPECT_EQ(f32_to_f16(0.5f), 0x3800);
  EXPECT_EQ(f32_to_f16(65504.0f), 0x7bff);  // largest half
  EXPECT_EQ(f32_to_f16(std::ldexp(1.0f, -14)), 0x0400);  // smallest normal
  EXPECT_EQ(f32_to_f16(INFINITY), 0x7c00);
  EXPECT_EQ(f32_to_f16(-INFINITY), 0xfc00);
  const uint16_t nan = f32_to_f16(std::numeric_limits<float>::quiet_NaN());
  EXPECT_EQ(nan & 0x7c00, 0x7c00);
  EXPECT_NE(nan & 0x03ff, 0);
  // A signalling NaN whose payload sits only in the low bits must not become inf.
  EXPECT_TRUE(std::isnan(f16_to_f32(f32_to_f16(bits_to_float(0x7f800001u)))));
  EXPECT_EQ(f32_to_f16(bits_to_float(0xff800001u)) & 0x8000, 0x8000);
}

TEST(Float16, OverflowBecomesInfinity) {
  EXPECT_EQ(f32_to_f16(65519.99f), 0x7bff);  // below the halfway point: rounds down
  EXPECT_EQ(f32_to_f16(65520.0f), 0x7c00);   // the tie goes to the even neighbour: inf
  EXPECT_EQ(f32_to_f16(1e10f), 0x7c00);
  EXPECT_EQ(f32_to_f16(-1e30f), 0xfc00);
  EXPECT_EQ(f32_to_f16(std::numeric_limits<float>::max()), 0x7c00);
}

TEST(Float16, SubnormalsAndUnderflow) {
  const float tiny = std::ldexp(1.0f, -24);  // smallest half subnormal
  EXPECT_EQ(f32_to_f16(tiny), 0x0001);
  EXPECT_EQ(f32_to_f16(-tiny), 0x8001);
  EXPECT_EQ(f32_to_f16(tiny / 2), 0x0000);           // tie between 0 and 1: even (0)
  EXPECT_EQ(f32_to_f16(-tiny / 2), 0x8000);          // signed zero
  EXPECT_EQ(f32_to_f16(tiny / 2 * 1.0001f), 0x0001);  // just above the tie
  EXPECT_EQ(f32_to_f16(tiny * 1.5f), 0x0002);         // tie between 1 and 2: even (2)
  EXPECT_EQ(f32_to_f16(tiny * 2.5f), 0x0002);         // tie between 2 and 3: even (2)
  EXPECT_EQ(f32_to_f16(tiny * 1023), 0x03ff);         // largest subnormal
  EXPECT_EQ(f32_to_f16(tiny * 1023.5f), 0x0400);      // rounds up into the normals
  EXPECT_EQ(f32_to_f16(std::numeric_limits<float>::denorm_min()), 0x0000);
  EXPECT_EQ(f32_to_f16(std::numeric_limits<float>::min()), 0x0000);
}

TEST(Float16, TiesToEvenInTheNormalRange) {
  EXPECT_EQ(f32_to_f16(1.0f + std::ldexp(1.0f, -11)), 0x3c00);      // 1 + half an ulp: stays 1
  EXPECT_EQ(f32_to_f16(1.0f + 3 * std::ldexp(1.0f, -11)), 0x3c02);  // 1.5 ulp: up to even 2
  EXPECT_EQ(f32_to_f16(1.0f + std::ldexp(1.0f, -11) * 1.01f), 0x3c01);
  EXPECT_EQ(f32_to_f16(2047.0f + 0.5f), 0x6800);  // mantissa carry into the exponent (2048)
}

TEST(Float16, EveryHalfRoundTrips) {
  for (uint32_t h = 0; h < 0x10000; ++h) {
    const float f = f16_to_f32(static_cast<uint16_t>(h));
    if (std::isnan(f)) {
      EXPECT_TRUE(std::isnan(f16_to_f32(f32_to_f16(f)))) << std::hex << h;
    } else {
      ASSERT_EQ(f32_to_f16(f), h) << std::hex << h;
    }
  }
}

#if defined(__FLT16_MAX__) && (defined(__x86_64__) || defined(__aarch64__))
// The compiler's own float -> _Float16 conversion (round to nearest even) as the oracle, on
// bit patterns spread over every exponent.
TEST(Float16, MatchesTheCompilersConversion) {
  std::mt19937 rng(42);
  for (int i = 0; i < 2000000; ++i) {
    const uint32_t bits = static_cast<uint32_t>(rng());
    const float f = bits_to_float(bits);
    if (std::isnan(f)) continue;
    const _Float16 h = static_cast<_Float16>(f);
    uint16_t expected;
    std::memcpy(&expected, &h, sizeof expected);
    ASSERT_EQ(f32_to_f16(f), expected) << std::hex << bits;
  }
}
#endif

// ---- int8 / int4 -------------------------------------------------------------------------

std::vector<float> random_weights(size_t n, uint32_t seed, float scale = 1.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, scale);
  std::vector<float> w(n);
  for (float& x : w) x = normal(rng);
  return w;
}

// The row-reader form reads each block of rows once, in order, packs each row as quantizing
// that row alone does, and reports the error of the whole matrix.
TEST(Quantize, RowReaderStreamsBlocksInOrder) {
  const int64_t n = 70000, k = 64;  // more than one 16 MB block of rows
  std::vector<float> w = random_weights(static_cast<size_t>(n * k), 7);
  std::vector<std::pair<int64_t, int64_t>> calls;
  const RowReader rows = [&](int64_t first, int64_t count, float* out) {
    calls.emplace_back(first, count);
    std::copy(w.begin() + first * k, w.begin() + (first + count) * k, out);
  };
  for (WeightFormat f : {WeightFormat::Int8, WeightFormat::Int4, WeightFormat::F16}) {
    calls.clear();
    const QuantizedWeights streamed = quantize_weights(f, rows, n, k, 0, "w");
    ASSERT_GE(calls.size(), 2u);
    int64_t next = 0;
    for (const auto& [first, count] : calls) {
      EXPECT_EQ(first, next);
      next = first + count;
    }
    EXPECT_EQ(next, n);
    // Reference: quantize each row on its own (the layouts are per row) and compare bytes.
    const size_t row_bytes = streamed.bytes() / static_cast<size_t>(n);
    for (int64_t r : {int64_t{0}, int64_t{65535}, int64_t{65536}, n - 1}) {
      const QuantizedWeights one = quantize_weights(f, w.data() + r * k, 1, k, 0, "row");
      EXPECT_EQ(std::memcmp(static_cast<const char*>(streamed.data()) + r * row_bytes, one.data(), row_bytes), 0)
          << weight_format_name(f) << " row " << r;
      if (f != WeightFormat::F16) {
        EXPECT_EQ(streamed.scales[static_cast<size_t>(r)], one.scales[0]);
      }
    }
    // The stats, accumulated block by block, equal one pass over the dequantized matrix.
    const QuantStats whole = quantization_error(w.data(), dequantize_weights(streamed).data(), w.size());
    EXPECT_EQ(streamed.stats.max_abs_error, whole.max_abs_error);
    EXPECT_EQ(streamed.stats.relative_rms, whole.relative_rms);
  }
}

TEST(Quantize, Int8RepresentableValuesRoundTripExactly) {
  const int64_t n = 3, k = 64;
  std::vector<float> w(n * k);
  for (int64_t r = 0; r < n; ++r) {
    const float s = std::ldexp(1.0f, -3 - static_cast<int>(r));  // a power of two per row
    for (int64_t c = 0; c < k; ++c) w[r * k + c] = s * static_cast<float>((c * 37 + r) % 255 - 127);
    w[r * k + 5] = 127 * s;  // the extreme, so max|w| / 127 is exactly s
  }
  const QuantizedWeights q = quantize_weights(WeightFormat::Int8, w.data(), n, k, 0, "w");
  EXPECT_EQ(q.dtype, DType::I8);
  EXPECT_EQ(q.group, k);
  ASSERT_EQ(q.scales.size(), 3u);
  EXPECT_EQ(q.scales[1], 0.0625f);
  EXPECT_EQ(dequantize_weights(q), w);
  EXPECT_EQ(q.stats.max_abs_error, 0.0f);
  EXPECT_EQ(q.stats.relative_rms, 0.0f);
  EXPECT_EQ(q.bytes(), static_cast<size_t>(n * k));
}

TEST(Quantize, Int4RepresentableValuesRoundTripExactly) {
  const int64_t n = 4, k = 128;
  std::vector<float> w(n * k);
  for (int64_t r = 0; r < n; ++r) {
    const float s = std::ldexp(1.0f, -2 - static_cast<int>(r));
    for (int64_t c = 0; c < k; ++c) w[r * k + c] = s * static_cast<float>((c * 5 + r) % 16 - 8);
  }
  // Row 0 holds -8 (the asymmetric end); row 1 only up to +7 in magnitude.
  for (int64_t c = 0; c < k; ++c) {
    float& x = w[1 * k + c];
    if (x == -8 * 0.125f) x = -7 * 0.125f;
  }
  for (int64_t group : {0, 64}) {
    const QuantizedWeights q = quantize_weights(WeightFormat::Int4, w.data(), n, k, group, "w");
    EXPECT_EQ(q.dtype, DType::I4);
    EXPECT_EQ(dequantize_weights(q), w) << "group " << group;
    EXPECT_EQ(q.stats.max_abs_error, 0.0f);
    EXPECT_EQ(q.bytes(), static_cast<size_t>(n * k / 2));
  }
}

TEST(Quantize, Int8ErrorWithinHalfAStep) {
  const int64_t n = 16, k = 256;
  const std::vector<float> w = random_weights(n * k, 1);
  const QuantizedWeights q = quantize_weights(WeightFormat::Int8, w.data(), n, k, 0, "w");
  const std::vector<float> d = dequantize_weights(q);
  for (int64_t r = 0; r < n; ++r) {
    float m = 0;
    for (int64_t c = 0; c < k; ++c) m = std::max(m, std::fabs(w[r * k + c]));
    EXPECT_FLOAT_EQ(q.scales[r], m / 127);
    for (int64_t c = 0; c < k; ++c)
      ASSERT_LE(std::fabs(w[r * k + c] - d[r * k + c]), q.scales[r] * 0.5f * 1.0001f) << r << "," << c;
  }
  EXPECT_LT(q.stats.relative_rms, 0.01f);
}

TEST(Quantize, StatsMatchTheDequantizedValues) {
  const int64_t n = 8, k = 128;
  const std::vector<float> w = random_weights(n * k, 2, 0.05f);
  for (WeightFormat f : {WeightFormat::Int8, WeightFormat::Int4, WeightFormat::F16}) {
    const QuantizedWeights q = quantize_weights(f, w.data(), n, k, 0, "w");
    const QuantStats direct = quantization_error(w.data(), dequantize_weights(q).data(), w.size());
    EXPECT_EQ(q.stats.max_abs_error, direct.max_abs_error) << weight_format_name(f);
    EXPECT_EQ(q.stats.relative_rms, direct.relative_rms) << weight_format_name(f);
    EXPECT_GT(q.stats.relative_rms, 0.0f) << weight_format_name(f);
  }
}

TEST(Quantize, ErrorMetrics) {
  const std::vector<float> a = {3, 4, 0}, b = {3, 4.5f, -1};
  const QuantStats s = quantization_error(a.data(), b.data(), a.size());
  EXPECT_FLOAT_EQ(s.max_abs_error, 1.0f);
  EXPECT_FLOAT_EQ(s.relative_rms, std::sqrt(1.25f) / 5.0f);
  const std::vector<float> zeros(3, 0.0f);
  EXPECT_EQ(quantization_error(zeros.data(), zeros.data(), 3).relative_rms, 0.0f);
  const std::vector<float> inf = {3, INFINITY, 0};
  EXPECT_TRUE(std::isinf(quantization_error(a.data(), inf.data(), 3).max_abs_error));
}

// The int4 search never does worse than max|w| / 7 and does better on typical weights.
TEST(Quantize, Int4ScaleSearchBeatsMaxAbsOverSeven) {
  double search_sse = 0, plain_sse = 0;
  for (uint32_t seed = 0; seed < 200; ++seed) {
    std::vector<float> g = random_weights(64, seed);
    if (seed % 3 == 0) g[seed % 64] *= 6.0f;  // an outlier
    if (seed % 5 == 0)
      for (float& x : g) x = std::fabs(x);  // one-signed
    auto sse = [&](float s) {
      double e = 0;
      for (float x : g) {
        const float q = s == 0 ? 0 : std::min(7.0f, std::max(-8.0f, std::round(x / s)));
        e += (x - q * s) * (x - q * s);
      }
      return e;
    };
    const double searched = sse(int4_scale(g.data(), g.size()));
    const double plain = sse(int4_scale_max_abs(g.data(), g.size()));
    EXPECT_LE(searched, plain * (1 + 1e-6)) << "seed " << seed;
    search_sse += searched;
    plain_sse += plain;
  }
  std::printf("int4 squared error, search / (max|w| / 7): %.3f\n", search_sse / plain_sse);
  EXPECT_LT(search_sse, 0.9 * plain_sse);
}

TEST(Quantize, GroupsGetTheirOwnScales) {
  const int64_t n = 2, k = 256, group = 64;
  std::vector<float> w = random_weights(n * k, 3);
  // Each group of row 1 at a very different magnitude.
  for (int64_t c = 0; c < k; ++c) w[k + c] *= std::ldexp(1.0f, static_cast<int>(c / group) * 4 - 6);
  for (WeightFormat f : {WeightFormat::Int8, WeightFormat::Int4}) {
    const QuantizedWeights grouped = quantize_weights(f, w.data(), n, k, group, "w");
    const QuantizedWeights per_row = quantize_weights(f, w.data(), n, k, 0, "w");
    EXPECT_EQ(grouped.group, group);
    EXPECT_EQ(grouped.scales.size(), static_cast<size_t>(n * k / group));
    EXPECT_EQ(per_row.group, k);
    EXPECT_EQ(per_row.scales.size(), static_cast<size_t>(n));
    if (f == WeightFormat::Int8) {
      for (int64_t g = 0; g < k / group; ++g) {
        EXPECT_EQ(grouped.scales[k / group + g], int8_scale(&w[k + g * group], group)) << g;
      }
    }
    EXPECT_LE(grouped.stats.relative_rms, per_row.stats.relative_rms) << weight_format_name(f);
    // The small first group of row 1 survives only with its own scale: per row, the largest
    // group's scale rounds it to (nearly) zero.
    const std::vector<float> g = dequantize_weights(grouped), r = dequantize_weights(per_row);
    const QuantStats own = quantization_error(&w[k], &g[k], group);
    const QuantStats shared = quantization_error(&w[k], &r[k], group);
    EXPECT_LT(own.relative_rms, f == WeightFormat::Int8 ? 0.02f : 0.2f) << weight_format_name(f);
    EXPECT_GT(shared.relative_rms, 0.9f) << weight_format_name(f);
  }
}

TEST(Quantize, ZeroGroupsGetScaleZero) {
  std::vector<float> w(2 * 64, 0.0f);
  for (int i = 0; i < 64; ++i) w[64 + i] = 0.01f * static_cast<float>(i - 32);
  for (WeightFormat f : {WeightFormat::Int8, WeightFormat::Int4}) {
    const QuantizedWeights q = quantize_weights(f, w.data(), 2, 64, 0, "w");
    EXPECT_EQ(q.scales[0], 0.0f);
    const std::vector<float> d = dequantize_weights(q);
    for (int i = 0; i < 64; ++i) EXPECT_EQ(d[i], 0.0f);
    EXPECT_TRUE(std::isfinite(q.stats.relative_rms));
  }
}

TEST(Quantize, Fp16StoresHalves) {
  const std::vector<float> w = {1.0f, 65520.0f, std::ldexp(1.0f, -25) * 3, -0.1f};
  std::vector<float> padded(2 * 64, 0.5f);
  std::copy(w.begin(), w.end(), padded.begin());
  const QuantizedWeights q = quantize_weights(WeightFormat::F16, padded.data(), 2, 64, 0, "w");
  EXPECT_EQ(q.dtype, DType::F16);
  EXPECT_TRUE(q.scales.empty());
  EXPECT_EQ(q.bytes(), 2u * 64 * 2);
  const std::vector<float> d = dequantize_weights(q);
  EXPECT_EQ(d[0], 1.0f);
  EXPECT_TRUE(std::isinf(d[1]));                // overflow
  EXPECT_EQ(d[2], std::ldexp(1.0f, -23));       // 1.5 units of 2^-24: tie to even (2)
  EXPECT_EQ(d[3], f16_to_f32(f32_to_f16(-0.1f)));
  EXPECT_TRUE(std::isinf(q.stats.max_abs_error));  // the overflow shows in the stats
}

TEST(Quantize, SameInputSameBytes) {
  const std::vector<float> w = random_weights(32 * 128, 4);
  for (WeightFormat f : {WeightFormat::Int8, WeightFormat::Int4, WeightFormat::F16}) {
    const QuantizedWeights a = quantize_weights(f, w.data(), 32, 128, 0, "w");
    const QuantizedWeights b = quantize_weights(f, w.data(), 32, 128, 0, "w");
    ASSERT_EQ(a.bytes(), b.bytes());
    EXPECT_EQ(std::memcmp(a.data(), b.data(), a.bytes()), 0);
    EXPECT_EQ(a.scales, b.scales);
    EXPECT_EQ(reinterpret_cast<uintptr_t>(a.data()) % 64, 0u);
  }
}

TEST(Quantize, ShapesTheKernelsRefuseNameTheTensor) {
  const std::vector<float> w(8 * 256, 1.0f);
  // int4 needs k % 64 == 0 even per channel: the model cannot be stored that way.
  expect_error([&] { quantize_weights(WeightFormat::Int4, w.data(), 8, 32, 0, "enc.fc1.weight"); },
               ErrorCode::Unsupported, {"tensor 'enc.fc1.weight' [8, 32] cannot be stored as int4"});
  expect_error([&] { quantize_weights(WeightFormat::Int8, w.data(), 8, 24, 0, "x.weight"); },
               ErrorCode::Unsupported, {"'x.weight' [8, 24] cannot be stored as int8"});
  // The group size is at fault: it must divide k and suit the kernels.
  expect_error([&] { quantize_weights(WeightFormat::Int4, w.data(), 8, 256, 96, "a.weight"); },
               ErrorCode::InvalidArgument, {"'a.weight' [8, 256]", "groups of 96 input columns"});
  expect_error([&] { quantize_weights(WeightFormat::Int4, w.data(), 8, 256, 32, "a.weight"); },
               ErrorCode::InvalidArgument, {"groups of 32 input columns"});
  expect_error([&] { quantize_weights(WeightFormat::Int8, w.data(), 8, 256, 48, "a.weight"); },
               ErrorCode::InvalidArgument, {"groups of 48"});
  expect_error([&] { quantize_weights(WeightFormat::Int8, w.data(), 8, 256, -1, "a.weight"); },
               ErrorCode::InvalidArgument, {"negative"});
  // fp16 has no groups: a group size is ignored.
  EXPECT_NO_THROW(quantize_weights(WeightFormat::F16, w.data(), 8, 256, 96, "a.weight"));
  EXPECT_NO_THROW(check_quantizable(WeightFormat::F32, 8, 3, 5, "f32 is never checked"));
}

TEST(Quantize, NonFiniteWeightsAreRefused) {
  std::vector<float> w(64, 1.0f);
  w[9] = NAN;
  expect_error([&] { quantize_weights(WeightFormat::Int8, w.data(), 1, 64, 0, "bad.weight"); },
               ErrorCode::InvalidArgument, {"'bad.weight'", "non-finite", "element 9"});
}

}  // namespace
}  // namespace tusk::format
