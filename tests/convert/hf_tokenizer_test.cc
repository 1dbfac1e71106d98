// The vocabulary of a checkpoint as its tokenizer files define it (model_format/hf_tokenizer.h),
// on the NllbTokenizer folders transformers wrote (../shared/models/hf-tiny), and refusals of
// files that disagree with each other.
#include "model_format/hf_tokenizer.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <nlohmann/json.hpp>

#include "model_format/convert_hf.h"
#include "model_format/file_layout.h"
#include "model_format/hf_config.h"
#include "model_format/model_file.h"
#include "test_helpers.h"

namespace tusk::format {
namespace {

using nlohmann::json;
using test::expect_error;
using test::read_file;
using test::write_file;

std::string fixture(const std::string& name) { return test::shared_dir() + "/models/hf-tiny/" + name; }

#define REQUIRE_FIXTURE(name)                                                              \
  if (!test::file_exists(fixture(name) + "/config.json"))                                  \
  GTEST_SKIP() << fixture(name) << " not found (TUSK_SHARED_DIR=" << test::shared_dir() << ")"

// The tokenizer files of hf-tiny/nllb-moe in a scratch folder the test may edit.
class NllbFolder : public ::testing::Test {
 protected:
  void SetUp() override {
    REQUIRE_FIXTURE("nllb-moe");
    for (const char* f : {"config.json", "sentencepiece.bpe.model", "tokenizer_config.json",
                          "special_tokens_map.json", "added_tokens.json"})
      write_file(dir_.file(f), read_file(fixture("nllb-moe") + "/" + f));
  }
  ModelConfig config() const { return read_hf_config(dir_.file("config.json")).model; }
  HfTokenizer read() const { return read_hf_tokenizer(dir_.path(), config()); }
  json load(const char* f) const { return json::parse(read_file(dir_.file(f))); }
  void save(const char* f, const json& j) const { write_file(dir_.file(f), j.dump(2)); }
  void expect_refused(ErrorCode code, std::initializer_list<const char*> fragments) const {
    expect_error([&] { read(); }, code, fragments);
  }

  test::TempDir dir_;
};

const AddedToken* find_added(const Vocabulary& v, const std::string& text) {
  for (const AddedToken& t : v.added_tokens)
    if (t.content == text) return &t;
  return nullptr;
}

TEST_F(NllbFolder, IdsAreNllbTokenizers) {
  const HfTokenizer t = read();
  const Vocabulary& v = t.vocabulary;
  EXPECT_EQ(v.kind, "nllb");
  EXPECT_EQ(v.detokenizer, Detokenizer::JoinPieces);
  EXPECT_TRUE(v.clean_up_tokenization_spaces);
  ASSERT_EQ(v.piece_ids.size(), 2000u);
  EXPECT_EQ(v.piece_ids[0], 3);  // SentencePiece's <unk> is the <unk> token
  EXPECT_EQ(v.piece_ids[1], 0);  // <s> and </s> are added tokens
  EXPECT_EQ(v.piece_ids[2], 2);
  EXPECT_EQ(v.piece_ids[3], 4);  // the fairseq offset
  EXPECT_EQ(v.piece_ids[1999], 2000);
  EXPECT_EQ(t.unk_id, 3);
  // <mask> and the 202 codes as the files list them (not a formula: <mask> comes first here).
  ASSERT_NE(find_added(v, "<mask>"), nullptr);
  EXPECT_EQ(find_added(v, "<mask>")->id, 2001);
  EXPECT_TRUE(find_added(v, "<mask>")->special);
  EXPECT_EQ(find_added(v, "eng_Latn")->id, 2048);
  EXPECT_EQ(find_added(v, "<pad>")->id, 1);
  EXPECT_EQ(v.added_tokens.size(), 207u);
  ASSERT_EQ(t.languages.size(), 202u);
  int found = 0;
  for (const Language& l : t.languages) {
    if (l.token == "eng_Latn") {
      EXPECT_EQ(l.code, "en");
      EXPECT_EQ(l.token_id, 2048);
      ++found;
    }
    if (l.token == "zho_Hans" || l.token == "zho_Hant") {
      EXPECT_EQ(l.code, l.token);  // "zh" would be ambiguous
      ++found;
    }
  }
  EXPECT_EQ(found, 3);
}

TEST_F(NllbFolder, TokenizerJsonCanGiveTheIds) {
  const Vocabulary from_config = read().vocabulary;
  // An older transformers wrote no added_tokens_decoder; tokenizer.json's added_tokens then
  // say the ids, and its vocab must agree with the slow rule.
  json tc = load("tokenizer_config.json");
  json added = json::array();
  for (const auto& [id, entry] : tc["added_tokens_decoder"].items())
    added.push_back({{"id", std::stoi(id)}, {"content", entry["content"]}, {"special", true}});
  tc.erase("added_tokens_decoder");
  save("tokenizer_config.json", tc);
  json tj = {{"added_tokens", added}, {"model", {{"type", "BPE"}, {"vocab", {{"<s>", 0}, {"\xe2\x96\x81s", 6}}}}}};
  save("tokenizer.json", tj);
  const Vocabulary from_json = read().vocabulary;
  EXPECT_EQ(from_json.piece_ids, from_config.piece_ids);
  ASSERT_EQ(from_json.added_tokens.size(), from_config.added_tokens.size());
  for (size_t i = 0; i < from_json.added_tokens.size(); ++i) {
    EXPECT_EQ(from_json.added_tokens[i].content, from_config.added_tokens[i].content);
    EXPECT_EQ(from_json.added_tokens[i].id, from_config.added_tokens[i].id);
  }
  // SentencePiece piece 5 is "▁s": model id 6 by the rule; 7 in tokenizer.json is refused.
  tj["model"]["vocab"]["\xe2\x96\x81s"] = 7;
  save("tokenizer.json", tj);
  expect_refused(ErrorCode::InvalidModel, {"tokenizer.json", "sentencepiece.bpe.model", "is id 7"});
  std::remove(dir_.file("tokenizer.json").c_str());
  expect_refused(ErrorCode::InvalidModel, {"tokenizer_config.json", "added_tokens_decoder", "tokenizer.json"});
}

TEST_F(NllbFolder, FilesThatDisagreeAreRefused) {
  json added = load("added_tokens.json");
  added["eng_Latn"] = 2049;
  save("added_tokens.json", added);
  expect_refused(ErrorCode::InvalidModel, {"added_tokens.json", "tokenizer_config.json", "eng_Latn"});
  added["eng_Latn"] = 2048;
  save("added_tokens.json", added);

  json map = load("special_tokens_map.json");
  map["eos_token"] = "<s>";
  save("special_tokens_map.json", map);
  expect_refused(ErrorCode::InvalidModel, {"tokenizer_config.json", "special_tokens_map.json", "eos_token"});
  map["eos_token"] = "</s>";
  map["additional_special_tokens"].erase(0);
  save("special_tokens_map.json", map);
  expect_refused(ErrorCode::InvalidModel, {"special_tokens_map.json", "additional_special_tokens"});

  // transformers takes the language list from tokenizer_config.json when it has
  // added_tokens_decoder; without one there, the converter does not fall back.
  json tc = load("tokenizer_config.json");
  tc.erase("additional_special_tokens");
  save("tokenizer_config.json", tc);
  expect_refused(ErrorCode::InvalidModel, {"tokenizer_config.json", "additional_special_tokens", "built-in"});
}

TEST_F(NllbFolder, ConfigIdsMustBeTheTokenizers) {
  json c = load("config.json");
  c["pad_token_id"] = 0;
  save("config.json", c);
  expect_refused(ErrorCode::InvalidModel, {"config.json", "tokenizer_config.json", "pad_token_id", "<pad>"});
  c["pad_token_id"] = 1;
  c["vocab_size"] = 2100;  // below the language codes' ids
  save("config.json", c);
  expect_refused(ErrorCode::InvalidModel, {"2203", "vocab_size is 2100"});
}

TEST_F(NllbFolder, OptionsTheEngineDoesNotImplementAreRefused) {
  json tc = load("tokenizer_config.json");
  tc["legacy_behaviour"] = true;
  save("tokenizer_config.json", tc);
  expect_refused(ErrorCode::Unsupported, {"tokenizer_config.json", "legacy_behaviour"});
  tc["legacy_behaviour"] = false;
  tc["sp_model_kwargs"] = {{"enable_sampling", true}};
  save("tokenizer_config.json", tc);
  expect_refused(ErrorCode::Unsupported, {"sp_model_kwargs", "enable_sampling"});
  tc["sp_model_kwargs"] = json::object();
  tc["tokenizer_class"] = "T5Tokenizer";
  save("tokenizer_config.json", tc);
  expect_refused(ErrorCode::Unsupported, {"tokenizer_class", "T5Tokenizer"});
  tc.erase("tokenizer_class");
  save("tokenizer_config.json", tc);
  expect_refused(ErrorCode::InvalidModel, {"tokenizer_config.json", "tokenizer_class"});
}

TEST_F(NllbFolder, TwoSentencePieceModelsAreAmbiguous) {
  write_file(dir_.file("sentencepiece.model"), read_file(dir_.file("sentencepiece.bpe.model")));
  expect_refused(ErrorCode::InvalidModel, {"sentencepiece.bpe.model", "sentencepiece.model"});
}

// Our own layout: language pieces inside the SentencePiece model, model id = piece id.
TEST(SentencePieceLayout, RealModelKeepsPieceIds) {
  const std::string dir = test::real_model_dir();
  if (!test::file_exists(dir + "/config.json")) GTEST_SKIP() << dir << " not found";
  const HfTokenizer t = read_hf_tokenizer(dir, read_hf_config(dir + "/config.json").model);
  EXPECT_EQ(t.vocabulary.kind, "sentencepiece");
  EXPECT_EQ(t.vocabulary.detokenizer, Detokenizer::SentencePiece);
  ASSERT_EQ(t.vocabulary.piece_ids.size(), 8000u);
  for (size_t i = 0; i < t.vocabulary.piece_ids.size(); ++i) ASSERT_EQ(t.vocabulary.piece_ids[i], static_cast<int32_t>(i));
  EXPECT_TRUE(t.vocabulary.added_tokens.empty());
  EXPECT_EQ(t.unk_id, 3);
  ASSERT_EQ(t.languages.size(), 4u);
  EXPECT_EQ(t.languages[0].code, "cs");
  EXPECT_EQ(t.languages[0].token, "ces_Latn");
  EXPECT_EQ(t.languages[0].token_id, 7);
}

}  // namespace
}  // namespace tusk::format

namespace tusk::format {
namespace {

// A file whose ids go through an NLLB vocabulary sets header flag bit 0, so a reader from
// before the table refuses it ("feature flags this build does not know") instead of reading
// piece ids as model ids; a file whose ids are piece ids leaves it clear.
TEST(VocabularyFlag, SetForMappedIdsAndChecked) {
  REQUIRE_FIXTURE("nllb-moe");
  test::TempDir dir;
  const std::string path = dir.file("m.tusk");
  convert_hf(fixture("nllb-moe"), path, ConvertOptions{}, nullptr);
  std::string bytes = read_file(path);
  layout::FileHeader header = layout::decode_header(reinterpret_cast<const unsigned char*>(bytes.data()));
  EXPECT_EQ(header.flags, layout::kFlagVocabularyIds);
  EXPECT_NO_THROW(ModelFile::open(path, {}));
  // Clearing it (with a valid header checksum) is caught: the metadata needs it.
  header.flags = 0;
  layout::encode_header(header, reinterpret_cast<unsigned char*>(bytes.data()));
  write_file(path, bytes);
  expect_error([&] { ModelFile::open(path, {}); }, ErrorCode::InvalidModel, {"header flags 0", "vocabulary"});
  // An unknown flag is refused, as an older reader refuses bit 0.
  header.flags = layout::kFlagVocabularyIds | 4u;
  layout::encode_header(header, reinterpret_cast<unsigned char*>(bytes.data()));
  write_file(path, bytes);
  expect_error([&] { ModelFile::open(path, {}); }, ErrorCode::InvalidModel, {"feature flags"});

  const std::string real = test::real_model_dir();
  if (!test::file_exists(real + "/config.json")) return;
  const std::string ours = dir.file("ours.tusk");
  convert_hf(real, ours, ConvertOptions{}, nullptr);
  const std::string ours_bytes = read_file(ours);
  EXPECT_EQ(layout::decode_header(reinterpret_cast<const unsigned char*>(ours_bytes.data())).flags, 0u);
}

}  // namespace
}  // namespace tusk::format
