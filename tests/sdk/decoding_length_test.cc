// TUSK_OPT_MIN_DECODING_LENGTH through the C ABI on the default model: no end of sentence
// before the minimum, exactly N tokens when minimum = maximum (what benchmarks against
// CTranslate2 use), and no change for sentences that are longer anyway.
#include <gtest/gtest.h>

#include <cmath>

#include "tusk_test_util.h"

using namespace tusk_test;

namespace {

const std::vector<std::string> kTexts = {
    "A man rides a bike.", "Two dogs play in the snow.",
    "A group of people stand in front of a large building while a woman in a red coat walks by."};

std::vector<Hyp> run(int64_t beam, int64_t min_length, int64_t max_length) {
  const Options opt = make_options({{TUSK_OPT_THREADS, test_threads()},
                                    {TUSK_OPT_BEAM_SIZE, beam},
                                    {TUSK_OPT_MIN_DECODING_LENGTH, min_length},
                                    {TUSK_OPT_MAX_DECODING_LENGTH, max_length}});
  const Model model = open_model(opt.get());
  const Translator tr = make_translator(model.get(), opt.get());
  return translate(tr.get(), "en", "de", kTexts);
}

class MinDecodingLength : public ::testing::TestWithParam<int64_t> {};

TEST_P(MinDecodingLength, EqualToTheMaximumGivesExactlyThatManyTokens) {
  const int64_t beam = GetParam();
  const std::vector<Hyp> natural = run(beam, 0, 64);
  const int32_t eos = natural[0].ids.back();  // a finished translation ends with it
  constexpr int64_t kTokens = 30;             // longer than every natural output here
  for (const Hyp& h : natural) ASSERT_LT(static_cast<int64_t>(h.ids.size()) - 1, kTokens);

  for (const Hyp& h : run(beam, kTokens, kTokens)) {
    ASSERT_EQ(static_cast<int64_t>(h.ids.size()), 1 + kTokens) << h.text;
    ASSERT_EQ(static_cast<int64_t>(h.logprobs.size()), kTokens);
    for (size_t i = 1; i < h.ids.size(); ++i) EXPECT_NE(h.ids[i], eos) << "at " << i;
    // Log-probabilities of the full distribution: finite and at most 0.
    for (float lp : h.logprobs) EXPECT_TRUE(std::isfinite(lp) && lp <= 0.0f) << lp;
  }
}

TEST_P(MinDecodingLength, ChangesNothingForLongerOutputs) {
  const int64_t beam = GetParam();
  const std::vector<Hyp> natural = run(beam, 0, 64);
  const std::vector<Hyp> with_min = run(beam, 3, 64);
  ASSERT_EQ(natural.size(), with_min.size());
  for (size_t i = 0; i < natural.size(); ++i) {
    ASSERT_GT(natural[i].ids.size(), 4u);  // language code + more than 3 tokens
    // Greedy: the same path. Beam: end of sentence was never among the first 3 anyway for
    // these sentences' kept hypotheses, so the same result too.
    EXPECT_EQ(natural[i], with_min[i]) << natural[i].text << " | " << with_min[i].text;
  }
}

INSTANTIATE_TEST_SUITE_P(Search, MinDecodingLength, ::testing::Values(1, 4),
                         [](const auto& info) { return "beam" + std::to_string(info.param); });

}  // namespace
