// Converting the real multi30k-moe checkpoint (96 MB). Label "model".
#include <gtest/gtest.h>

#include "model_format/convert_hf.h"
#include "model_format/model_file.h"
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

}  // namespace
}  // namespace tusk::format
