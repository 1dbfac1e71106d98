// convert_hf on a tiny synthetic NLLB-MoE checkpoint, read back with ModelFile.
#include "model_format/convert_hf.h"

#include <dirent.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <cstring>

#include "model_format/float16.h"
#include "model_format/model_file.h"
#include "model_format/safetensors.h"
#include "test_helpers.h"

namespace tusk::format {
namespace {

using test::expect_error;
using test::read_file;
using test::StTensor;
using test::TempDir;
using test::TinyModel;

std::string real_sentencepiece() {
  return read_file(test::real_model_dir() + "/sentencepiece.model");
}

bool have_real_sentencepiece() { return test::file_exists(test::real_model_dir() + "/sentencepiece.model"); }

#define REQUIRE_REAL_SENTENCEPIECE()                                                              \
  if (!have_real_sentencepiece())                                                                 \
  GTEST_SKIP() << "needs " << test::real_model_dir() << "/sentencepiece.model (set TUSK_SHARED_DIR)"

std::vector<std::string> folder_entries(const std::string& dir) {
  std::vector<std::string> out;
  if (DIR* d = opendir(dir.c_str())) {
    while (dirent* e = readdir(d))
      if (std::strcmp(e->d_name, ".") != 0 && std::strcmp(e->d_name, "..") != 0) out.push_back(e->d_name);
    closedir(d);
  }
  return out;
}

std::vector<float> view_values(const TensorView& v) {
  EXPECT_EQ(v.dtype, DType::F32);
  return std::vector<float>(v.f32(), v.f32() + v.elements());
}

bool is_expert_tensor(const std::string& name) { return name.find(".ffn.experts.") != std::string::npos; }

class Convert : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!have_real_sentencepiece()) return;
    sp_ = real_sentencepiece();
  }
  // Writes the checkpoint into a fresh subfolder and converts it; returns the .tusk path.
  std::string convert(const std::vector<StTensor>& tensors, int shards = 1, const std::string& config = "",
                      ProgressSink* progress = nullptr, const std::string& name = "") {
    const std::string tag = name.empty() ? std::to_string(count_++) : name;
    const std::string in = dir_.file("hf_" + tag);
    mkdir(in.c_str(), 0755);
    test::write_checkpoint(in, config.empty() ? model_.config_json : config, tensors, sp_, shards);
    const std::string out = dir_.file("out_" + tag + ".tusk");
    convert_hf(in, out, ConvertOptions{}, progress);
    return out;
  }
  std::string input_dir(const std::string& tag) const { return dir_.file("hf_" + tag); }

  TempDir dir_;
  TinyModel model_ = test::tiny_model();
  std::string sp_;
  int count_ = 0;
};

TEST_F(Convert, TinyModelReadsBack) {
  REQUIRE_REAL_SENTENCEPIECE();
  const std::string out = convert(model_.tensors);
  auto file = ModelFile::open(out, ModelFile::OpenOptions{});
  const ModelConfig& c = file->config();
  EXPECT_EQ(c.architecture, "nllb-moe");
  EXPECT_EQ(c.d_model, 8);
  EXPECT_EQ(c.vocab_size, 8000);
  EXPECT_EQ(c.encoder_layers, 2);
  EXPECT_EQ(c.num_experts, 2);
  EXPECT_EQ(c.encoder_sparse_step, 2);
  EXPECT_FLOAT_EQ(c.expert_output_scale_folded, 0.75f);
  EXPECT_EQ(file->tokenizer_model(), sp_);

  ASSERT_EQ(file->languages().size(), 4u);
  for (auto [code, token, id] : {std::tuple{"en", "eng_Latn", 4}, {"de", "deu_Latn", 5}, {"fr", "fra_Latn", 6},
                                 {"cs", "ces_Latn", 7}}) {
    const Language* lang = file->find_language(code);
    ASSERT_NE(lang, nullptr) << code;
    EXPECT_EQ(lang->token, token);
    EXPECT_EQ(lang->token_id, id);
  }

  uint64_t params = 0, dense = 0;
  for (const StTensor& t : model_.tensors) {
    params += t.bytes.size() / 4;
    if (is_expert_tensor(t.name)) continue;
    ++dense;
    ASSERT_TRUE(file->has_tensor(t.name)) << t.name;
    EXPECT_EQ(file->tensor(t.name).shape, t.shape) << t.name;
    EXPECT_EQ(view_values(file->tensor(t.name)), model_.values(t.name)) << t.name;
  }
  EXPECT_EQ(file->tensors().size(), dense);
  EXPECT_FALSE(file->has_tensor("lm_head.weight"));
  EXPECT_EQ(file->parameter_count(), params);

  for (Stack stack : {Stack::Encoder, Stack::Decoder}) {
    const std::string root = stack == Stack::Encoder ? "model.encoder" : "model.decoder";
    EXPECT_FALSE(file->has_expert(stack, 0, 0));  // layer 0 is dense
    for (int e = 0; e < 2; ++e) {
      ASSERT_TRUE(file->has_expert(stack, 1, e));
      ExpertWeights w = file->load_expert(stack, 1, e);
      const std::string p = root + ".layers.1.ffn.experts.expert_" + std::to_string(e) + ".";
      EXPECT_EQ(view_values(w.tensor("fc1.weight")), model_.values(p + "fc1.weight"));
      EXPECT_EQ(view_values(w.tensor("fc1.bias")), model_.values(p + "fc1.bias"));
      EXPECT_EQ(w.tensor("fc1.weight").shape, (std::vector<int64_t>{16, 8}));
      EXPECT_EQ(w.tensor("fc2.weight").shape, (std::vector<int64_t>{8, 16}));
      // fc2 carries the folded (1 - moe_token_dropout) = 0.75 (exact on these values).
      for (const char* fc2 : {"fc2.weight", "fc2.bias"}) {
        std::vector<float> expected = model_.values(p + fc2);
        for (float& v : expected) v *= 0.75f;
        EXPECT_EQ(view_values(w.tensor(fc2)), expected) << p << fc2;
      }
    }
  }
}

TEST_F(Convert, SameInputSameBytes) {
  REQUIRE_REAL_SENTENCEPIECE();
  const std::string a = convert(model_.tensors);
  const std::string b = convert(model_.tensors);
  EXPECT_EQ(read_file(a), read_file(b));
}

TEST_F(Convert, ShardedAndSingleFileGiveTheSameBytes) {
  REQUIRE_REAL_SENTENCEPIECE();
  const std::string single = convert(model_.tensors, 1);
  const std::string sharded = convert(model_.tensors, 3);
  ASSERT_TRUE(test::file_exists(input_dir("1") + "/model-00003-of-00003.safetensors"));
  EXPECT_EQ(read_file(single), read_file(sharded));
}

TEST_F(Convert, HalfPrecisionInputsBecomeF32) {
  REQUIRE_REAL_SENTENCEPIECE();
  std::vector<StTensor> tensors = model_.tensors;
  std::map<std::string, std::vector<float>> expected;
  int i = 0;
  for (StTensor& t : tensors) {
    std::vector<uint16_t> halves(t.bytes.size() / 4);
    const bool bf16 = i++ % 2 == 0;
    for (size_t k = 0; k < halves.size(); ++k) {
      uint32_t bits;
      std::memcpy(&bits, t.bytes.data() + 4 * k, 4);
      // bf16: the top half of the float; f16: a spread of patterns including subnormals.
      halves[k] = bf16 ? static_cast<uint16_t>(bits >> 16) : static_cast<uint16_t>((bits >> 13) % 0x7c00);
    }
    std::vector<float>& want = expected[t.name];
    for (uint16_t h : halves) want.push_back(bf16 ? bf16_to_f32(h) : f16_to_f32(h));
    t.dtype = bf16 ? "BF16" : "F16";
    t.bytes = test::u16_bytes(halves);
  }
  auto file = ModelFile::open(convert(tensors), ModelFile::OpenOptions{});
  for (const auto& [name, values] : expected) {
    if (is_expert_tensor(name)) continue;
    EXPECT_EQ(view_values(file->tensor(name)), values) << name;
  }
  ExpertWeights w = file->load_expert(Stack::Decoder, 1, 1);
  EXPECT_EQ(view_values(w.tensor("fc1.weight")), expected["model.decoder.layers.1.ffn.experts.expert_1.fc1.weight"]);
}

TEST_F(Convert, TiedCopiesAreDroppedUntiedLmHeadKept) {
  REQUIRE_REAL_SENTENCEPIECE();
  const StTensor& shared = model_.tensor("model.shared.weight");
  std::vector<StTensor> tied = model_.tensors;
  for (const char* copy : {"lm_head.weight", "model.encoder.embed_tokens.weight", "model.decoder.embed_tokens.weight"})
    tied.push_back({copy, "F32", shared.shape, shared.bytes});
  const std::string plain = convert(model_.tensors);
  EXPECT_EQ(read_file(convert(tied)), read_file(plain));

  std::vector<StTensor> untied = model_.tensors;
  std::string other = shared.bytes;
  other[5] ^= 0x40;
  untied.push_back({"lm_head.weight", "F32", shared.shape, other});
  // tie_word_embeddings true (the default): transformers overwrites lm_head with
  // model.shared on load, and so does the converter.
  EXPECT_EQ(read_file(convert(untied)), read_file(plain));
  // false: the stored head is the model's.
  auto file = ModelFile::open(convert(untied, 1, test::tiny_config_json(R"({"tie_word_embeddings": false})")),
                              ModelFile::OpenOptions{});
  ASSERT_TRUE(file->has_tensor("lm_head.weight"));
  EXPECT_EQ(file->tensor("lm_head.weight").shape, shared.shape);
  EXPECT_EQ(std::string(static_cast<const char*>(file->tensor("lm_head.weight").data), other.size()), other);
}

// A copy of model.shared in another dtype is compared by value (piece by piece).
TEST_F(Convert, TiedCopyInAnotherDTypeIsComparedByValue) {
  REQUIRE_REAL_SENTENCEPIECE();
  const std::vector<float> shared = model_.values("model.shared.weight");  // k / 1024: exact in f16
  std::vector<uint16_t> halves;
  for (float v : shared) halves.push_back(f32_to_f16(v));
  std::vector<StTensor> tensors = model_.tensors;
  tensors.push_back({"model.encoder.embed_tokens.weight", "F16", model_.tensor("model.shared.weight").shape,
                     test::u16_bytes(halves)});
  EXPECT_EQ(read_file(convert(tensors)), read_file(convert(model_.tensors)));
  halves.back() ^= 1;
  tensors.back().bytes = test::u16_bytes(halves);
  expect_error([&] { convert(tensors); }, ErrorCode::Unsupported, {"model.encoder.embed_tokens.weight", "differs"});
}

// Shards in different dtypes (F32, F16, BF16), as a checkpoint re-saved in parts can be.
TEST_F(Convert, MixedDTypesAcrossShards) {
  REQUIRE_REAL_SENTENCEPIECE();
  std::vector<StTensor> tensors = model_.tensors;
  std::map<std::string, std::vector<float>> expected;
  for (size_t i = 0; i < tensors.size(); ++i) {
    StTensor& t = tensors[i];
    std::vector<float>& want = expected[t.name];
    want = model_.values(t.name);
    if (i % 3 == 0) continue;  // shard 1 stays F32 (write_checkpoint deals tensors round-robin)
    std::vector<uint16_t> halves;
    for (float& v : want) {
      uint32_t bits;
      std::memcpy(&bits, &v, 4);
      const uint16_t h = i % 3 == 1 ? f32_to_f16(v) : static_cast<uint16_t>(bits >> 16);
      halves.push_back(h);
      v = i % 3 == 1 ? f16_to_f32(h) : bf16_to_f32(h);
    }
    t.dtype = i % 3 == 1 ? "F16" : "BF16";
    t.bytes = test::u16_bytes(halves);
  }
  const std::string path = convert(tensors, 3);
  auto file = ModelFile::open(path, ModelFile::OpenOptions{});
  for (const auto& [name, values] : expected) {
    if (is_expert_tensor(name)) continue;
    EXPECT_EQ(view_values(file->tensor(name)), values) << name;
  }
  ExpertWeights w = file->load_expert(Stack::Encoder, 1, 0);
  EXPECT_EQ(view_values(w.tensor("fc2.bias")).size(), expected["model.encoder.layers.1.ffn.experts.expert_0.fc2.bias"].size());
}

TEST_F(Convert, ProgressCountsEveryItemAndCancels) {
  REQUIRE_REAL_SENTENCEPIECE();
  struct Recorder : ProgressSink {
    std::vector<unsigned long long> done;
    unsigned long long total = 0;
    std::vector<std::string> what;
    unsigned long long cancel_at = 0;
    bool report(unsigned long long d, unsigned long long t, const char* w) override {
      done.push_back(d);
      total = t;
      what.push_back(w);
      return d != cancel_at;
    }
  } progress;
  convert(model_.tensors, 1, "", &progress);
  size_t experts = 4, dense = 0;
  for (const StTensor& t : model_.tensors) dense += !is_expert_tensor(t.name);
  ASSERT_EQ(progress.done.size(), dense + experts);
  EXPECT_EQ(progress.total, dense + experts);
  for (size_t i = 0; i < progress.done.size(); ++i) EXPECT_EQ(progress.done[i], i + 1);
  EXPECT_EQ(progress.what.back(), "model.decoder.layers.1.ffn.experts.expert_1");

  Recorder cancel;
  cancel.cancel_at = 3;
  const std::string out_dir = dir_.file("cancel_out");
  mkdir(out_dir.c_str(), 0755);
  test::write_checkpoint(dir_.path() + "/", model_.config_json, model_.tensors, sp_);
  expect_error([&] { convert_hf(dir_.path(), out_dir + "/m.tusk", ConvertOptions{}, &cancel); },
               ErrorCode::Cancelled, {"cancelled"});
  EXPECT_EQ(cancel.done.size(), 3u);
  EXPECT_TRUE(folder_entries(out_dir).empty()) << "the writer's temporary file was left behind";
}

// ---- the checkpoint disagrees with config.json: clear errors, no output ----

class ConvertRejects : public Convert {
 protected:
  void expect_rejected(const std::vector<StTensor>& tensors, ErrorCode code,
                       std::initializer_list<const char*> fragments, const std::string& config = "") {
    const std::string tag = "bad" + std::to_string(count_++);
    const std::string in = input_dir(tag);
    mkdir(in.c_str(), 0755);
    test::write_checkpoint(in, config.empty() ? model_.config_json : config, tensors,
                           sp_.empty() ? test::sentencepiece_model({"<s>", "<pad>", "</s>", "<unk>"}) : sp_);
    const std::string out = dir_.file(tag + ".tusk");
    expect_error([&] { convert_hf(in, out, ConvertOptions{}, nullptr); }, code, fragments);
    EXPECT_FALSE(test::file_exists(out));
  }
  std::vector<StTensor> without(const std::string& name) const {
    std::vector<StTensor> out;
    for (const StTensor& t : model_.tensors)
      if (t.name != name) out.push_back(t);
    return out;
  }
};

TEST_F(ConvertRejects, MissingExpertTensor) {
  expect_rejected(without("model.encoder.layers.1.ffn.experts.expert_1.fc2.bias"), ErrorCode::InvalidModel,
                  {"model.safetensors", "model.encoder.layers.1.ffn.experts.expert_1.fc2.bias", "missing"});
}

TEST_F(ConvertRejects, MissingDenseTensor) {
  expect_rejected(without("model.decoder.layers.0.cross_attention.q_proj.weight"), ErrorCode::InvalidModel,
                  {"model.decoder.layers.0.cross_attention.q_proj.weight", "missing"});
}

TEST_F(ConvertRejects, WrongShape) {
  std::vector<StTensor> tensors = model_.tensors;
  for (StTensor& t : tensors)
    if (t.name == "model.encoder.layers.0.self_attn.q_proj.weight") {
      t.shape = {4, 16};
    }
  expect_rejected(tensors, ErrorCode::InvalidModel,
                  {"model.encoder.layers.0.self_attn.q_proj.weight", "[4, 16]", "[8, 8]"});
  // The router's expert count must match num_experts.
  expect_rejected(model_.tensors, ErrorCode::InvalidModel, {"router.classifier.weight", "[2, 8]", "[3, 8]"},
                  test::tiny_config_json(R"({"num_experts": 3})"));
}

TEST_F(ConvertRejects, UnexpectedTensor) {
  std::vector<StTensor> tensors = model_.tensors;
  StTensor extra = model_.tensor("model.encoder.layers.1.ffn.experts.expert_0.fc1.bias");
  extra.name = "model.encoder.layers.1.ffn.experts.expert_2.fc1.bias";
  tensors.push_back(extra);
  expect_rejected(tensors, ErrorCode::InvalidModel, {"expert_2.fc1.bias", "not part of"});
}

TEST_F(ConvertRejects, UnsupportedDType) {
  std::vector<StTensor> tensors = model_.tensors;
  for (StTensor& t : tensors)
    if (t.name == "model.encoder.layer_norm.bias") t.dtype = "I32";
  expect_rejected(tensors, ErrorCode::Unsupported, {"model.encoder.layer_norm.bias", "I32"});
}

TEST_F(ConvertRejects, UntiedInputEmbeddings) {
  std::vector<StTensor> tensors = model_.tensors;
  StTensor copy = model_.tensor("model.shared.weight");
  copy.name = "model.encoder.embed_tokens.weight";
  copy.bytes[0] ^= 1;
  tensors.push_back(copy);
  expect_rejected(tensors, ErrorCode::Unsupported, {"model.encoder.embed_tokens.weight", "differs"});
}

TEST_F(ConvertRejects, VocabularyLargerThanConfig) {
  REQUIRE_REAL_SENTENCEPIECE();
  expect_rejected(model_.tensors, ErrorCode::InvalidModel, {"sentencepiece.model", "7999", "vocab_size is 7000"},
                  test::tiny_config_json(R"({"vocab_size": 7000})"));
}

TEST(ConvertInputs, MissingFilesAreIo) {
  TempDir dir;
  expect_error([&] { convert_hf(dir.path(), dir.file("m.tusk"), ConvertOptions{}, nullptr); }, ErrorCode::Io,
               {"config.json"});
  test::write_file(dir.file("config.json"), test::tiny_config_json());
  expect_error([&] { convert_hf(dir.path(), dir.file("m.tusk"), ConvertOptions{}, nullptr); }, ErrorCode::Io,
               {"sentencepiece.model"});
  test::write_file(dir.file("sentencepiece.model"),
                   test::sentencepiece_model({"<s>", "<pad>", "</s>", "<unk>", "eng_Latn"}));
  expect_error([&] { convert_hf(dir.path(), dir.file("m.tusk"), ConvertOptions{}, nullptr); }, ErrorCode::Io,
               {"model.safetensors"});
  EXPECT_FALSE(test::file_exists(dir.file("m.tusk")));
}

// Pickled weights alone: refused for safety, with the one-line re-save in the message.
TEST(ConvertInputs, PickleWeightsAreRefused) {
  TempDir dir;
  test::write_file(dir.file("config.json"), test::tiny_config_json());
  test::write_file(dir.file("sentencepiece.model"),
                   test::sentencepiece_model({"<s>", "<pad>", "</s>", "<unk>", "eng_Latn"}));
  for (const char* name : {"pytorch_model.bin", "pytorch_model.bin.index.json"}) {
    test::write_file(dir.file(name), "not read");
    expect_error([&] { convert_hf(dir.path(), dir.file("m.tusk"), ConvertOptions{}, nullptr); },
                 ErrorCode::Unsupported, {name, "pickle", "safe_serialization=True"});
    std::remove(dir.file(name).c_str());
  }
  EXPECT_FALSE(test::file_exists(dir.file("m.tusk")));
}

// A SentencePiece model alone must name its special tokens where config.json puts them, and
// hold language codes.
TEST(ConvertInputs, SentencePieceLayoutIsChecked) {
  TempDir dir;
  test::write_file(dir.file("config.json"), test::tiny_config_json());
  test::write_file(dir.file("sentencepiece.model"), test::sentencepiece_model({"<s>", "eng_Latn"}));
  expect_error([&] { convert_hf(dir.path(), dir.file("m.tusk"), ConvertOptions{}, nullptr); },
               ErrorCode::InvalidModel, {"config.json", "sentencepiece.model", "pad_token_id", "<pad>"});
  test::write_file(dir.file("sentencepiece.model"), test::sentencepiece_model({"<s>", "<pad>", "</s>", "<unk>"}));
  expect_error([&] { convert_hf(dir.path(), dir.file("m.tusk"), ConvertOptions{}, nullptr); },
               ErrorCode::InvalidModel, {"sentencepiece.model", "no language codes"});
  test::write_file(dir.file("added_tokens.json"), "{}");
  expect_error([&] { convert_hf(dir.path(), dir.file("m.tusk"), ConvertOptions{}, nullptr); },
               ErrorCode::InvalidModel, {"added_tokens.json", "tokenizer_config.json", "unknown tokenizer layout"});
}

}  // namespace
}  // namespace tusk::format
