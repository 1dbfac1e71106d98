// tusk_translate_text through the C ABI: a text's sentences are translated as tusk_translate
// translates them one by one, and put back with the text's spacing; line and paragraph breaks
// survive; any length is accepted (a sentence longer than the model takes goes in pieces,
// flagged); bad input fails naming the text.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "tusk_test_util.h"

namespace {

using namespace tusk_test;

class TextMode : public ::testing::Test {
 protected:
  void SetUp() override {
    model_ = open_model();
    tr_ = make_translator(model_.get(), make_options({{TUSK_OPT_THREADS, test_threads()}}).get());
  }
  std::vector<Hyp> text(const std::vector<std::string>& texts, const char* src = "en", const char* tgt = "de") {
    std::vector<const char*> ptrs;
    for (const auto& t : texts) ptrs.push_back(t.c_str());
    tusk_result_t* raw = nullptr;
    check(tusk_translate_text(tr_.get(), src, tgt, ptrs.data(), ptrs.size(), &raw), "tusk_translate_text");
    Result res(raw);
    return copy_result(raw);
  }
  Model model_;
  Translator tr_;
};

TEST_F(TextMode, AParagraphIsItsSentencesTranslatedWithItsSpacing) {
  const std::vector<std::string> sentences{"A man is cooking in a kitchen.", "Two dogs play in the snow.",
                                           "A woman reads a book on a bench."};
  const std::vector<Hyp> one_by_one = translate(tr_.get(), "en", "de", sentences);
  const std::vector<Hyp> got = text({" " + sentences[0] + " " + sentences[1] + "\n\n" + sentences[2] + "\n"});
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].text, " " + one_by_one[0].text + " " + one_by_one[1].text + "\n\n" + one_by_one[2].text + "\n");
  EXPECT_EQ(got[0].truncated, 0);
  // Tokens and log-probabilities: the sentences', one after another; the score their sum.
  std::vector<int32_t> ids;
  double score = 0;
  for (const Hyp& h : one_by_one) {
    ids.insert(ids.end(), h.ids.begin(), h.ids.end());
    score += h.score;
  }
  EXPECT_EQ(got[0].ids, ids);
  EXPECT_NEAR(got[0].score, score, 1e-9);
}

TEST_F(TextMode, TextsKeepTheirOrderAndBlankOnesTheirWhitespace) {
  const std::vector<Hyp> got = text({"A dog runs. A cat sleeps.", "  \n ", "", "Hello."});
  ASSERT_EQ(got.size(), 4u);
  EXPECT_EQ(got[1].text, "  \n ");
  EXPECT_EQ(got[2].text, "");
  EXPECT_TRUE(got[1].ids.empty());
  const std::vector<Hyp> single = translate(tr_.get(), "en", "de", {"A dog runs.", "A cat sleeps.", "Hello."});
  EXPECT_EQ(got[0].text, single[0].text + " " + single[1].text);
  EXPECT_EQ(got[3].text, single[2].text);
}

TEST_F(TextMode, AnyLengthIsAcceptedAndAnOverlongSentenceGoesInPieces) {
  std::string document;
  for (int i = 0; i < 150; ++i) document += "A man rides a bike down the street. ";  // ~1,200 words
  const std::vector<Hyp> doc = text({document});
  EXPECT_EQ(doc[0].truncated, 0);
  // Every sentence came back: as many target language codes as sentences.
  const int32_t lang = doc[0].ids.empty() ? -1 : doc[0].ids[0];
  EXPECT_EQ(std::count(doc[0].ids.begin(), doc[0].ids.end(), lang), 150);

  std::string run_on;
  for (int i = 0; i < 400; ++i) run_on += "house ";  // one sentence over the model's limit
  const std::vector<Hyp> cut = text({run_on});
  EXPECT_EQ(cut[0].truncated, 1);
  EXPECT_GE(std::count(cut[0].ids.begin(), cut[0].ids.end(), lang), 2);  // translated in pieces
  EXPECT_FALSE(cut[0].text.empty());
}

TEST_F(TextMode, BadInputFailsNamingTheText) {
  const char* texts[] = {"Fine.", "bad \xff byte"};
  tusk_result_t* out = nullptr;
  EXPECT_EQ(tusk_translate_text(tr_.get(), "en", "de", texts, 2, &out), TUSK_ERROR_INVALID_ARGUMENT);
  EXPECT_NE(std::string(tusk_last_error()).find("text 1"), std::string::npos) << tusk_last_error();
  EXPECT_EQ(out, nullptr);
  EXPECT_EQ(tusk_translate_text(tr_.get(), "en", "xx", texts, 1, &out), TUSK_ERROR_UNKNOWN_LANGUAGE);
  EXPECT_EQ(tusk_translate_text(tr_.get(), "en", "de", texts, 0, &out), TUSK_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(tusk_translate_text(tr_.get(), "en", "de", nullptr, 1, &out), TUSK_ERROR_INVALID_ARGUMENT);
}

}  // namespace

namespace {

// TUSK_OPT_PER_SENTENCE_ERRORS: each input's own status; the good ones translated.
TEST(PerSentenceErrors, EachInputGetsItsStatusAndTheOthersTranslate) {
  Model model = open_model();
  Options options = make_options({{TUSK_OPT_THREADS, test_threads()}, {TUSK_OPT_PER_SENTENCE_ERRORS, 1}});
  Translator tr = make_translator(model.get(), options.get());
  std::string long_line;
  for (int i = 0; i < 400; ++i) long_line += "house ";
  const std::vector<std::string> inputs{"A dog runs.", "bad \xff byte", long_line};
  std::vector<const char*> p;
  for (const auto& t : inputs) p.push_back(t.c_str());
  tusk_result_t* raw = nullptr;
  ASSERT_EQ(tusk_translate(tr.get(), "en", "de", p.data(), p.size(), &raw), TUSK_OK) << tusk_last_error();
  Result res(raw);
  EXPECT_EQ(tusk_result_status(raw, 0), TUSK_OK);
  EXPECT_STREQ(tusk_result_error(raw, 0), "");
  EXPECT_NE(std::string(tusk_result_text(raw, 0)), "");
  EXPECT_EQ(tusk_result_status(raw, 1), TUSK_ERROR_INVALID_ARGUMENT);
  EXPECT_NE(std::string(tusk_result_error(raw, 1)).find("not valid UTF-8"), std::string::npos);
  EXPECT_STREQ(tusk_result_text(raw, 1), "");
  EXPECT_EQ(tusk_result_status(raw, 2), TUSK_ERROR_INPUT_TOO_LONG);
  EXPECT_EQ(tusk_result_status(raw, 3), TUSK_ERROR_INVALID_ARGUMENT);  // out of range
  EXPECT_EQ(tusk_result_error(raw, 3), nullptr);
  // Text mode: a bad text fails alone; nothing is too long there.
  tusk_result_t* text_raw = nullptr;
  ASSERT_EQ(tusk_translate_text(tr.get(), "en", "de", p.data(), p.size(), &text_raw), TUSK_OK);
  Result text_res(text_raw);
  EXPECT_EQ(tusk_result_status(text_raw, 0), TUSK_OK);
  EXPECT_EQ(tusk_result_status(text_raw, 1), TUSK_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(tusk_result_status(text_raw, 2), TUSK_OK);
  EXPECT_EQ(tusk_result_truncated(text_raw, 2), 1);
  // A call-wide error still fails the call.
  EXPECT_EQ(tusk_translate(tr.get(), "en", "xx", p.data(), p.size(), &raw), TUSK_ERROR_UNKNOWN_LANGUAGE);
}

}  // namespace

namespace {

// TUSK_OPT_NUM_HYPOTHESES: n distinct hypotheses, best first, the first being the result's.
TEST(NBest, HypothesesBestFirstAndTheFirstIsTheResult) {
  Model model = open_model();
  Options options = make_options({{TUSK_OPT_THREADS, test_threads()}, {TUSK_OPT_BEAM_SIZE, 4}, {TUSK_OPT_NUM_HYPOTHESES, 3}});
  Translator tr = make_translator(model.get(), options.get());
  const std::vector<std::string> texts = sources(load_golden("en-de"));
  std::vector<const char*> p;
  for (int i = 0; i < 10; ++i) p.push_back(texts[i].c_str());
  tusk_result_t* raw = nullptr;
  ASSERT_EQ(tusk_translate(tr.get(), "en", "de", p.data(), p.size(), &raw), TUSK_OK) << tusk_last_error();
  Result res(raw);
  for (size_t i = 0; i < p.size(); ++i) {
    ASSERT_EQ(tusk_result_hypothesis_count(raw, i), 3u) << texts[i];
    EXPECT_STREQ(tusk_result_hypothesis_text(raw, i, 0), tusk_result_text(raw, i));
    EXPECT_EQ(tusk_result_hypothesis_score(raw, i, 0), tusk_result_score(raw, i));
    std::vector<std::vector<int32_t>> seen;
    for (size_t h = 0; h < 3; ++h) {
      const int32_t* ids = nullptr;
      const size_t n = tusk_result_hypothesis_tokens(raw, i, h, &ids);
      ASSERT_GT(n, 0u);
      seen.emplace_back(ids, ids + n);
      if (h > 0) {  // no length penalty: best first is highest sum first
        EXPECT_GE(tusk_result_hypothesis_score(raw, i, h - 1), tusk_result_hypothesis_score(raw, i, h));
      }
    }
    EXPECT_NE(seen[0], seen[1]);
    EXPECT_NE(seen[1], seen[2]);
  }
  EXPECT_EQ(tusk_result_hypothesis_text(raw, 0, 3), nullptr);
  EXPECT_TRUE(std::isnan(tusk_result_hypothesis_score(raw, 0, 3)));
  EXPECT_EQ(tusk_result_hypothesis_count(raw, 99), 0u);
  // More hypotheses than the beam is refused when the translator is made.
  Options too_many = make_options({{TUSK_OPT_BEAM_SIZE, 2}, {TUSK_OPT_NUM_HYPOTHESES, 3}});
  tusk_translator_t* bad = nullptr;
  EXPECT_EQ(tusk_translator_create(model.get(), too_many.get(), &bad), TUSK_ERROR_INVALID_ARGUMENT);
  EXPECT_NE(std::string(tusk_last_error()).find("TUSK_OPT_NUM_HYPOTHESES"), std::string::npos);
}

}  // namespace
