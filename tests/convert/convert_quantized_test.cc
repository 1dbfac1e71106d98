// convert_hf with quantized storage (ConvertOptions experts / dense / group_size) on a tiny
// synthetic checkpoint sized for the kernels (d_model 64, FFN 128), read back with ModelFile.
#include <gtest/gtest.h>

#include <sys/stat.h>

#include <cmath>
#include <cstring>

#include "model_format/convert_hf.h"
#include "model_format/model_file.h"
#include "model_format/quantize.h"
#include "test_helpers.h"

namespace tusk::format {
namespace {

using test::expect_error;
using test::TempDir;
using test::TinyModel;

constexpr int64_t kD = 64, kFfn = 128, kVocab = 8000;
constexpr float kFold = 0.75f;  // 1 - moe_token_dropout of the tiny config

bool have_sentencepiece() { return test::file_exists(test::real_model_dir() + "/sentencepiece.model"); }

DType dtype_of(WeightFormat f) {
  switch (f) {
    case WeightFormat::F16: return DType::F16;
    case WeightFormat::Int8: return DType::I8;
    case WeightFormat::Int4: return DType::I4;
    case WeightFormat::F32: break;
  }
  return DType::F32;
}

bool is_dense_matrix(const std::string& name) {
  for (const char* end : {".q_proj.weight", ".k_proj.weight", ".v_proj.weight", ".out_proj.weight",
                          ".ffn.fc1.weight", ".ffn.fc2.weight"}) {
    const size_t n = std::strlen(end);
    if (name.size() > n && name.compare(name.size() - n, n, end) == 0 && name.find(".experts.") == std::string::npos)
      return true;
  }
  return name == "model.shared.weight";
}

// The quantized tensor as stored (view of a weight plus its scales), to compare with what
// quantize_weights makes of the checkpoint values.
void expect_stored_as(const std::string& what, const TensorView& weight, const TensorView* scales,
                      const QuantizedWeights& expected) {
  ASSERT_EQ(weight.dtype, expected.dtype) << what;
  ASSERT_EQ(weight.bytes, expected.bytes()) << what;
  EXPECT_EQ(std::memcmp(weight.data, expected.data(), weight.bytes), 0) << what;
  if (expected.scales.empty()) {
    EXPECT_EQ(scales, nullptr) << what << " has scales";
    return;
  }
  ASSERT_NE(scales, nullptr) << what << " has no scales";
  EXPECT_EQ(scales->dtype, DType::F32);
  EXPECT_EQ(scales->shape, (std::vector<int64_t>{expected.n, expected.k / expected.group})) << what;
  EXPECT_EQ(std::memcmp(scales->data, expected.scales.data(), scales->bytes), 0) << what;
}

class ConvertQuantized : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!have_sentencepiece()) GTEST_SKIP() << "needs " << test::real_model_dir() << "/sentencepiece.model";
    test::write_checkpoint(dir_.path(), model_.config_json, model_.tensors,
                           test::read_file(test::real_model_dir() + "/sentencepiece.model"));
  }
  std::string convert(const ConvertOptions& options, const std::string& name) {
    const std::string out = dir_.file(name);
    convert_hf(dir_.path(), out, options, nullptr);
    return out;
  }
  // Every tensor stored as `o` says, with the bytes and scales quantize_weights gives.
  void check_model(const ModelFile& file, const ConvertOptions& o) {
    for (const test::StTensor& t : model_.tensors) {
      if (t.name.find(".experts.") != std::string::npos) continue;
      ASSERT_TRUE(file.has_tensor(t.name)) << t.name;
      const TensorView& v = file.tensor(t.name);
      EXPECT_EQ(v.shape, t.shape) << t.name;
      const bool has_scales = file.has_tensor(t.name + ".scales");
      if (!is_dense_matrix(t.name) || o.dense == WeightFormat::F32) {
        // Norms, biases and routers (routing runs in fp32) are never quantized.
        EXPECT_EQ(v.dtype, DType::F32) << t.name;
        EXPECT_FALSE(has_scales) << t.name;
        EXPECT_EQ(std::memcmp(v.data, t.bytes.data(), v.bytes), 0) << t.name;
        continue;
      }
      // The embeddings keep one scale per row whatever the group size.
      const int64_t group = t.name == "model.shared.weight" ? 0 : o.group_size;
      const std::vector<float> values = model_.values(t.name);
      const QuantizedWeights q = quantize_weights(o.dense, values.data(), t.shape[0], t.shape[1], group, t.name);
      expect_stored_as(t.name, v, has_scales ? &file.tensor(t.name + ".scales") : nullptr, q);
      if (t.name == "model.shared.weight" && has_scales) {
        EXPECT_EQ(file.tensor(t.name + ".scales").shape, (std::vector<int64_t>{kVocab, 1}));
      }
      const TensorInfo* info = nullptr;
      const std::vector<TensorInfo> infos = file.tensor_infos();
      for (const TensorInfo& i : infos)
        if (i.name == t.name) info = &i;
      ASSERT_NE(info, nullptr);
      ASSERT_TRUE(info->stats.has_value()) << t.name;
      EXPECT_EQ(info->stats->relative_rms, q.stats.relative_rms) << t.name;
      EXPECT_EQ(info->stats->max_abs_error, q.stats.max_abs_error) << t.name;
    }
    for (Stack stack : {Stack::Encoder, Stack::Decoder}) {
      const std::string root = stack == Stack::Encoder ? "model.encoder" : "model.decoder";
      for (int e = 0; e < 2; ++e) {
        const std::string p = root + ".layers.1.ffn.experts.expert_" + std::to_string(e) + ".";
        const ExpertWeights w = file.load_expert(stack, 1, e);
        for (const char* bias : {"fc1.bias", "fc2.bias"}) EXPECT_EQ(w.tensor(bias).dtype, DType::F32);
        for (const char* name : {"fc1.weight", "fc2.weight"}) {
          std::vector<float> values = model_.values(p + name);
          // fc2 carries the folded (1 - moe_token_dropout), applied before quantizing.
          if (name[2] == '2')
            for (float& x : values) x *= kFold;
          const TensorView& v = w.tensor(name);
          const std::string scales = std::string(name) + ".scales";
          bool has_scales = false;
          for (const auto& entry : w.tensors()) has_scales |= entry.first == scales;
          const int64_t n = v.shape[0], k = v.shape[1];
          if (o.experts == WeightFormat::F32) {
            EXPECT_EQ(v.dtype, DType::F32);
            EXPECT_FALSE(has_scales);
            EXPECT_EQ(std::memcmp(v.data, values.data(), v.bytes), 0) << p << name;
            continue;
          }
          const QuantizedWeights q = quantize_weights(o.experts, values.data(), n, k, o.group_size, p + name);
          expect_stored_as(p + name, v, has_scales ? &w.tensor(scales) : nullptr, q);
          EXPECT_EQ(v.dtype, dtype_of(o.experts));
        }
      }
    }
  }

  TempDir dir_;
  TinyModel model_ = test::tiny_model(kD, kFfn);
};

TEST_F(ConvertQuantized, EveryCombinationReadsBackWithTheRightDtypesAndScales) {
  int i = 0;
  for (WeightFormat experts : {WeightFormat::F32, WeightFormat::F16, WeightFormat::Int8, WeightFormat::Int4}) {
    for (WeightFormat dense : {WeightFormat::F32, WeightFormat::F16, WeightFormat::Int8, WeightFormat::Int4}) {
      for (int64_t group : {0, 64}) {
        if (group != 0 && experts != WeightFormat::Int8 && experts != WeightFormat::Int4 &&
            dense != WeightFormat::Int8 && dense != WeightFormat::Int4)
          continue;  // the group size changes nothing
        ConvertOptions o;
        o.experts = experts;
        o.dense = dense;
        o.group_size = group;
        SCOPED_TRACE(std::string("experts ") + weight_format_name(experts) + ", dense " +
                     weight_format_name(dense) + ", group " + std::to_string(group));
        auto file = ModelFile::open(convert(o, "m" + std::to_string(i++) + ".tusk"), {});
        check_model(*file, o);
        // Parameter counts do not depend on the storage.
        uint64_t params = 0;
        for (const test::StTensor& t : model_.tensors) params += t.bytes.size() / 4;
        EXPECT_EQ(file->parameter_count(), params);
      }
    }
  }
}

TEST_F(ConvertQuantized, SummaryNamesTheChoices) {
  auto fp32 = ModelFile::open(convert(ConvertOptions{}, "fp32.tusk"), {});
  EXPECT_EQ(fp32->quantization(), "none (every weight fp32)");
  ConvertOptions o;
  o.experts = WeightFormat::Int4;
  o.dense = WeightFormat::Int8;
  auto q = ModelFile::open(convert(o, "q.tusk"), {});
  EXPECT_EQ(q->quantization(),
            "experts int4 (scales per output channel, chosen by squared-error search); dense int8 "
            "(scales per output channel); routers, layer norms and biases fp32");
  o.group_size = 64;
  auto g = ModelFile::open(convert(o, "g.tusk"), {});
  EXPECT_EQ(g->quantization(),
            "experts int4 (scales per 64 input columns, chosen by squared-error search); dense int8 "
            "(scales per 64 input columns), model.shared.weight per row; routers, layer norms and "
            "biases fp32");
}

TEST_F(ConvertQuantized, SameInputSameBytes) {
  ConvertOptions o;
  o.experts = WeightFormat::Int4;
  o.dense = WeightFormat::Int8;
  o.group_size = 64;
  EXPECT_EQ(test::read_file(convert(o, "a.tusk")), test::read_file(convert(o, "b.tusk")));
  o.dense = WeightFormat::F16;
  o.experts = WeightFormat::F16;
  EXPECT_EQ(test::read_file(convert(o, "c.tusk")), test::read_file(convert(o, "d.tusk")));
}

TEST_F(ConvertQuantized, QuantizedFilesAreSmaller) {
  ConvertOptions o;
  const auto size = [&](const std::string& name) {
    struct stat st {};
    stat(convert(o, name).c_str(), &st);
    return st.st_size;
  };
  const auto fp32 = size("fp32.tusk");
  o.experts = WeightFormat::Int4;
  o.dense = WeightFormat::Int8;
  const auto small = size("small.tusk");
  // The int8 embeddings dominate this tiny model (next to the 380 KB tokenizer).
  EXPECT_LT(small * 2, fp32);
}

// ---- options the checkpoint cannot take: clear errors naming the tensor, no output -----------

class ConvertQuantizedRejects : public ConvertQuantized {
 protected:
  void expect_rejected(const TinyModel& model, const ConvertOptions& o, ErrorCode code,
                       std::initializer_list<const char*> fragments) {
    const std::string in = dir_.file("bad_in" + std::to_string(count_));
    const std::string out = dir_.file("bad" + std::to_string(count_++) + ".tusk");
    mkdir(in.c_str(), 0755);
    test::write_checkpoint(in, model.config_json, model.tensors,
                           test::read_file(test::real_model_dir() + "/sentencepiece.model"));
    expect_error([&] { convert_hf(in, out, o, nullptr); }, code, fragments);
    EXPECT_FALSE(test::file_exists(out));
  }
  int count_ = 0;
};

TEST_F(ConvertQuantizedRejects, Int4ExpertsNeedMultiplesOf64) {
  ConvertOptions o;
  o.experts = WeightFormat::Int4;
  // d_model 8: the experts' fc1 has 8 input columns.
  expect_rejected(test::tiny_model(), o, ErrorCode::Unsupported,
                  {"tensor 'model.encoder.layers.1.ffn.experts.expert_0.fc1.weight' [16, 8] cannot be stored as int4"});
}

TEST_F(ConvertQuantizedRejects, Int8DenseNeedsMultiplesOf32) {
  ConvertOptions o;
  o.dense = WeightFormat::Int8;
  expect_rejected(test::tiny_model(), o, ErrorCode::Unsupported, {"tensor 'model.decoder.layers.0.cross_attention.k_proj.weight' [8, 8] cannot be stored as int8"});
}

TEST_F(ConvertQuantizedRejects, GroupSizeMustSuitEveryMatrix) {
  ConvertOptions o;
  o.experts = WeightFormat::Int4;
  o.group_size = 128;  // divides fc2's 128 input columns but not fc1's 64
  expect_rejected(model_, o, ErrorCode::InvalidArgument,
                  {"fc1.weight' [128, 64] cannot be stored as int4 with groups of 128 input columns"});
  o.experts = WeightFormat::Int8;
  o.group_size = 48;
  expect_rejected(model_, o, ErrorCode::InvalidArgument, {"groups of 48 input columns"});
}

TEST_F(ConvertQuantizedRejects, NegativeGroupsAreRefusedUpFront) {
  ConvertOptions o;
  o.dense = WeightFormat::Int8;
  o.group_size = -64;
  expect_rejected(model_, o, ErrorCode::InvalidArgument, {"group size -64 is negative"});
}

}  // namespace
}  // namespace tusk::format
