// Converting the real multi30k-moe checkpoint (96 MB). Label "model".
#include <gtest/gtest.h>

#include <sys/stat.h>

#include <cmath>
#include <cstdio>

#include "model_format/convert_hf.h"
#include "model_format/model_file.h"
#include "model_format/quantize.h"
#include "model_format/safetensors.h"
#include "test_helpers.h"

namespace tusk::format {
namespace {

TEST(RealModel, ConvertsDeterministicallyWithEveryParameter) {
  const std::string in = test::real_model_dir();
  if (!test::file_exists(in + "/model.safetensors"))
    GTEST_SKIP() << in << "/model.safetensors not found; set -DTUSK_SHARED_DIR to the shared folder";
  test::TempDir dir;
  convert_hf(in, dir.file("a.tusk"), ConvertOptions{}, nullptr);
  convert_hf(in, dir.file("b.tusk"), ConvertOptions{}, nullptr);
  EXPECT_TRUE(test::read_file(dir.file("a.tusk")) == test::read_file(dir.file("b.tusk")))
      << "two conversions of the same checkpoint differ";

  SafetensorsCheckpoint ckpt = SafetensorsCheckpoint::open(in);
  uint64_t expected = 0;
  for (const std::string& name : ckpt.names()) {
    // Copies of model.shared that the converter drops when tied.
    if (name == "lm_head.weight" || name.find(".embed_tokens.") != std::string::npos) continue;
    expected += ckpt.info(name).elements();
  }
  EXPECT_EQ(expected, 24145920u);  // "24.15 M parameters" (TRAINING.md)

  auto file = ModelFile::open(dir.file("a.tusk"), ModelFile::OpenOptions{});
  EXPECT_EQ(file->parameter_count(), expected);
  EXPECT_EQ(file->expert_parameter_count(), 4u * 8u * (2u * 1024u * 256u + 1024u + 256u));
  EXPECT_EQ(file->config().d_model, 256);
  EXPECT_FLOAT_EQ(file->config().expert_output_scale_folded, 0.9f);
  ASSERT_NE(file->find_language("de"), nullptr);
  EXPECT_EQ(file->find_language("de")->token_id, 5);
  EXPECT_EQ(file->languages().size(), 4u);
  EXPECT_FALSE(file->has_tensor("lm_head.weight"));
  int experts = 0;
  for (Stack s : {Stack::Encoder, Stack::Decoder})
    for (int l = 0; l < 4; ++l)
      for (int e = 0; e < 8; ++e) experts += file->has_expert(s, l, e);
  EXPECT_EQ(experts, 32);

  // One expert's fc2 bias, folded, against the checkpoint.
  std::vector<float> bias = ckpt.read_as_f32("model.decoder.layers.3.ffn.experts.expert_5.fc2.bias");
  ExpertWeights w = file->load_expert(Stack::Decoder, 3, 5);
  const TensorView& folded = w.tensor("fc2.bias");
  ASSERT_EQ(static_cast<size_t>(folded.elements()), bias.size());
  for (size_t i = 0; i < bias.size(); ++i) EXPECT_EQ(folded.f32()[i], bias[i] * 0.9f) << i;
}

uint64_t file_size(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 ? static_cast<uint64_t>(st.st_size) : 0;
}

// Issue 3, requirement 4: int4 experts + int8 dense weights in at most 22% of the fp32
// safetensors checkpoint.
TEST(RealModel, Int4ExpertsInt8DenseFitIn22PercentOfTheCheckpoint) {
  const std::string in = test::real_model_dir();
  if (!test::file_exists(in + "/model.safetensors"))
    GTEST_SKIP() << in << "/model.safetensors not found; set -DTUSK_SHARED_DIR to the shared folder";
  test::TempDir dir;
  ConvertOptions o;
  o.experts = WeightFormat::Int4;
  o.dense = WeightFormat::Int8;
  convert_hf(in, dir.file("q.tusk"), o, nullptr);
  const uint64_t checkpoint = file_size(in + "/model.safetensors");
  const uint64_t size = file_size(dir.file("q.tusk"));
  EXPECT_EQ(checkpoint, 96618000u);
  const double ratio = static_cast<double>(size) / static_cast<double>(checkpoint);
  std::printf("int4 experts + int8 dense: %llu bytes = %.2f%% of the fp32 checkpoint (%llu bytes)\n",
              static_cast<unsigned long long>(size), 100.0 * ratio, static_cast<unsigned long long>(checkpoint));
  EXPECT_LE(ratio, 0.22);

  auto file = ModelFile::open(dir.file("q.tusk"), ModelFile::OpenOptions{});
  EXPECT_EQ(file->parameter_count(), 24145920u);
  EXPECT_EQ(file->tensor("model.shared.weight").dtype, DType::I8);
  EXPECT_EQ(file->tensor("model.shared.weight.scales").shape, (std::vector<int64_t>{8000, 1}));
  EXPECT_EQ(file->tensor("model.encoder.layers.0.ffn.fc1.weight").dtype, DType::I8);
  EXPECT_EQ(file->tensor("model.encoder.layers.1.ffn.router.classifier.weight").dtype, DType::F32);
  const ExpertWeights w = file->load_expert(Stack::Decoder, 3, 5);
  EXPECT_EQ(w.tensor("fc1.weight").dtype, DType::I4);
  EXPECT_EQ(w.tensor("fc2.weight.scales").shape, (std::vector<int64_t>{256, 1}));
  float worst = 0;
  for (const TensorInfo& t : file->tensor_infos()) {
    if (!t.stats) continue;
    worst = std::max(worst, t.stats->relative_rms);
    // int8 well under 1%, int4 around 10% relative RMS error.
    EXPECT_LT(t.stats->relative_rms, t.dtype == DType::I4 ? 0.15f : 0.01f) << t.name;
  }
  std::printf("largest relative RMS error of a tensor: %.4f\n", worst);
}

// The measurement behind quantize.h's int4 scale rule: over every expert matrix of the real
// model (fc2 folded as the converter does), per output channel.
TEST(RealModel, Int4ScaleSearchBeatsMaxAbsOverSeven) {
  const std::string in = test::real_model_dir();
  if (!test::file_exists(in + "/model.safetensors"))
    GTEST_SKIP() << in << "/model.safetensors not found; set -DTUSK_SHARED_DIR to the shared folder";
  SafetensorsCheckpoint ckpt = SafetensorsCheckpoint::open(in);
  double norm = 0, searched = 0, plain = 0;
  for (const std::string& name : ckpt.names()) {
    if (name.find(".experts.") == std::string::npos || name.find(".weight") == std::string::npos) continue;
    std::vector<float> w = ckpt.read_as_f32(name);
    if (name.find("fc2.") != std::string::npos)
      for (float& x : w) x *= 0.9f;
    const int64_t n = ckpt.info(name).shape[0], k = ckpt.info(name).shape[1];
    const QuantizedWeights q = quantize_weights(WeightFormat::Int4, w.data(), n, k, 0, name);
    const std::vector<float> d = dequantize_weights(q);
    for (int64_t r = 0; r < n; ++r) {
      const float* row = &w[static_cast<size_t>(r * k)];
      const float s = int4_scale_max_abs(row, static_cast<size_t>(k));
      for (int64_t c = 0; c < k; ++c) {
        const float x = row[c];
        const float p = s == 0 ? 0 : s * std::min(7.0f, std::max(-8.0f, std::round(x / s)));
        const float e = d[static_cast<size_t>(r * k + c)];
        norm += static_cast<double>(x) * x;
        plain += static_cast<double>(x - p) * (x - p);
        searched += static_cast<double>(x - e) * (x - e);
      }
    }
  }
  const double rms_plain = std::sqrt(plain / norm), rms_search = std::sqrt(searched / norm);
  std::printf("int4 experts, relative RMS error: max|w|/7 %.4f, squared-error search %.4f (%.1f%%)\n",
              rms_plain, rms_search, 100.0 * (rms_search / rms_plain - 1.0));
  EXPECT_LT(rms_search, rms_plain);
}

}  // namespace
}  // namespace tusk::format
