// The runaway guards through the C ABI, as properties of the outputs on the shared reference
// sources: no n-gram twice, at most offset + ratio x source tokens, the minimum length above
// the ratio, and the defaults bounding the runaway probes.
#include <gtest/gtest.h>

#include <cmath>
#include <set>
#include <string>
#include <vector>

#include "tusk_test_util.h"

namespace {

using namespace tusk_test;

struct Guarded {
  Model model = open_model();
  Translator tr;
  Guarded(std::initializer_list<IntOption> ints, std::initializer_list<std::pair<tusk_option_t, double>> floats) {
    std::vector<IntOption> all{{TUSK_OPT_THREADS, test_threads()}};
    all.insert(all.end(), ints.begin(), ints.end());
    tusk_options_t* raw = nullptr;
    check(tusk_options_create(&raw), "tusk_options_create");
    Options options(raw);
    for (const IntOption& o : all) check(tusk_options_set_int(raw, o.key, o.value), "tusk_options_set_int");
    for (const auto& f : floats) check(tusk_options_set_float(raw, f.first, f.second), "tusk_options_set_float");
    tr = make_translator(model.get(), raw);
  }
};

std::vector<int32_t> generated(const Hyp& h) {  // without the language code and the end mark
  std::vector<int32_t> ids(h.ids.begin() + 1, h.ids.end());
  if (!ids.empty() && ids.back() == 2) ids.pop_back();
  return ids;
}

TEST(Guards, NoNgramTwice) {
  Guarded g({{TUSK_OPT_NO_REPEAT_NGRAM_SIZE, 2}}, {{TUSK_OPT_MAX_LENGTH_RATIO, 0.0}});
  for (const char* direction : {"en-de", "cs-en"}) {
    const auto [src, tgt] = split_direction(direction);
    for (const Hyp& h : translate(g.tr.get(), src, tgt, sources(load_golden(direction)))) {
      const std::vector<int32_t> ids = h.ids;  // the end mark counts too: it is a token
      std::set<std::pair<int32_t, int32_t>> bigrams;
      for (size_t i = 2; i + 1 < ids.size(); ++i)  // generated tokens only
        EXPECT_TRUE(bigrams.insert({ids[i], ids[i + 1]}).second) << h.text;
    }
  }
}

TEST(Guards, LengthWithinOffsetPlusRatioTimesSource) {
  Guarded g({{TUSK_OPT_MAX_LENGTH_OFFSET, 1}, {TUSK_OPT_NO_REPEAT_NGRAM_SIZE, 0}}, {{TUSK_OPT_MAX_LENGTH_RATIO, 0.5}});
  const std::vector<Golden> goldens = load_golden("en-de");
  const std::vector<Hyp> out = translate(g.tr.get(), "en", "de", sources(goldens));
  int cut = 0;
  for (size_t i = 0; i < goldens.size(); ++i) {
    const int source_tokens = static_cast<int>(goldens[i].source_ids.size()) - 2;
    const int limit = 1 + static_cast<int>(std::ceil(0.5 * source_tokens));
    EXPECT_LE(static_cast<int>(out[i].ids.size()) - 1, limit) << goldens[i].source;
    cut += static_cast<int>(out[i].ids.size()) - 1 == limit;
  }
  EXPECT_GT(cut, 0);  // the limit bit somewhere
}

TEST(Guards, TheMinimumLengthOutranksTheRatio) {
  Guarded g({{TUSK_OPT_MIN_DECODING_LENGTH, 20}, {TUSK_OPT_MAX_LENGTH_OFFSET, 0}}, {{TUSK_OPT_MAX_LENGTH_RATIO, 0.1}});
  for (const Hyp& h : translate(g.tr.get(), "en", "de", {"A dog.", "Two men are playing soccer."}))
    EXPECT_GE(h.ids.size() - 1, 20u) << h.text;
}

TEST(Guards, DefaultsBoundTheRunawayProbes) {
  Guarded defaults({}, {});
  Guarded off({{TUSK_OPT_NO_REPEAT_NGRAM_SIZE, 0}}, {{TUSK_OPT_MAX_LENGTH_RATIO, 0.0}});
  const std::vector<std::string> probes{"Hello.", "<b>Hand</b> <i>schuhe</i> &amp; <br/>"};
  const std::vector<Hyp> guarded = translate(defaults.tr.get(), "en", "de", probes);
  const std::vector<Hyp> unguarded = translate(off.tr.get(), "en", "de", probes);
  for (size_t i = 0; i < probes.size(); ++i) {
    EXPECT_LE(guarded[i].ids.size(), unguarded[i].ids.size()) << probes[i];
    const std::vector<int32_t> ids = generated(guarded[i]);
    std::set<std::vector<int32_t>> fourgrams;
    for (size_t j = 0; j + 4 <= ids.size(); ++j)
      EXPECT_TRUE(fourgrams.insert(std::vector<int32_t>(ids.begin() + j, ids.begin() + j + 4)).second) << guarded[i].text;
  }
  EXPECT_LT(guarded[1].text.size(), unguarded[1].text.size() / 2) << "the markup line still runs on";
}

TEST(Guards, TheRepetitionPenaltyChangesWhatRepeats) {
  Guarded plain({{TUSK_OPT_NO_REPEAT_NGRAM_SIZE, 0}}, {{TUSK_OPT_MAX_LENGTH_RATIO, 0.0}});
  Guarded penalised({{TUSK_OPT_NO_REPEAT_NGRAM_SIZE, 0}}, {{TUSK_OPT_MAX_LENGTH_RATIO, 0.0}, {TUSK_OPT_REPETITION_PENALTY, 3.0}});
  const std::vector<Hyp> a = translate(plain.tr.get(), "en", "de", {"Hello."});
  const std::vector<Hyp> b = translate(penalised.tr.get(), "en", "de", {"Hello."});
  EXPECT_NE(a[0].ids, b[0].ids);
  EXPECT_LT(b[0].ids.size(), a[0].ids.size());
}

}  // namespace
