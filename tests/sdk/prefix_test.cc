// tusk_translate_prefixed through the C ABI: translations begin with their target prefix
// (greedy and beam), a prefix the model would choose anyway changes nothing (the same tokens
// and log-probabilities), and bad arguments are refused.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "tusk_test_util.h"

namespace {

using namespace tusk_test;

std::vector<Hyp> prefixed(tusk_translator_t* tr, const std::vector<std::string>& texts,
                          const std::vector<const char*>& prefixes) {
  std::vector<const char*> p;
  for (const auto& t : texts) p.push_back(t.c_str());
  tusk_result_t* raw = nullptr;
  check(tusk_translate_prefixed(tr, "en", "de", p.data(), prefixes.data(), p.size(), &raw), "tusk_translate_prefixed");
  Result res(raw);
  return copy_result(raw);
}

class Prefix : public ::testing::TestWithParam<int> {  // beam size
 protected:
  void SetUp() override {
    model_ = open_model();
    tr_ = make_translator(model_.get(), make_options({{TUSK_OPT_THREADS, test_threads()}, {TUSK_OPT_BEAM_SIZE, GetParam()}}).get());
  }
  Model model_;
  Translator tr_;
};

TEST_P(Prefix, TranslationsBeginWithTheirPrefix) {
  const std::vector<std::string> texts{"A dog runs on the beach.", "Two men play soccer.", "A girl reads."};
  const std::vector<Hyp> got = prefixed(tr_.get(), texts, {"Der Hund", nullptr, "Eine junge Frau"});
  EXPECT_EQ(got[0].text.rfind("Der Hund", 0), 0u) << got[0].text;
  EXPECT_EQ(got[2].text.rfind("Eine junge Frau", 0), 0u) << got[2].text;
  const std::vector<Hyp> free = translate(tr_.get(), "en", "de", texts);
  EXPECT_EQ(got[1].ids, free[1].ids);  // no prefix: as tusk_translate
  for (const Hyp& h : got) {
    ASSERT_EQ(h.logprobs.size() + 1, h.ids.size());
    double sum = 0;
    for (float lp : h.logprobs) {
      EXPECT_TRUE(std::isfinite(lp) && lp <= 0.0f) << lp;
      sum += lp;
    }
    EXPECT_NEAR(h.score, sum, 1e-4);
  }
}

TEST_P(Prefix, APrefixTheModelWouldChooseChangesNothing) {
  const std::vector<std::string> texts{"A man rides a bike down the street."};
  const Hyp free = translate(tr_.get(), "en", "de", texts)[0];
  const std::string first_word = free.text.substr(0, free.text.find(' '));
  const Hyp forced = prefixed(tr_.get(), texts, {first_word.c_str()})[0];
  EXPECT_EQ(forced.ids, free.ids);
  ASSERT_EQ(forced.logprobs.size(), free.logprobs.size());
  for (size_t i = 0; i < free.logprobs.size(); ++i) EXPECT_NEAR(forced.logprobs[i], free.logprobs[i], 1e-4);
}

INSTANTIATE_TEST_SUITE_P(Search, Prefix, ::testing::Values(1, 4),
                         [](const ::testing::TestParamInfo<int>& info) { return "beam" + std::to_string(info.param); });

TEST(PrefixArguments, AreChecked) {
  Model model = open_model();
  Translator tr = make_translator(model.get(), make_options({{TUSK_OPT_THREADS, test_threads()}}).get());
  const char* texts[] = {"A dog."};
  const char* bad_prefix[] = {"Ein \xff"};
  tusk_result_t* out = nullptr;
  EXPECT_EQ(tusk_translate_prefixed(tr.get(), "en", "de", texts, nullptr, 1, &out), TUSK_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(tusk_translate_prefixed(tr.get(), "en", "de", texts, bad_prefix, 1, &out), TUSK_ERROR_INVALID_ARGUMENT);
  EXPECT_NE(std::string(tusk_last_error()).find("target prefix"), std::string::npos) << tusk_last_error();
  EXPECT_EQ(out, nullptr);
}

}  // namespace
