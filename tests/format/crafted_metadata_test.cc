// Hand-made files whose header and checksums are valid but whose metadata lies: these reach
// the checks behind the checksum (bounds, alignment, sizes, duplicates, config sanity).
#include <gtest/gtest.h>

#include <zstd.h>

#include <cstring>
#include <functional>

#include "model_format/checksum.h"
#include "tests/format/format_test_util.h"

namespace tusk::format::testing {
namespace {

constexpr uint64_t kWeightsStart = 64;  // assemble_file puts weights right after the header

struct Crafted {
  Bytes weights;  // file bytes from offset 64
  MetadataRecord meta;

  // Copies `bytes` to absolute file offset `at`, growing the weights as needed.
  void place(uint64_t at, const Bytes& bytes) {
    const size_t index = static_cast<size_t>(at - kWeightsStart);
    if (weights.size() < index + bytes.size()) weights.resize(index + bytes.size(), 0);
    std::memcpy(weights.data() + index, bytes.data(), bytes.size());
  }
};

Bytes pattern(size_t n, unsigned char seed) {
  Bytes b(n);
  for (size_t i = 0; i < n; ++i) b[i] = static_cast<unsigned char>(seed + i * 13);
  return b;
}

// A small valid file: dense "w" f32 [4, 4] at 64, "b" f32 [4] at 128; a raw expert
// (encoder 0, 0) at 4096 and a zstd expert (decoder 0, 1) at 8192, each with fc1.weight [2, 4]
// at 0 and fc1.bias [2] at 64 inside the frame.
Crafted valid_crafted() {
  Crafted c;
  c.meta.config = tiny_config();
  c.meta.languages = {{"en", "eng_Latn", 20}};
  c.meta.tokenizer = "spm";
  const Bytes w = pattern(64, 1), b = pattern(16, 2);
  c.place(64, w);
  c.place(128, b);
  c.meta.tensors.push_back({"w", DType::F32, {4, 4}, 64, 64, checksum64(w.data(), w.size())});
  c.meta.tensors.push_back({"b", DType::F32, {4}, 128, 16, checksum64(b.data(), b.size())});

  Bytes raw(72, 0);
  const Bytes fc1 = pattern(32, 3), bias = pattern(8, 4);
  std::memcpy(raw.data(), fc1.data(), 32);
  std::memcpy(raw.data() + 64, bias.data(), 8);
  const std::vector<ExpertTensorRecord> inner = {{"fc1.weight", DType::F32, {2, 4}, 0, 32},
                                                 {"fc1.bias", DType::F32, {2}, 64, 8}};
  c.place(4096, raw);
  c.meta.experts.push_back({Stack::Encoder, 0, 0, 4096, 72, 72, Compression::None,
                            checksum64(raw.data(), raw.size()), inner});

  Bytes zstd(ZSTD_compressBound(raw.size()));
  zstd.resize(ZSTD_compress(zstd.data(), zstd.size(), raw.data(), raw.size(), 3));
  c.place(8192, zstd);
  c.meta.experts.push_back({Stack::Decoder, 0, 1, 8192, zstd.size(), 72, Compression::Zstd,
                            checksum64(zstd.data(), zstd.size()), inner});
  return c;
}

class Crafting : public ::testing::Test {
 protected:
  // Applies `damage` to a valid crafted file, writes it and expects InvalidModel at open with
  // every one of `parts` in the message.
  void expect_rejected(const std::function<void(Crafted&)>& damage,
                       const std::vector<std::string>& parts) {
    Crafted c = valid_crafted();
    damage(c);
    write_bytes(path_, assemble_file(c.weights, c.meta));
    expect_open_error(path_, ErrorCode::InvalidModel, parts);
  }
  uint64_t crafted_file_size() const {
    const Crafted c = valid_crafted();
    return assemble_file(c.weights, c.meta).size();
  }
  ScratchDir dir_;
  std::string path_ = dir_.path("crafted.tusk");
};

TEST_F(Crafting, ValidCraftedFileOpensAndLoads) {
  const Crafted c = valid_crafted();
  write_bytes(path_, assemble_file(c.weights, c.meta));
  auto file = ModelFile::open(path_, {});
  EXPECT_EQ(file->tensor("b").bytes, 16u);
  const ExpertWeights raw = file->load_expert(Stack::Encoder, 0, 0);
  const ExpertWeights zstd = file->load_expert(Stack::Decoder, 0, 1);
  EXPECT_EQ(std::memcmp(raw.tensor("fc1.bias").data, zstd.tensor("fc1.bias").data, 8), 0);
  EXPECT_EQ(file->tokenizer_model(), "spm");
}

// The vocabulary table: read back as written, and every id inside the vocabulary.
TEST_F(Crafting, VocabularyReadsBack) {
  Crafted c = valid_crafted();
  c.meta.vocabulary = {"nllb", {3, 0, 2, 4, -1}, {{"<pad>", 1, true}, {"eng_Latn", 20, true}, {"<x>", 21, false}},
                       Detokenizer::JoinPieces, true};
  write_bytes(path_, assemble_file(c.weights, c.meta));
  auto file = ModelFile::open(path_, {});
  const Vocabulary& v = file->vocabulary();
  EXPECT_EQ(v.kind, "nllb");
  EXPECT_EQ(v.piece_ids, (std::vector<int32_t>{3, 0, 2, 4, -1}));
  ASSERT_EQ(v.added_tokens.size(), 3u);
  EXPECT_EQ(v.added_tokens[2].content, "<x>");
  EXPECT_EQ(v.added_tokens[2].id, 21);
  EXPECT_FALSE(v.added_tokens[2].special);
  EXPECT_EQ(v.detokenizer, Detokenizer::JoinPieces);
  EXPECT_TRUE(v.clean_up_tokenization_spaces);
  // Absent in files from before it: not recorded.
  write_bytes(path_, assemble_file(valid_crafted().weights, valid_crafted().meta));
  EXPECT_FALSE(ModelFile::open(path_, {})->vocabulary().recorded());
}

TEST_F(Crafting, VocabularyOutsideTheModel) {
  auto with = [](Vocabulary v) { return [v](Crafted& c) { c.meta.vocabulary = v; }; };
  expect_rejected(with({"nllb", {0, 32}, {}, Detokenizer::JoinPieces, false}),
                  {"vocabulary maps piece 1 to id 32, outside the vocabulary (32 tokens)"});
  expect_rejected(with({"nllb", {0, -2}, {}, Detokenizer::JoinPieces, false}), {"piece 1 to id -2"});
  expect_rejected(with({"nllb", {0}, {{"<m>", 40, true}}, Detokenizer::JoinPieces, false}),
                  {"added token '<m>' has id 40"});
  expect_rejected(with({"nllb", {0}, {{"<m>", 4, true}, {"<n>", 4, true}}, Detokenizer::JoinPieces, false}),
                  {"two added tokens with id 4"});
  expect_rejected(with({"nllb", {0}, {{"", 4, true}}, Detokenizer::JoinPieces, false}), {"empty text"});
  expect_rejected(with({"bpe", {0}, {}, Detokenizer::JoinPieces, false}), {"vocabulary kind 'bpe' is unknown"});
  expect_rejected(with({"nllb", {0}, {}, static_cast<Detokenizer>(9), false}), {"detokenizer 9 is unknown"});
}

// The byte layout of packed weights: recorded, or implied by the dtype in older files, and
// always one that stores the tensor's dtype.
TEST_F(Crafting, WeightLayoutIsRecordedOrImplied) {
  Crafted c = valid_crafted();
  c.meta.tensors[0].dtype = DType::F16;  // "w" [4, 4]: 32 bytes of halves
  c.meta.tensors[0].size = 32;
  c.meta.tensors[0].checksum = checksum64(c.weights.data(), 32);
  write_bytes(path_, assemble_file(c.weights, c.meta));
  EXPECT_EQ(ModelFile::open(path_, {})->tensor("w").layout, weight_layout::Layout::F16);  // implied
  c.meta.tensors[0].layout = weight_layout::Layout::F16;
  write_bytes(path_, assemble_file(c.weights, c.meta));
  EXPECT_EQ(ModelFile::open(path_, {})->tensor("w").layout, weight_layout::Layout::F16);  // recorded
  EXPECT_FALSE(ModelFile::open(path_, {})->tensor("b").layout.has_value());               // f32
  c.meta.tensors[0].layout = weight_layout::Layout::Int4;
  write_bytes(path_, assemble_file(c.weights, c.meta));
  expect_open_error(path_, ErrorCode::InvalidModel, {"tensor 'w' has layout int4, which does not store dtype f16"});
  c.meta.tensors[0].layout = std::nullopt;
  c.meta.tensors[1].layout = weight_layout::Layout::F16;
  write_bytes(path_, assemble_file(c.weights, c.meta));
  expect_open_error(path_, ErrorCode::InvalidModel, {"tensor 'b' has layout fp16, which does not store dtype f32"});
}

TEST_F(Crafting, TensorPastEndOfFile) {
  const uint64_t size = crafted_file_size();
  const uint64_t offset = (size - 1) / 64 * 64;  // aligned, and its 64 bytes run past the end
  expect_rejected([&](Crafted& c) { c.meta.tensors[0].offset = offset; },
                  {"crafted.tusk: tensor 'w' ends at byte " + std::to_string(offset + 64) +
                   " past end of file (" + std::to_string(size) + " bytes)"});
}

TEST_F(Crafting, TensorOffsetOverflows) {
  expect_rejected([](Crafted& c) { c.meta.tensors[0].offset = UINT64_MAX - 63; },
                  {"tensor 'w'", "overflow"});
}

TEST_F(Crafting, TensorMisaligned) {
  expect_rejected([](Crafted& c) { c.meta.tensors[0].offset = 96; }, {"tensor 'w'", "64-byte aligned"});
}

TEST_F(Crafting, TensorInsideHeader) {
  expect_rejected([](Crafted& c) { c.meta.tensors[0].offset = 0; }, {"tensor 'w'", "header"});
}

TEST_F(Crafting, TensorOverlapsMetadata) {
  const uint64_t size = crafted_file_size();
  expect_rejected([&](Crafted& c) { c.meta.tensors[1].offset = (size - 16) / 64 * 64; c.meta.tensors[1].size = 16; },
                  {"tensor 'b'", "overlaps the metadata"});
}

TEST_F(Crafting, TensorSizeDisagreesWithShape) {
  expect_rejected([](Crafted& c) { c.meta.tensors[0].size = 60; },
                  {"tensor 'w' is 60 bytes, but f32 [4, 4] needs 64"});
}

TEST_F(Crafting, TensorShapeInvalid) {
  expect_rejected([](Crafted& c) { c.meta.tensors[0].shape = {4, 0}; }, {"tensor 'w' has invalid shape [4, 0]"});
  expect_rejected([](Crafted& c) { c.meta.tensors[0].shape = {-4, -4}; }, {"invalid shape"});
  expect_rejected([](Crafted& c) { c.meta.tensors[0].shape = {1LL << 32, 1LL << 32, 4}; },
                  {"invalid shape"});
  expect_rejected([](Crafted& c) { c.meta.tensors[0].shape = {1LL << 62}; }, {"too large"});
  expect_rejected([](Crafted& c) { c.meta.tensors[0].shape = std::vector<int64_t>(9, 1); },
                  {"invalid shape"});
}

TEST_F(Crafting, TensorUnknownDtype) {
  expect_rejected([](Crafted& c) { c.meta.tensors[0].dtype = static_cast<DType>(77); },
                  {"tensor 'w' has unknown dtype 77"});
}

TEST_F(Crafting, TensorNamesMustBeUniqueAndNonEmpty) {
  expect_rejected([](Crafted& c) { c.meta.tensors[1].name = "w"; c.meta.tensors[1].shape = {4, 4};
                                   c.meta.tensors[1].size = 64; c.meta.tensors[1].offset = 192;
                                   c.place(192, Bytes(64, 0)); },
                  {"tensor 'w' appears twice"});
  expect_rejected([](Crafted& c) { c.meta.tensors[1].name.clear(); }, {"empty name"});
}

TEST_F(Crafting, HostileNamesArePrintedSafely) {
  expect_rejected([](Crafted& c) { c.meta.tensors[0].name = std::string("a\nb\x01") + std::string(200, 'z');
                                   c.meta.tensors[0].size = 1; },
                  {"tensor 'a\\x0ab\\x01zzz", "...'"});
}

TEST_F(Crafting, ConfigSanity) {
  expect_rejected([](Crafted& c) { c.meta.config.d_model = 0; }, {"config d_model must be positive (is 0)"});
  expect_rejected([](Crafted& c) { c.meta.config.decoder_heads = 3; }, {"decoder_heads must divide d_model 8 (is 3)"});
  expect_rejected([](Crafted& c) { c.meta.config.vocab_size = -5; }, {"vocab_size"});
  expect_rejected([](Crafted& c) { c.meta.config.eos_id = 32; }, {"eos_id must be below vocab_size 32"});
  expect_rejected([](Crafted& c) { c.meta.config.experts_per_token = 3; }, {"experts_per_token"});
  expect_rejected([](Crafted& c) { c.meta.config.layer_norm_eps = -1.0f; }, {"layer_norm_eps"});
  expect_rejected([](Crafted& c) { c.meta.config.encoder_ffn_dim = 0; }, {"encoder_ffn_dim"});
  expect_rejected([](Crafted& c) { c.meta.config.num_experts = 0; c.meta.experts.clear(); },
                  {"sparse layers"});
}

TEST_F(Crafting, LanguageTable) {
  expect_rejected([](Crafted& c) { c.meta.languages[0].token_id = 32; },
                  {"language 'en' has token id 32, outside the vocabulary (32 tokens)"});
  expect_rejected([](Crafted& c) { c.meta.languages.push_back({"en", "eng_Latn", 3}); },
                  {"language 'en' appears twice"});
  expect_rejected([](Crafted& c) { c.meta.languages[0].code.clear(); }, {"empty code"});
}

TEST_F(Crafting, ExpertIndexOutOfRange) {
  expect_rejected([](Crafted& c) { c.meta.experts[0].layer = 1; },
                  {"expert frame (encoder layer 1, expert 0) names a layer outside the encoder"});
  expect_rejected([](Crafted& c) { c.meta.experts[0].expert = 2; }, {"outside the model (2 experts)"});
  expect_rejected([](Crafted& c) { c.meta.experts[0].stack = static_cast<Stack>(5); }, {"unknown stack 5"});
}

TEST_F(Crafting, DuplicateExpert) {
  expect_rejected([](Crafted& c) { c.meta.experts[1].stack = Stack::Encoder; c.meta.experts[1].expert = 0; },
                  {"expert frame (encoder layer 0, expert 0) appears twice"});
}

TEST_F(Crafting, ExpertFrameBounds) {
  const uint64_t size = crafted_file_size();
  expect_rejected([](Crafted& c) { c.meta.experts[0].offset = 4096 + 64; }, {"4096-byte aligned"});
  expect_rejected([&](Crafted& c) { c.meta.experts[1].stored_size = size; }, {"past end of file"});
  expect_rejected([](Crafted& c) { c.meta.experts[1].offset = UINT64_MAX - 4095; c.meta.experts[1].stored_size = 8192; },
                  {"overflow"});
  expect_rejected([](Crafted& c) { c.meta.experts[0].raw_size = 80; }, {"stored raw", "differs"});
  expect_rejected([](Crafted& c) { c.meta.experts[1].raw_size = 1ULL << 40; }, {"decoded bytes"});
  expect_rejected([](Crafted& c) { c.meta.experts[1].compression = static_cast<Compression>(9); },
                  {"unknown compression 9"});
  expect_rejected([](Crafted& c) { c.meta.experts[1].tensors.clear(); }, {"holds no tensors"});
}

TEST_F(Crafting, ExpertInnerTensors) {
  expect_rejected([](Crafted& c) { c.meta.experts[0].tensors[1].offset = 96; }, {"fc1.bias", "64-byte aligned"});
  expect_rejected([](Crafted& c) { c.meta.experts[0].tensors[1].offset = 128; },
                  {"tensor 'fc1.bias' ends past the decoded frame (72 bytes)"});
  expect_rejected([](Crafted& c) { c.meta.experts[0].tensors[1].offset = UINT64_MAX - 63; },
                  {"ends past the decoded frame"});
  expect_rejected([](Crafted& c) { c.meta.experts[0].tensors[1].size = 12; }, {"fc1.bias' is 12 bytes"});
  expect_rejected([](Crafted& c) { c.meta.experts[0].tensors[1].name = "fc1.weight"; },
                  {"tensor 'fc1.weight' appears twice"});
}

// The index passes every check at open but does not match the frame: caught at load.
TEST_F(Crafting, ZstdFrameDisagreeingWithIndexFailsAtLoad) {
  Crafted c = valid_crafted();
  ExpertRecord& e = c.meta.experts[1];
  e.raw_size = 128;
  e.tensors[1].offset = 64;
  write_bytes(path_, assemble_file(c.weights, c.meta));
  auto file = ModelFile::open(path_, {});
  try {
    file->load_expert(Stack::Decoder, 0, 1);
    FAIL();
  } catch (const Error& error) {
    EXPECT_EQ(error.code(), ErrorCode::InvalidModel);
    EXPECT_NE(std::string(error.what()).find("does not declare 128 decoded bytes"), std::string::npos)
        << error.what();
  }
}

TEST_F(Crafting, ZstdFrameWithTrailingBytesFailsAtLoad) {
  Crafted c = valid_crafted();
  ExpertRecord& e = c.meta.experts[1];
  c.place(8192 + e.stored_size, Bytes(5, 0xab));
  e.stored_size += 5;
  e.checksum = checksum64(c.weights.data() + (8192 - kWeightsStart), e.stored_size);
  write_bytes(path_, assemble_file(c.weights, c.meta));
  auto file = ModelFile::open(path_, {});
  EXPECT_THROW(file->load_expert(Stack::Decoder, 0, 1), Error);
}

TEST_F(Crafting, RawExpertStoredAsZstdFailsAtLoad) {
  Crafted c = valid_crafted();
  c.meta.experts[0].compression = Compression::Zstd;
  write_bytes(path_, assemble_file(c.weights, c.meta));
  auto file = ModelFile::open(path_, {});
  EXPECT_THROW(file->load_expert(Stack::Encoder, 0, 0), Error);
}

}  // namespace
}  // namespace tusk::format::testing
