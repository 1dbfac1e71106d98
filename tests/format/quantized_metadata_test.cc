// Quantized tensors in the file: the reader enforces the "<name>.scales" convention
// (model_format/quantized_tensors.h) for dense tensors and expert frames, and the converter's
// quantization summary and per-tensor error stats survive the round trip.
#include <gtest/gtest.h>

#include <cstring>

#include "model_format/layout/weight_layout.h"
#include "model_format/checksum.h"
#include "model_format/tensor_report.h"
#include "tests/format/format_test_util.h"

namespace tusk::format::testing {
namespace {

struct Item {
  std::string name;
  DType dtype;
  std::vector<int64_t> shape;
};

uint64_t bytes_of(const Item& t) {
  uint64_t n = 1;
  for (int64_t d : t.shape) n *= static_cast<uint64_t>(d);
  return dtype_bytes(t.dtype, n);
}

uint64_t align(uint64_t v, uint64_t a) { return (v + a - 1) / a * a; }

// A valid container holding `dense` (zero bytes, 64-aligned) and, if `expert` is not empty,
// one raw expert frame (encoder 0, expert 0) holding those tensors.
Bytes file_with(const std::vector<Item>& dense, const std::vector<Item>& expert = {}) {
  MetadataRecord meta;
  meta.config = tiny_config();
  meta.tokenizer = "spm";
  Bytes weights;  // from file offset 64 (assemble_file puts them after the header)
  uint64_t at = 64;
  for (const Item& t : dense) {
    const uint64_t size = bytes_of(t);
    const Bytes zeros(size, 0);
    weights.resize(at - 64 + size, 0);
    meta.tensors.push_back({t.name, t.dtype, t.shape, at, size, checksum64(zeros.data(), zeros.size())});
    at = align(at + size, 64);
  }
  if (!expert.empty()) {
    ExpertRecord e;
    uint64_t frame = 0;
    for (const Item& t : expert) {
      frame = align(frame, 64);
      e.tensors.push_back({t.name, t.dtype, t.shape, frame, bytes_of(t)});
      frame += bytes_of(t);
    }
    const Bytes raw(frame, 0);
    at = align(at, 4096);
    weights.resize(at - 64 + frame, 0);
    e.offset = at;
    e.stored_size = e.raw_size = frame;
    e.checksum = checksum64(raw.data(), raw.size());
    meta.experts.push_back(std::move(e));
  }
  return assemble_file(weights, meta);
}

class QuantizedMetadata : public ::testing::Test {
 protected:
  void expect_valid(const std::vector<Item>& dense, const std::vector<Item>& expert = {}) {
    write_bytes(path_, file_with(dense, expert));
    EXPECT_NO_THROW(ModelFile::open(path_, {}));
  }
  void expect_rejected(const std::vector<Item>& dense, const std::vector<Item>& expert,
                       const std::vector<std::string>& parts) {
    write_bytes(path_, file_with(dense, expert));
    expect_open_error(path_, ErrorCode::InvalidModel, parts);
  }
  ScratchDir dir_;
  std::string path_ = dir_.path("q.tusk");
};

TEST_F(QuantizedMetadata, ValidLayoutsOpen) {
  expect_valid({{"w", DType::I4, {2, 64}}, {"w.scales", DType::F32, {2, 1}}});
  expect_valid({{"w", DType::I4, {2, 128}}, {"w.scales", DType::F32, {2, 2}}});  // groups of 64
  expect_valid({{"w", DType::I8, {3, 64}}, {"w.scales", DType::F32, {3, 2}}});   // groups of 32
  expect_valid({{"h", DType::F16, {2, 64}}});
  expect_valid({}, {{"fc1.weight", DType::I4, {4, 64}}, {"fc1.weight.scales", DType::F32, {4, 1}},
                    {"fc1.bias", DType::F32, {4}}});
}

TEST_F(QuantizedMetadata, MissingScales) {
  expect_rejected({{"w", DType::I4, {2, 64}}}, {},
                  {"q.tusk: i4 tensor 'w' has no scales tensor 'w.scales'"});
  expect_rejected({{"w", DType::I8, {2, 64}}, {"w.scale", DType::F32, {2, 1}}}, {},
                  {"i8 tensor 'w' has no scales tensor 'w.scales'"});
}

TEST_F(QuantizedMetadata, ScalesNotF32) {
  expect_rejected({{"w", DType::I4, {2, 64}}, {"w.scales", DType::F16, {2, 1}}}, {},
                  {"scales tensor 'w.scales' is f16, must be f32"});
}

TEST_F(QuantizedMetadata, ScalesMisShaped) {
  expect_rejected({{"w", DType::I4, {2, 64}}, {"w.scales", DType::F32, {3, 1}}}, {},
                  {"scales tensor 'w.scales' has shape [3, 1], but i4 tensor 'w' [2, 64] needs [2, k / group]"});
  expect_rejected({{"w", DType::I4, {2, 64}}, {"w.scales", DType::F32, {2, 3}}}, {},
                  {"scales tensor 'w.scales' has shape [2, 3]", "dividing k = 64"});
  expect_rejected({{"w", DType::I4, {2, 64}}, {"w.scales", DType::F32, {2}}}, {},
                  {"scales tensor 'w.scales' has shape [2]"});
  expect_rejected({{"w", DType::I4, {2, 64}}, {"w.scales", DType::F32, {2, 1, 1}}}, {},
                  {"scales tensor 'w.scales' has shape [2, 1, 1]"});
}

TEST_F(QuantizedMetadata, LayoutTheKernelsCannotRun) {
  // Groups of 32 are too small for int4; k = 48 is not a multiple of 32 for int8.
  expect_rejected({{"w", DType::I4, {2, 64}}, {"w.scales", DType::F32, {2, 2}}}, {},
                  {"i4 tensor 'w' [2, 64] with groups of 32 columns is not a valid stored layout"});
  expect_rejected({{"w", DType::I8, {2, 48}}, {"w.scales", DType::F32, {2, 1}}}, {},
                  {"i8 tensor 'w' [2, 48] with groups of 48 columns is not a valid stored layout"});
}

TEST_F(QuantizedMetadata, QuantizedTensorsAreMatrices) {
  expect_rejected({{"v", DType::I8, {64}}, {"v.scales", DType::F32, {1, 1}}}, {},
                  {"i8 tensor 'v' has shape [64], but quantized weights are matrices [n, k]"});
}

TEST_F(QuantizedMetadata, ScalesWithoutAQuantizedOwner) {
  expect_rejected({{"w.scales", DType::F32, {2, 1}}}, {},
                  {"scales tensor 'w.scales' belongs to no tensor 'w'"});
  expect_rejected({{"h", DType::F16, {2, 64}}, {"h.scales", DType::F32, {2, 1}}}, {},
                  {"f16 tensor 'h' takes no scales, but 'h.scales' exists"});
  expect_rejected({{"f", DType::F32, {2, 64}}, {"f.scales", DType::F32, {2, 1}}}, {},
                  {"f32 tensor 'f' takes no scales"});
}

TEST_F(QuantizedMetadata, ExpertFramesFollowTheSameRules) {
  expect_rejected({}, {{"fc1.weight", DType::I4, {4, 64}}, {"fc1.bias", DType::F32, {4}}},
                  {"expert frame (encoder layer 0, expert 0): i4 tensor 'fc1.weight' has no scales "
                   "tensor 'fc1.weight.scales'"});
  expect_rejected({}, {{"fc1.weight", DType::I4, {4, 64}}, {"fc1.weight.scales", DType::F32, {2, 1}}},
                  {"expert frame (encoder layer 0, expert 0): scales tensor 'fc1.weight.scales' has "
                   "shape [2, 1]"});
  // A dense "fc1.weight.scales" does not serve an expert's fc1.weight.
  expect_rejected({{"fc1.weight.scales", DType::F32, {4, 1}}},
                  {{"fc1.weight", DType::I4, {4, 64}}}, {"belongs to no tensor 'fc1.weight'"});
}

// The file sizes a tensor with dtype_bytes (I4: ceil(elements / 2)), the layout with
// packed_bytes: they must agree on every shape the layout accepts. (Int4 shapes have
// k % 64 == 0, so an odd element count never reaches the kernels.)
TEST(QuantizedSizes, DtypeBytesAgreeWithTheKernels) {
  using WeightType = weight_layout::Layout;
  for (auto [n, k] : {std::pair<int64_t, int64_t>{1, 64}, {3, 64}, {7, 128}, {256, 1024}, {1, 32}, {5, 96}}) {
    const size_t e = static_cast<size_t>(n * k);
    if (!weight_layout::check_shape(WeightType::Int4, n, k, k)) {
      EXPECT_EQ(dtype_bytes(DType::I4, e), weight_layout::packed_bytes(WeightType::Int4, n, k)) << n << "x" << k;
    }
    ASSERT_EQ(weight_layout::check_shape(WeightType::Int8, n, k, k), nullptr);
    EXPECT_EQ(dtype_bytes(DType::I8, e), weight_layout::packed_bytes(WeightType::Int8, n, k)) << n << "x" << k;
    EXPECT_EQ(dtype_bytes(DType::F16, e), weight_layout::packed_bytes(WeightType::F16, n, k)) << n << "x" << k;
  }
  EXPECT_EQ(dtype_bytes(DType::I4, 15), 8u);  // odd counts round up in the file's own sizing
}

// What the converter records, read back.
TEST(QuantizedRoundTrip, SummaryAndErrorStatsSurvive) {
  ScratchDir dir;
  const std::string path = dir.path("m.tusk");
  const Bytes packed(2 * 64, 0x11), halves(2 * 64 * 2, 0);
  const std::vector<float> scales = {0.5f, 0.25f}, norm(8, 1.0f), expert_scales(4, 0.125f);
  const Bytes expert_packed(4 * 64 / 2, 0x22);
  {
    ModelWriter w(path);
    w.set_config(tiny_config());
    w.set_quantization("experts int4 (test); dense int8 (test)");
    w.add_dense({"lin", DType::I8, {2, 64}, packed.data(), QuantStats{0.01f, 0.002f}});
    w.add_dense({"lin.scales", DType::F32, {2, 1}, scales.data()});
    w.add_dense({"half", DType::F16, {2, 64}, halves.data(), QuantStats{0.0f, 0.0f}});
    w.add_dense({"norm.weight", DType::F32, {8}, norm.data()});
    w.add_expert(Stack::Decoder, 0, 1,
                 {{"fc1.weight", DType::I4, {4, 64}, expert_packed.data(), QuantStats{0.5f, 0.09f}},
                  {"fc1.weight.scales", DType::F32, {4, 1}, expert_scales.data()}},
                 3);
    w.finish();
  }
  auto file = ModelFile::open(path, {});
  EXPECT_EQ(file->quantization(), "experts int4 (test); dense int8 (test)");
  const std::vector<TensorInfo> infos = file->tensor_infos();
  ASSERT_EQ(infos.size(), 6u);
  EXPECT_EQ(infos[0].name, "half");
  ASSERT_TRUE(infos[0].stats.has_value());
  EXPECT_EQ(infos[1].name, "lin");
  ASSERT_TRUE(infos[1].stats.has_value());
  EXPECT_FLOAT_EQ(infos[1].stats->max_abs_error, 0.01f);
  EXPECT_FLOAT_EQ(infos[1].stats->relative_rms, 0.002f);
  EXPECT_EQ(infos[2].name, "lin.scales");
  EXPECT_FALSE(infos[2].stats.has_value());
  EXPECT_FALSE(infos[3].stats.has_value());  // norm.weight: stored as given
  EXPECT_EQ(infos[4].name, "model.decoder.layers.0.ffn.experts.expert_1.fc1.weight");
  EXPECT_TRUE(infos[4].in_expert);
  EXPECT_EQ(infos[4].dtype, DType::I4);
  EXPECT_EQ(infos[4].bytes, 128u);
  ASSERT_TRUE(infos[4].stats.has_value());
  EXPECT_FLOAT_EQ(infos[4].stats->relative_rms, 0.09f);
  EXPECT_EQ(file->parameter_count(), 2u * 64 + 2 * 64 + 8 + 4 * 64);

  const std::string report = describe_tensors(*file);
  EXPECT_NE(report.find("quantization:  experts int4 (test); dense int8 (test)"), std::string::npos) << report;
  EXPECT_NE(report.find("lin.scales"), std::string::npos) << report;
  EXPECT_NE(report.find("0.002"), std::string::npos) << report;
  EXPECT_NE(report.find("row"), std::string::npos) << report;
  EXPECT_NE(report.find("largest relative RMS error: 0.09 (model.decoder.layers.0.ffn.experts.expert_1.fc1.weight)"),
            std::string::npos)
      << report;
  EXPECT_NE(report.find("i4: 1 tensors, 128 bytes"), std::string::npos) << report;
}

TEST(QuantizedRoundTrip, FilesWithoutASummaryReadAsEmpty) {
  ScratchDir dir;
  write_tiny_model(dir.path("m.tusk"), make_tiny_model());
  auto file = ModelFile::open(dir.path("m.tusk"), {});
  EXPECT_EQ(file->quantization(), "");
  for (const TensorInfo& t : file->tensor_infos()) EXPECT_FALSE(t.stats.has_value()) << t.name;
  EXPECT_NE(describe_tensors(*file).find("(not recorded)"), std::string::npos);
}

// The writer opens what it wrote with the reader's checks, so it cannot produce a file whose
// quantized tensors lack scales.
TEST(QuantizedRoundTrip, WriterRefusesQuantizedTensorsWithoutScales) {
  ScratchDir dir;
  const Bytes packed(64, 0);
  {
    ModelWriter w(dir.path("m.tusk"));
    w.set_config(tiny_config());
    w.add_dense({"lin", DType::I8, {2, 32}, packed.data()});
    try {
      w.finish();
      ADD_FAILURE() << "finish() accepted an i8 tensor without scales";
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::InvalidArgument);
      EXPECT_NE(std::string(e.what()).find("has no scales tensor 'lin.scales'"), std::string::npos) << e.what();
    }
  }
  EXPECT_TRUE(dir.entries().empty());  // the abandoned writer removed its temporary file
}

}  // namespace
}  // namespace tusk::format::testing
