#include <gtest/gtest.h>

#include <cstring>

#include "model_format/file_layout.h"
#include "model_format/metadata_reader.h"
#include "tests/format/format_test_util.h"

namespace tusk::format::testing {
namespace {

bool aligned(const void* p, size_t alignment) {
  return reinterpret_cast<uintptr_t>(p) % alignment == 0;
}

template <typename T>
void expect_bytes_equal(const TensorView& view, const std::vector<T>& expected) {
  ASSERT_EQ(view.bytes, expected.size() * sizeof(T));
  EXPECT_EQ(std::memcmp(view.data, expected.data(), view.bytes), 0);
}

// The records the file itself holds (compression choice, offsets), read back through the same
// checks the reader uses.
MetadataRecord records_of(const Bytes& file) {
  FileExtent extent{file.size(), metadata_offset(file), metadata_size(file)};
  return read_metadata(file.data() + extent.metadata_offset, extent, "test").records;
}

class RoundTrip : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = dir_.path("model.tusk");
    write_tiny_model(path_, model_);
    file_ = ModelFile::open(path_, ModelFile::OpenOptions{true});
  }
  ScratchDir dir_;
  std::string path_;
  TinyModel model_ = make_tiny_model();
  std::shared_ptr<const ModelFile> file_;
};

TEST_F(RoundTrip, ConfigLanguagesAndTokenizer) {
  const ModelConfig& c = file_->config();
  EXPECT_EQ(file_->format_version(), 1u);
  EXPECT_EQ(c.architecture, "nllb-moe");
  EXPECT_EQ(c.vocab_size, 32);
  EXPECT_EQ(c.d_model, 8);
  EXPECT_EQ(c.encoder_heads, 2);
  EXPECT_EQ(c.num_experts, 2);
  EXPECT_EQ(c.experts_per_token, 2);
  EXPECT_EQ(c.pad_id, 1);
  EXPECT_EQ(c.scale_embedding, true);
  EXPECT_EQ(c.layer_norm_eps, 1e-5f);
  EXPECT_EQ(c.activation, "relu");
  EXPECT_EQ(c.expert_output_scale_folded, 0.8f);

  ASSERT_EQ(file_->languages().size(), 2u);
  EXPECT_EQ(file_->languages()[0].code, "en");
  const Language* de = file_->find_language("de");
  ASSERT_NE(de, nullptr);
  EXPECT_EQ(de->token, "deu_Latn");
  EXPECT_EQ(de->token_id, 21);
  EXPECT_EQ(file_->find_language("fr"), nullptr);

  EXPECT_EQ(file_->tokenizer_model(), model_.tokenizer);
  EXPECT_EQ(file_->file_size(), read_bytes(path_).size());
}

TEST_F(RoundTrip, DenseTensorsAreAlignedViewsWithTheSameBytes) {
  ASSERT_EQ(file_->tensors().size(), 4u);
  EXPECT_EQ(file_->tensors()[0].first, "embed");  // sorted by name
  const TensorView& embed = file_->tensor("embed");
  EXPECT_EQ(embed.dtype, DType::F32);
  EXPECT_EQ(embed.shape, (std::vector<int64_t>{32, 8}));
  EXPECT_EQ(embed.elements(), 256);
  expect_bytes_equal(embed, model_.embed);
  expect_bytes_equal(file_->tensor("norm.weight"), model_.norm);
  const TensorView& packed = file_->tensor("packed");
  EXPECT_EQ(packed.dtype, DType::I4);
  EXPECT_EQ(packed.shape, (std::vector<int64_t>{2, 64}));
  expect_bytes_equal(packed, model_.packed);
  expect_bytes_equal(file_->tensor("packed.scales"), model_.packed_scales);
  for (const auto& entry : file_->tensors()) {
    EXPECT_TRUE(aligned(entry.second.data, 64)) << entry.first;
  }
  EXPECT_TRUE(file_->has_tensor("norm.weight"));
  EXPECT_FALSE(file_->has_tensor("norm"));
}

TEST_F(RoundTrip, MissingTensorNamesIt) {
  try {
    file_->tensor("decoder.missing");
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::InvalidModel);
    EXPECT_NE(std::string(e.what()).find("'decoder.missing'"), std::string::npos) << e.what();
  }
}

TEST_F(RoundTrip, ExpertsDecodeToTheSameBytesAligned) {
  EXPECT_TRUE(file_->has_expert(Stack::Encoder, 0, 1));
  EXPECT_FALSE(file_->has_expert(Stack::Decoder, 0, 0));
  EXPECT_FALSE(file_->has_expert(Stack::Encoder, 0, 2));
  const struct {
    int index;
    const std::vector<float>& fc1;
    const std::vector<float>& fc2;
  } cases[] = {{0, model_.zeros_fc1, model_.zeros_fc2}, {1, model_.random_fc1, model_.random_fc2}};
  for (const auto& c : cases) {
    const ExpertWeights w = file_->load_expert(Stack::Encoder, 0, c.index);
    EXPECT_EQ(w.tensors().size(), 4u);
    expect_bytes_equal(w.tensor("fc1.weight"), c.fc1);
    expect_bytes_equal(w.tensor("fc2.weight"), c.fc2);
    expect_bytes_equal(w.tensor("fc1.bias"), model_.bias_fc1);
    expect_bytes_equal(w.tensor("fc2.bias"), model_.bias_fc2);
    EXPECT_EQ(w.tensor("fc2.weight").shape, (std::vector<int64_t>{8, 16}));
    for (const auto& entry : w.tensors()) EXPECT_TRUE(aligned(entry.second.data, 64)) << entry.first;
    EXPECT_THROW(w.tensor("fc3.weight"), Error);
    // raw_size: 512 + 64 + 512 + 32, each tensor 64-aligned in the frame.
    EXPECT_EQ(file_->expert_raw_bytes(Stack::Encoder, 0, c.index), 1120u);
  }
  EXPECT_THROW(file_->load_expert(Stack::Decoder, 0, 0), Error);
  EXPECT_THROW(file_->expert_raw_bytes(Stack::Decoder, 0, 0), Error);
}

// Direct (O_DIRECT) and buffered reads, into fresh or reused storage, give the same bytes for
// a zstd frame (expert 0) and a raw one (expert 1).
TEST_F(RoundTrip, DirectAndReusedLoadsGiveTheSameBytes) {
  ExpertWeights reused;
  for (const bool direct : {false, true, true, false}) {
    for (int index : {0, 1, 1, 0}) {
      SCOPED_TRACE(std::string(direct ? "direct" : "buffered") + " expert " + std::to_string(index));
      file_->load_expert(Stack::Encoder, 0, index, reused, direct);
      const auto& fc1 = index == 0 ? model_.zeros_fc1 : model_.random_fc1;
      const auto& fc2 = index == 0 ? model_.zeros_fc2 : model_.random_fc2;
      expect_bytes_equal(reused.tensor("fc1.weight"), fc1);
      expect_bytes_equal(reused.tensor("fc2.weight"), fc2);
      expect_bytes_equal(reused.tensor("fc2.bias"), model_.bias_fc2);
      for (const auto& entry : reused.tensors()) EXPECT_TRUE(aligned(entry.second.data, 64)) << entry.first;
    }
  }
}

TEST_F(RoundTrip, CopiedExpertWeightsOwnAlignedBytes) {
  ExpertWeights copy;
  {
    const ExpertWeights original = file_->load_expert(Stack::Encoder, 0, 1);
    copy = original;
    EXPECT_NE(copy.tensor("fc1.weight").data, original.tensor("fc1.weight").data);
  }
  expect_bytes_equal(copy.tensor("fc1.weight"), model_.random_fc1);
  expect_bytes_equal(copy.tensor("fc2.bias"), model_.bias_fc2);
  for (const auto& entry : copy.tensors()) EXPECT_TRUE(aligned(entry.second.data, 64));
  ExpertWeights moved = std::move(copy);
  expect_bytes_equal(moved.tensor("fc1.weight"), model_.random_fc1);
}

TEST_F(RoundTrip, CompressionChosenPerFrameAndFramesAligned) {
  const MetadataRecord records = records_of(read_bytes(path_));
  ASSERT_EQ(records.experts.size(), 2u);
  const ExpertRecord& zeros = records.experts[0];
  const ExpertRecord& random = records.experts[1];
  EXPECT_EQ(zeros.compression, Compression::Zstd);
  EXPECT_LT(zeros.stored_size, zeros.raw_size);
  EXPECT_EQ(random.compression, Compression::None);
  EXPECT_EQ(random.stored_size, random.raw_size);
  for (const ExpertRecord& e : records.experts) EXPECT_EQ(e.offset % 4096, 0u);
  for (const DenseTensorRecord& t : records.tensors) EXPECT_EQ(t.offset % 64, 0u);
  // The metadata comes last: nothing follows it.
  const Bytes bytes = read_bytes(path_);
  EXPECT_EQ(metadata_offset(bytes) + metadata_size(bytes), bytes.size());
  EXPECT_EQ(std::memcmp(bytes.data(), "TUSK", 4), 0);
}

TEST_F(RoundTrip, StatsAndParameterCounts) {
  const uint64_t expert_params = 2 * (16 * 8 + 16 + 8 * 16 + 8);
  EXPECT_EQ(file_->expert_parameter_count(), expert_params);
  // Scales are quantization data, not parameters.
  EXPECT_EQ(file_->parameter_count(), expert_params + 32 * 8 + 8 + 2 * 64);
  const std::vector<SectionStats> stats = file_->section_stats();
  ASSERT_EQ(stats.size(), 4u);
  EXPECT_EQ(stats[0].kind, "dense");
  EXPECT_EQ(stats[0].items, 4u);
  EXPECT_EQ(stats[0].stored_bytes, 32u * 8 * 4 + 8 * 4 + 64 + 2 * 4);
  EXPECT_EQ(stats[1].kind, "experts");
  EXPECT_EQ(stats[1].items, 2u);
  EXPECT_EQ(stats[1].raw_bytes, 2u * 1120);
  EXPECT_LT(stats[1].stored_bytes, stats[1].raw_bytes);
  EXPECT_EQ(stats[2].kind, "metadata");
  EXPECT_EQ(stats[3].kind, "tokenizer");
  EXPECT_EQ(stats[3].stored_bytes, model_.tokenizer.size());
  const Bytes bytes = read_bytes(path_);
  EXPECT_EQ(stats[2].stored_bytes + stats[3].stored_bytes, metadata_size(bytes));
}

TEST_F(RoundTrip, ModelOutlivesNothingButItsPointer) {
  // Views stay valid while the shared_ptr lives; a second open maps independently.
  auto second = ModelFile::open(path_, ModelFile::OpenOptions{false});
  file_.reset();
  expect_bytes_equal(second->tensor("embed"), model_.embed);
}

}  // namespace
}  // namespace tusk::format::testing
