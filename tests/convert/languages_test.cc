// SentencePiece piece scan and the language table.
#include "model_format/hf_languages.h"

#include <gtest/gtest.h>

#include "test_helpers.h"

namespace tusk::format {
namespace {

using test::expect_error;
using test::proto_bytes_field;
using test::proto_varint;
using test::sentencepiece_model;

TEST(SentencePiecePieces, ReadsPiecesInIdOrder) {
  const std::vector<std::string> pieces = {"<s>", "<pad>", "</s>", "<unk>", "eng_Latn", "\xe2\x96\x81the", ""};
  EXPECT_EQ(sentencepiece_pieces(sentencepiece_model(pieces), "sp"), pieces);
}

TEST(SentencePiecePieces, MalformedBytesAreInvalidModel) {
  const std::string good = sentencepiece_model({"<s>", "eng_Latn"});
  expect_error([&] { sentencepiece_pieces("", "x.model"); }, ErrorCode::InvalidModel, {"x.model", "no pieces"});
  expect_error([&] { sentencepiece_pieces("\x0a", "x.model"); }, ErrorCode::InvalidModel, {"truncated"});
  expect_error([&] { sentencepiece_pieces("\x0a\x05" "ab", "x.model"); }, ErrorCode::InvalidModel, {"past"});
  expect_error([&] { sentencepiece_pieces(std::string("\x0a\xff\xff\xff\xff\xff\xff\xff\xff\xff\x7f", 11), "m"); },
               ErrorCode::InvalidModel, {"varint"});
  expect_error([&] { sentencepiece_pieces("\x08\x01", "m"); }, ErrorCode::InvalidModel, {"not a message"});
  expect_error([&] { sentencepiece_pieces("\x13", "m"); }, ErrorCode::InvalidModel, {"wire type 3"});
  expect_error([&] { sentencepiece_pieces(proto_bytes_field(1, "\x08\x01"), "m"); }, ErrorCode::InvalidModel,
               {"piece is not a string"});
  expect_error([&] { sentencepiece_pieces(proto_bytes_field(1, proto_varint(2 << 3 | 5) + "ab"), "m"); },
               ErrorCode::InvalidModel, {"fixed-size"});
  expect_error([&] { sentencepiece_pieces(std::string("\x00\x01", 2), "m"); }, ErrorCode::InvalidModel,
               {"field number 0"});
  // Truncations and byte flips: pieces or InvalidModel, never a crash.
  for (size_t n = 0; n < good.size(); ++n) {
    try {
      sentencepiece_pieces(good.substr(0, n), "m");
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::InvalidModel);
    }
  }
  uint32_t x = 3;
  for (int round = 0; round < 2000; ++round) {
    std::string bytes = good;
    x = x * 1664525u + 1013904223u;
    bytes[(x >> 8) % bytes.size()] = static_cast<char>(x >> 24);
    try {
      sentencepiece_pieces(bytes, "m");
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::InvalidModel);
    }
  }
}

TEST(Languages, ShortCodesFromIso639_3) {
  EXPECT_EQ(short_language_code("eng"), "en");
  EXPECT_EQ(short_language_code("deu"), "de");
  EXPECT_EQ(short_language_code("fra"), "fr");
  EXPECT_EQ(short_language_code("ces"), "cs");
  EXPECT_EQ(short_language_code("spa"), "es");
  EXPECT_EQ(short_language_code("zho"), "zh");
  EXPECT_EQ(short_language_code("bul"), "bg");
  EXPECT_EQ(short_language_code("xyz"), "");
}

TEST(Languages, FoundInPiecesAndSortedByCode) {
  const std::vector<std::string> pieces = {"<s>",      "<pad>",    "</s>",     "<unk>",     "eng_Latn",
                                           "deu_Latn", "fra_Latn", "ces_Latn", "spa_Latn",  "zho_Hans",
                                           "zho_Hant", "xyz_Latn", "\xe2\x96\x81" "eng_Latn", "eng_latn",
                                           "Eng_Latn", "hello"};
  std::vector<Language> langs = find_languages(pieces);
  std::vector<std::tuple<std::string, std::string, int>> got;
  for (const Language& l : langs) got.emplace_back(l.code, l.token, l.token_id);
  EXPECT_EQ(got, (std::vector<std::tuple<std::string, std::string, int>>{{"cs", "ces_Latn", 7},
                                                                         {"de", "deu_Latn", 5},
                                                                         {"en", "eng_Latn", 4},
                                                                         {"es", "spa_Latn", 8},
                                                                         {"fr", "fra_Latn", 6},
                                                                         {"xyz_Latn", "xyz_Latn", 11},
                                                                         {"zho_Hans", "zho_Hans", 9},
                                                                         {"zho_Hant", "zho_Hant", 10}}));
}

TEST(Languages, TheRealSentencePieceModel) {
  const std::string path = test::real_model_dir() + "/sentencepiece.model";
  if (!test::file_exists(path)) GTEST_SKIP() << path << " not found (TUSK_SHARED_DIR=" << test::shared_dir() << ")";
  std::vector<std::string> pieces = sentencepiece_pieces(test::read_file(path), path);
  ASSERT_EQ(pieces.size(), 8000u);
  EXPECT_EQ(pieces[0], "<s>");
  EXPECT_EQ(pieces[3], "<unk>");
  std::vector<Language> langs = find_languages(pieces);
  ASSERT_EQ(langs.size(), 4u);
  EXPECT_EQ(langs[0].code, "cs");
  EXPECT_EQ(langs[0].token_id, 7);
  EXPECT_EQ(langs[1].code, "de");
  EXPECT_EQ(langs[1].token_id, 5);
  EXPECT_EQ(langs[2].code, "en");
  EXPECT_EQ(langs[2].token, "eng_Latn");
  EXPECT_EQ(langs[2].token_id, 4);
  EXPECT_EQ(langs[3].code, "fr");
  EXPECT_EQ(langs[3].token_id, 6);
}

}  // namespace
}  // namespace tusk::format
