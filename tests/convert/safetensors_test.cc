// The safetensors reader: typed access, conversions, strict header validation.
#include "model_format/safetensors.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>

#include "test_helpers.h"

namespace tusk::format {
namespace {

using test::expect_error;
using test::f32_bytes;
using test::safetensors_bytes;
using test::safetensors_raw;
using test::StTensor;
using test::TempDir;
using test::u16_bytes;
using test::write_file;

uint32_t bits_of(float f) {
  uint32_t b;
  std::memcpy(&b, &f, 4);
  return b;
}

TEST(Safetensors, ReadsF32TensorsAndMetadata) {
  TempDir dir;
  const std::string path = dir.file("a.safetensors");
  write_file(path, safetensors_bytes({{"z.bias", "F32", {3}, f32_bytes({1.5f, -2.f, 0.25f})},
                                      {"a.weight", "F32", {2, 2}, f32_bytes({1, 2, 3, 4})},
                                      {"empty", "F32", {0, 4}, ""},
                                      {"scalar", "F32", {}, f32_bytes({7})}},
                                     {{"format", "pt"}}));
  auto f = SafetensorsFile::open(path);
  EXPECT_EQ(f->names(), (std::vector<std::string>{"a.weight", "empty", "scalar", "z.bias"}));
  EXPECT_EQ(f->info("a.weight").shape, (std::vector<int64_t>{2, 2}));
  EXPECT_EQ(f->info("a.weight").dtype, SafetensorsDType::F32);
  EXPECT_EQ(f->info("a.weight").elements(), 4u);
  EXPECT_EQ(f->read_as_f32("z.bias"), (std::vector<float>{1.5f, -2.f, 0.25f}));
  EXPECT_EQ(f->read_as_f32("a.weight"), (std::vector<float>{1, 2, 3, 4}));
  EXPECT_TRUE(f->read_as_f32("empty").empty());
  EXPECT_EQ(f->read_as_f32("scalar"), (std::vector<float>{7}));
  EXPECT_EQ(f->raw("z.bias"), f32_bytes({1.5f, -2.f, 0.25f}));
  EXPECT_EQ(f->metadata().at("format"), "pt");
  EXPECT_TRUE(f->has("z.bias"));
  EXPECT_FALSE(f->has("nope"));
  expect_error([&] { f->info("nope"); }, ErrorCode::InvalidModel, {"a.safetensors", "nope"});
}

TEST(Safetensors, ConvertsF16IncludingSubnormalsInfAndNan) {
  TempDir dir;
  const std::vector<uint16_t> halves = {0x3c00, 0xc000, 0x0001, 0x03ff, 0x0400, 0x7bff,
                                        0x7c00, 0xfc00, 0x7e00, 0x8000, 0x3555, 0x8001};
  write_file(dir.file("h.safetensors"), safetensors_bytes({{"h", "F16", {12}, u16_bytes(halves)}}));
  auto f = SafetensorsFile::open(dir.file("h.safetensors"));
  std::vector<float> v = f->read_as_f32("h");
  ASSERT_EQ(v.size(), 12u);
  EXPECT_EQ(v[0], 1.0f);
  EXPECT_EQ(v[1], -2.0f);
  EXPECT_EQ(v[2], std::ldexp(1.0f, -24));          // smallest subnormal
  EXPECT_EQ(v[3], std::ldexp(1023.0f, -24));       // largest subnormal
  EXPECT_EQ(v[4], std::ldexp(1.0f, -14));          // smallest normal
  EXPECT_EQ(v[5], 65504.0f);                       // largest finite
  EXPECT_EQ(v[6], std::numeric_limits<float>::infinity());
  EXPECT_EQ(v[7], -std::numeric_limits<float>::infinity());
  EXPECT_TRUE(std::isnan(v[8]));
  EXPECT_EQ(bits_of(v[9]), 0x80000000u);           // -0 keeps its sign
  EXPECT_EQ(v[10], 0.333251953125f);
  EXPECT_EQ(v[11], -std::ldexp(1.0f, -24));
}

// Every one of the 65536 half patterns against an independent formula.
TEST(Safetensors, F16ConversionIsExactForEveryPattern) {
  for (uint32_t h = 0; h <= 0xffff; ++h) {
    const int sign = (h >> 15) ? -1 : 1;
    const int exponent = (h >> 10) & 0x1f;
    const int mantissa = h & 0x3ff;
    const float got = f16_to_f32(static_cast<uint16_t>(h));
    if (exponent == 31) {
      if (mantissa == 0) EXPECT_EQ(got, sign * std::numeric_limits<float>::infinity()) << h;
      else EXPECT_TRUE(std::isnan(got)) << h;
      continue;
    }
    const float expected = exponent == 0 ? sign * std::ldexp(static_cast<float>(mantissa), -24)
                                         : sign * std::ldexp(static_cast<float>(1024 + mantissa), exponent - 25);
    EXPECT_EQ(bits_of(got), bits_of(expected)) << "half 0x" << std::hex << h;
  }
}

TEST(Safetensors, ConvertsBF16IncludingSubnormalsInfAndNan) {
  EXPECT_EQ(bf16_to_f32(0x3f80), 1.0f);
  EXPECT_EQ(bf16_to_f32(0x4049), 3.140625f);
  EXPECT_EQ(bf16_to_f32(0xc2f7), -123.5f);
  EXPECT_EQ(bf16_to_f32(0x0001), std::ldexp(1.0f, -133));  // smallest subnormal
  EXPECT_EQ(bf16_to_f32(0x7f80), std::numeric_limits<float>::infinity());
  EXPECT_EQ(bf16_to_f32(0xff80), -std::numeric_limits<float>::infinity());
  EXPECT_TRUE(std::isnan(bf16_to_f32(0x7fc0)));
  EXPECT_EQ(bits_of(bf16_to_f32(0x8000)), 0x80000000u);

  TempDir dir;
  write_file(dir.file("b.safetensors"),
             safetensors_bytes({{"b", "BF16", {2, 2}, u16_bytes({0x3f80, 0x0001, 0x7f80, 0xc2f7})}}));
  auto f = SafetensorsFile::open(dir.file("b.safetensors"));
  EXPECT_EQ(f->read_as_f32("b"), (std::vector<float>{1.0f, std::ldexp(1.0f, -133),
                                                     std::numeric_limits<float>::infinity(), -123.5f}));
}

TEST(Safetensors, OtherDTypesParseButDoNotConvert) {
  TempDir dir;
  write_file(dir.file("i.safetensors"),
             safetensors_bytes({{"ids", "I64", {2}, std::string(16, '\1')}, {"mask", "BOOL", {3}, std::string("\1\0\1", 3)}}));
  auto f = SafetensorsFile::open(dir.file("i.safetensors"));
  EXPECT_EQ(f->info("ids").dtype, SafetensorsDType::I64);
  expect_error([&] { f->read_as_f32("ids"); }, ErrorCode::Unsupported, {"ids", "I64"});
}

// ---- malformed files: always tusk::Error, never a crash ----

void expect_invalid(const std::string& bytes, std::initializer_list<const char*> fragments) {
  TempDir dir;
  const std::string path = dir.file("bad.safetensors");
  write_file(path, bytes);
  expect_error([&] { SafetensorsFile::open(path); }, ErrorCode::InvalidModel, fragments);
}

const std::string kEightFloats = f32_bytes({0, 1, 2, 3, 4, 5, 6, 7});

TEST(SafetensorsMalformed, TooSmall) { expect_invalid("abc", {"bad.safetensors", "too small"}); }

TEST(SafetensorsMalformed, HugeHeaderLength) {
  expect_invalid(test::le64(uint64_t{1} << 63) + "{}", {"bad.safetensors", "header length"});
  expect_invalid(test::le64(~uint64_t{0}) + "{}", {"header length"});
  expect_invalid(test::le64(100) + "{}", {"header length", "past the end"});
}

TEST(SafetensorsMalformed, BadJson) {
  expect_invalid(safetensors_raw("{\"a\": ", ""), {"not valid JSON"});
  expect_invalid(safetensors_raw("", ""), {"not valid JSON"});
  expect_invalid(safetensors_raw("[1, 2]", ""), {"not a JSON object"});
  expect_invalid(safetensors_raw(std::string(1000, '[') + std::string(1000, ']'), ""), {"nests"});
}

TEST(SafetensorsMalformed, UnknownDType) {
  expect_invalid(safetensors_raw(R"({"w":{"dtype":"F12","shape":[2],"data_offsets":[0,8]}})", std::string(8, '\0')),
                 {"'w'", "unknown dtype", "F12"});
  expect_invalid(safetensors_raw(R"({"w":{"dtype":7,"shape":[2],"data_offsets":[0,8]}})", std::string(8, '\0')),
                 {"'w'", "dtype"});
}

TEST(SafetensorsMalformed, OffsetsOutOfRange) {
  expect_invalid(safetensors_raw(R"({"w":{"dtype":"F32","shape":[8],"data_offsets":[0,32]}})", std::string(16, '\0')),
                 {"'w'", "past the data area"});
  expect_invalid(safetensors_raw(R"({"w":{"dtype":"F32","shape":[0],"data_offsets":[8,4]}})", kEightFloats),
                 {"'w'", "begin 8 > end 4"});
  expect_invalid(safetensors_raw(R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[18446744073709551612,18446744073709551615]}})",
                                 kEightFloats),
                 {"'w'"});
  expect_invalid(safetensors_raw(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8,9]}})", std::string(8, '\0')),
                 {"'w'", "data_offsets"});
  expect_invalid(safetensors_raw(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[-1,7]}})", std::string(8, '\0')),
                 {"'w'", "data_offsets"});
}

TEST(SafetensorsMalformed, SizeDoesNotMatchShape) {
  expect_invalid(safetensors_raw(R"({"w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", std::string(8, '\0')),
                 {"'w'", "8 bytes", "need 12"});
  expect_invalid(safetensors_raw(R"({"w":{"dtype":"F32","shape":[4611686018427387904],"data_offsets":[0,8]}})",
                                 std::string(8, '\0')),
                 {"'w'", "byte size overflows"});
  expect_invalid(safetensors_raw(R"({"w":{"dtype":"F32","shape":[4611686018427387904,4611686018427387904],"data_offsets":[0,8]}})",
                                 std::string(8, '\0')),
                 {"'w'", "overflows"});
}

TEST(SafetensorsMalformed, BadShapes) {
  expect_invalid(safetensors_raw(R"({"w":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})", std::string(8, '\0')),
                 {"'w'", "shape"});
  expect_invalid(safetensors_raw(R"({"w":{"dtype":"F32","shape":[2.0],"data_offsets":[0,8]}})", std::string(8, '\0')),
                 {"'w'", "shape"});
  expect_invalid(safetensors_raw(R"({"w":{"dtype":"F32","shape":"2","data_offsets":[0,8]}})", std::string(8, '\0')),
                 {"'w'", "shape"});
  expect_invalid(safetensors_raw(R"({"w":{"dtype":"F32","data_offsets":[0,8]}})", std::string(8, '\0')),
                 {"'w'", "needs dtype, shape and data_offsets"});
  expect_invalid(safetensors_raw(R"({"w":[1,2]})", ""), {"'w'", "not a JSON object"});
}

TEST(SafetensorsMalformed, DataAreaMustBeTiledExactly) {
  // overlap
  expect_invalid(safetensors_raw(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},
                                    "b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
                                 std::string(12, '\0')),
                 {"'b'", "overlap or gap"});
  // gap
  expect_invalid(safetensors_raw(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},
                                    "b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}})",
                                 std::string(12, '\0')),
                 {"'b'", "overlap or gap"});
  // trailing bytes nobody owns
  expect_invalid(safetensors_raw(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})", std::string(12, '\0')),
                 {"cover 4 of the 12"});
}

TEST(SafetensorsMalformed, BadMetadata) {
  expect_invalid(safetensors_raw(R"({"__metadata__":{"format":3}})", ""), {"__metadata__"});
  expect_invalid(safetensors_raw(R"({"__metadata__":[]})", ""), {"__metadata__"});
}

TEST(SafetensorsMalformed, MissingFileIsIo) {
  TempDir dir;
  expect_error([&] { SafetensorsFile::open(dir.file("none.safetensors")); }, ErrorCode::Io, {"none.safetensors"});
  expect_error([&] { SafetensorsFile::open(dir.path()); }, ErrorCode::InvalidModel, {"not a regular file"});
}

// Truncations and byte flips of a valid file: each open either works or throws tusk::Error.
TEST(SafetensorsMalformed, MutationsNeverCrash) {
  const std::string good = safetensors_bytes({{"a", "F16", {2, 3}, u16_bytes({1, 2, 3, 4, 5, 6})},
                                              {"b", "BF16", {2}, u16_bytes({7, 8})}},
                                             {{"format", "pt"}});
  TempDir dir;
  const std::string path = dir.file("m.safetensors");
  auto try_open = [&](const std::string& bytes) {
    write_file(path, bytes);
    try {
      auto f = SafetensorsFile::open(path);
      for (const std::string& n : f->names()) f->read_as_f32(n);
    } catch (const Error&) {
    }
  };
  for (size_t n = 0; n < good.size(); ++n) try_open(good.substr(0, n));
  uint32_t x = 7;
  for (int round = 0; round < 3000; ++round) {
    std::string bytes = good;
    for (int k = 0; k < 3; ++k) {
      x = x * 1664525u + 1013904223u;
      bytes[(x >> 8) % bytes.size()] = static_cast<char>(x >> 24);
    }
    try_open(bytes);
  }
}

// ---- checkpoints: one file or shards ----

class ShardedCheckpoint : public ::testing::Test {
 protected:
  void SetUp() override {
    write_file(dir_.file("model-00001-of-00002.safetensors"),
               safetensors_bytes({{"a", "F32", {2}, f32_bytes({1, 2})}, {"c", "F16", {1}, u16_bytes({0x3c00})}}));
    write_file(dir_.file("model-00002-of-00002.safetensors"),
               safetensors_bytes({{"b", "BF16", {1}, u16_bytes({0x4000})}}));
  }
  void write_index(const std::string& weight_map) {
    write_file(dir_.file("model.safetensors.index.json"),
               R"({"metadata":{"total_size":12},"weight_map":)" + weight_map + "}");
  }
  TempDir dir_;
};

TEST_F(ShardedCheckpoint, PresentsOneNamespace) {
  write_index(R"({"a":"model-00001-of-00002.safetensors","b":"model-00002-of-00002.safetensors",
                  "c":"model-00001-of-00002.safetensors"})");
  for (const std::string& path : {dir_.path(), dir_.path() + "/", dir_.file("model.safetensors.index.json")}) {
    SafetensorsCheckpoint ckpt = SafetensorsCheckpoint::open(path);
    EXPECT_EQ(ckpt.shard_count(), 2u);
    EXPECT_EQ(ckpt.names(), (std::vector<std::string>{"a", "b", "c"}));
    EXPECT_EQ(ckpt.read_as_f32("a"), (std::vector<float>{1, 2}));
    EXPECT_EQ(ckpt.read_as_f32("b"), (std::vector<float>{2}));
    EXPECT_EQ(ckpt.read_as_f32("c"), (std::vector<float>{1}));
    EXPECT_EQ(ckpt.info("b").dtype, SafetensorsDType::BF16);
    EXPECT_NE(ckpt.file_of("b").find("model-00002-of-00002.safetensors"), std::string::npos);
    expect_error([&] { ckpt.info("d"); }, ErrorCode::InvalidModel, {"'d'"});
  }
}

TEST_F(ShardedCheckpoint, SingleFileIsPreferredInAFolder) {
  write_index(R"({"a":"model-00001-of-00002.safetensors"})");  // would be invalid if used
  write_file(dir_.file("model.safetensors"), safetensors_bytes({{"x", "F32", {1}, f32_bytes({3})}}));
  SafetensorsCheckpoint ckpt = SafetensorsCheckpoint::open(dir_.path());
  EXPECT_EQ(ckpt.shard_count(), 1u);
  EXPECT_EQ(ckpt.names(), std::vector<std::string>{"x"});
  SafetensorsCheckpoint direct = SafetensorsCheckpoint::open(dir_.file("model-00002-of-00002.safetensors"));
  EXPECT_EQ(direct.names(), std::vector<std::string>{"b"});
}

TEST_F(ShardedCheckpoint, IndexNamingAMissingTensor) {
  write_index(R"({"a":"model-00001-of-00002.safetensors","b":"model-00001-of-00002.safetensors",
                  "c":"model-00001-of-00002.safetensors"})");
  expect_error([&] { SafetensorsCheckpoint::open(dir_.path()); }, ErrorCode::InvalidModel,
               {"index.json", "'b'", "model-00001-of-00002.safetensors"});
}

TEST_F(ShardedCheckpoint, ShardTensorMissingFromIndex) {
  write_index(R"({"a":"model-00001-of-00002.safetensors","b":"model-00002-of-00002.safetensors"})");
  expect_error([&] { SafetensorsCheckpoint::open(dir_.path()); }, ErrorCode::InvalidModel, {"'c'"});
}

TEST_F(ShardedCheckpoint, ShardOutsideTheFolder) {
  write_index(R"({"a":"../model-00001-of-00002.safetensors"})");
  expect_error([&] { SafetensorsCheckpoint::open(dir_.path()); }, ErrorCode::InvalidModel, {"'a'", "not a file"});
}

TEST_F(ShardedCheckpoint, MissingShardIsIo) {
  write_index(R"({"a":"model-00001-of-00003.safetensors"})");
  expect_error([&] { SafetensorsCheckpoint::open(dir_.path()); }, ErrorCode::Io, {"model-00001-of-00003"});
}

TEST_F(ShardedCheckpoint, MalformedIndex) {
  write_index("[]");
  expect_error([&] { SafetensorsCheckpoint::open(dir_.path()); }, ErrorCode::InvalidModel, {"weight_map"});
  write_index("{}");
  expect_error([&] { SafetensorsCheckpoint::open(dir_.path()); }, ErrorCode::InvalidModel, {"no tensors"});
  write_index(R"({"a":5})");
  expect_error([&] { SafetensorsCheckpoint::open(dir_.path()); }, ErrorCode::InvalidModel, {"'a'"});
  write_file(dir_.file("model.safetensors.index.json"), "{\"weight_map\":");
  expect_error([&] { SafetensorsCheckpoint::open(dir_.path()); }, ErrorCode::InvalidModel, {"not valid JSON"});
}

TEST(SafetensorsCheckpointOpen, EmptyFolderIsIo) {
  TempDir dir;
  expect_error([&] { SafetensorsCheckpoint::open(dir.path()); }, ErrorCode::Io,
               {"model.safetensors", "index.json"});
}

}  // namespace
}  // namespace tusk::format
