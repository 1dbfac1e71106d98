// sdk::Tokenizer through a file's vocabulary table: NLLB source ids as transformers'
// NllbTokenizer makes them (../shared/models/hf-tiny goldens), and the decoding rules.
#include "sdk/tokenizer.h"

#include <gtest/gtest.h>

#include <climits>
#include <cstdio>
#include <fstream>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "model_format/convert_hf.h"
#include "model_format/model_writer.h"
#include "sdk/model.h"

namespace tusk::sdk {
namespace {

std::string hf_tiny(const std::string& name) { return std::string(TUSK_SHARED_DIR) + "/models/hf-tiny/" + name; }

TEST(Tokenizer, NllbSourceIdsMatchTransformers) {
  const std::string dir = hf_tiny("nllb-moe");
  std::ifstream goldens(dir + "/goldens.jsonl");
  if (!goldens) GTEST_SKIP() << dir << " not found";
  char tmp[] = "/tmp/tusk_tokenizer_XXXXXX";
  ASSERT_NE(mkdtemp(tmp), nullptr);
  const std::string out = std::string(tmp) + "/m.tusk";
  format::convert_hf(dir, out, format::ConvertOptions{}, nullptr);
  const auto model = Model::open(out, {true});
  int checked = 0;
  for (std::string line; std::getline(goldens, line);) {
    const auto g = nlohmann::json::parse(line);
    auto want = g["source_ids"].get<std::vector<int32_t>>();  // [code] + pieces + [</s>]
    const auto* lang = model->file().find_language(g["src_code"].get<std::string>());
    ASSERT_NE(lang, nullptr);
    EXPECT_EQ(want.front(), lang->token_id);
    EXPECT_EQ(want.back(), 2);
    want = std::vector<int32_t>(want.begin() + 1, want.end() - 1);
    EXPECT_EQ(model->tokenizer().encode(g["source"].get<std::string>()), want) << g["source"];
    ++checked;
  }
  EXPECT_EQ(checked, 100);
  // Decoding: specials (eos, language codes, <pad>, <unk>, <mask>) dropped; ids past the
  // tokenizer (a padded vocabulary) dropped; pieces joined with spaces at U+2581.
  const auto ids = model->tokenizer().encode("A dog runs, doesn't it?");
  std::vector<int32_t> noisy = {2048, 1, 3};
  noisy.insert(noisy.end(), ids.begin(), ids.end());
  noisy.insert(noisy.end(), {2001, 2, 2203, 2204, 256205});  // ids past the tokenizer: padding
  EXPECT_EQ(model->tokenizer().decode(noisy), "A dog runs, doesn't it?");
  std::remove(out.c_str());
  rmdir(tmp);
}

TEST(Tokenizer, CleanUpTokenizationAsTransformers) {
  EXPECT_EQ(clean_up_tokenization("Hello , world ! Is it ? yes . I 'm sure it 's we 're they 've do n't"),
            "Hello, world! Is it? yes. I'm sure it's we're they've don't");
  EXPECT_EQ(clean_up_tokenization("a ' b"), "a'b");
  EXPECT_EQ(clean_up_tokenization(""), "");
}

TEST(Tokenizer, StripIsPythonsStrip) {
  EXPECT_EQ(strip_unicode_whitespace("  a b \t\n"), "a b");
  EXPECT_EQ(strip_unicode_whitespace("\xc2\xa0" "x" "\xe3\x80\x80"), "x");  // NBSP, ideographic space
  EXPECT_EQ(strip_unicode_whitespace("\xe2\x80\x83" "\xc3\xa9\xe2\x80\xaf"), "\xc3\xa9");  // em space, NNBSP
  EXPECT_EQ(strip_unicode_whitespace(" \xe2\x96\x81 "), "\xe2\x96\x81");  // U+2581 is not whitespace
  EXPECT_EQ(strip_unicode_whitespace("   "), "");
  // Malformed or cut UTF-8 is not whitespace, and never reads past the end.
  EXPECT_EQ(strip_unicode_whitespace("\xe2\x80"), "\xe2\x80");
  EXPECT_EQ(strip_unicode_whitespace(" \xe2\x80" "A "), "\xe2\x80" "A");
  EXPECT_EQ(strip_unicode_whitespace("a\xe2"), "a\xe2");
}

// A table whose pieces share a model id that no added token claims cannot be decoded.
TEST(Tokenizer, AmbiguousTableIsRefused) {
  std::ifstream in(std::string(TUSK_SHARED_DIR) + "/models/multi30k-moe/sentencepiece.model", std::ios::binary);
  if (!in) GTEST_SKIP() << "needs the multi30k SentencePiece model";
  const std::string sp((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  format::Vocabulary v;
  v.kind = "sentencepiece";
  for (int i = 0; i < 8000; ++i) v.piece_ids.push_back(i);
  EXPECT_NO_THROW(Tokenizer(sp, v, 3, 2));
  v.piece_ids[10] = 11;
  EXPECT_THROW(Tokenizer(sp, v, 3, 2), Error);
  v.piece_ids.pop_back();
  EXPECT_THROW(Tokenizer(sp, v, 3, 2), Error);
}

// A hostile file: vocab_size near INT32_MAX and an added token id to match. The embedding's
// shape is checked before the tokenizer's tables are sized by those ids, so opening fails
// with InvalidModel instead of allocating gigabytes.
TEST(Tokenizer, HostileVocabularySizeIsRefusedBeforeAllocating) {
  std::ifstream in(std::string(TUSK_SHARED_DIR) + "/models/multi30k-moe/sentencepiece.model", std::ios::binary);
  if (!in) GTEST_SKIP() << "needs the multi30k SentencePiece model";
  const std::string sp((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  char tmp[] = "/tmp/tusk_hostile_XXXXXX";
  ASSERT_NE(mkdtemp(tmp), nullptr);
  const std::string path = std::string(tmp) + "/m.tusk";
  {
    format::ModelConfig c;
    c.architecture = format::kArchM2M100;
    c.vocab_size = INT32_MAX;
    c.d_model = 8;
    c.encoder_layers = c.decoder_layers = 1;
    c.encoder_heads = c.decoder_heads = 2;
    c.encoder_ffn_dim = c.decoder_ffn_dim = 16;
    c.experts_per_token = 0;
    c.max_position_embeddings = 32;
    format::Vocabulary v;
    v.kind = "sentencepiece";
    for (int i = 0; i < 8000; ++i) v.piece_ids.push_back(i);
    v.added_tokens.push_back({"<x>", INT32_MAX - 1, true});
    format::ModelWriter writer(path);
    writer.set_config(c);
    writer.set_tokenizer(sp);
    writer.set_vocabulary(v);
    writer.finish();
  }
  try {
    Model::open(path, {true});
    ADD_FAILURE() << "opened";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::InvalidModel) << e.what();
    EXPECT_NE(std::string(e.what()).find("model.shared.weight"), std::string::npos) << e.what();
  }
  std::remove(path.c_str());
  rmdir(tmp);
}

}  // namespace
}  // namespace tusk::sdk
