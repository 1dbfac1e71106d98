// Parity with Hugging Face on checkpoints transformers itself wrote (../shared/models/hf-tiny):
// each folder is converted at fp32 through the C ABI, and Tusk's greedy ids and text are
// compared with transformers 4.40's generate() and decode(skip_special_tokens=True) in its
// goldens.jsonl. Requirement: at least 99% of sentences equal, every other one a near-tie
// (HF's top-2 margin below 1e-3 where the ids first differ); where the ids are equal, every
// token's log-probability within 1e-4 of HF's. One sentence at a time and whole batches
// (padding, one batch per language pair) must both hold.
#include <gtest/gtest.h>

#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "test_helpers.h"
#include "tusk/tusk.h"

namespace {

using nlohmann::json;
using tusk::test::TempDir;

// HF's generate(max_new_tokens=40) counts the forced language code: 39 generated tokens.
constexpr int kMaxGenerated = 39;
constexpr double kNearTie = 1e-3;
// fp32 against fp32: measured differences are below 3e-6 on these checkpoints.
constexpr double kLogprobTolerance = 1e-4;

struct Golden {
  json g;
  std::vector<int32_t> output_ids() const { return g["output_ids"].get<std::vector<int32_t>>(); }
};

std::vector<Golden> load_goldens(const std::string& path) {
  std::vector<Golden> out;
  std::ifstream in(path);
  for (std::string line; std::getline(in, line);)
    if (!line.empty()) out.push_back({json::parse(line)});
  return out;
}

// Turns the runaway guards off (the library's defaults turn some on).
void guards_off(tusk_options_t* o) {
  ASSERT_EQ(tusk_options_set_int(o, TUSK_OPT_NO_REPEAT_NGRAM_SIZE, 0), TUSK_OK);
  ASSERT_EQ(tusk_options_set_float(o, TUSK_OPT_MAX_LENGTH_RATIO, 0.0), TUSK_OK);
}

class HfParity : public ::testing::TestWithParam<const char*> {
 protected:
  void SetUp() override {
    folder_ = tusk::test::shared_dir() + "/models/hf-tiny/" + GetParam();
    if (!tusk::test::file_exists(folder_ + "/goldens.jsonl")) GTEST_SKIP() << folder_ << " not found";
    goldens_ = load_goldens(folder_ + "/goldens.jsonl");
    ASSERT_FALSE(goldens_.empty());
    const std::string out = dir_.file("model.tusk");
    ASSERT_EQ(tusk_convert_hf(folder_.c_str(), out.c_str(), nullptr, nullptr, nullptr), TUSK_OK) << tusk_last_error();
    ASSERT_EQ(tusk_options_create(&options_), TUSK_OK);
    ASSERT_EQ(tusk_options_set_int(options_, TUSK_OPT_MAX_DECODING_LENGTH, kMaxGenerated), TUSK_OK);
    guards_off(options_);  // transformers' generate() has none
    ASSERT_EQ(tusk_model_open(out.c_str(), options_, &model_), TUSK_OK) << tusk_last_error();
    ASSERT_EQ(tusk_translator_create(model_, options_, &translator_), TUSK_OK) << tusk_last_error();
  }
  void TearDown() override {
    tusk_translator_destroy(translator_);
    tusk_model_close(model_);
    tusk_options_destroy(options_);
  }

  // Compares result i with a golden; counts exact matches, fails on a difference that is not
  // a near-tie.
  void compare(const tusk_result_t* r, size_t i, const Golden& gold, const std::string& what) {
    const int32_t* ids = nullptr;
    const size_t n = tusk_result_tokens(r, i, &ids);
    const std::vector<int32_t> got(ids, ids + n), want = gold.output_ids();
    ++compared_;
    if (got == want) {
      ++equal_;
      EXPECT_EQ(tusk_result_text(r, i), gold.g["translation"].get<std::string>()) << what;
      // The numbers too, not only their argmax: each generated token's log-probability.
      const float* logprobs = nullptr;
      const size_t m = tusk_result_token_logprobs(r, i, &logprobs);
      const auto hf = gold.g["token_logprobs"].get<std::vector<double>>();
      EXPECT_EQ(m, hf.size()) << what;
      for (size_t k = 0; k < m && k < hf.size(); ++k)
        EXPECT_NEAR(logprobs[k], hf[k], kLogprobTolerance) << what << ", token " << k + 1;
      return;
    }
    size_t k = 0;
    while (k < got.size() && k < want.size() && got[k] == want[k]) ++k;
    // top2_margins[j] is HF's margin at output position j + 1 (position 0 is the forced code).
    const auto margins = gold.g["top2_margins"].get<std::vector<double>>();
    const bool near_tie = k >= 1 && k - 1 < margins.size() && margins[k - 1] < kNearTie;
    EXPECT_TRUE(near_tie) << what << ": ids differ at position " << k << " where HF's margin is "
                          << (k >= 1 && k - 1 < margins.size() ? margins[k - 1] : -1.0);
  }

  std::string folder_;
  std::vector<Golden> goldens_;
  TempDir dir_;
  tusk_options_t* options_ = nullptr;
  tusk_model_t* model_ = nullptr;
  tusk_translator_t* translator_ = nullptr;
  int compared_ = 0, equal_ = 0;
};

TEST_P(HfParity, GreedyIdsAndTextOneByOne) {
  for (size_t i = 0; i < goldens_.size(); ++i) {
    const Golden& gold = goldens_[i];
    // Alternate the code forms: full NLLB codes and ISO 639-1 codes are both accepted.
    const std::string src = gold.g[i % 2 ? "src" : "src_code"], tgt = gold.g[i % 2 ? "tgt_code" : "tgt"];
    const std::string text = gold.g["source"];
    const char* texts[] = {text.c_str()};
    tusk_result_t* r = nullptr;
    ASSERT_EQ(tusk_translate(translator_, src.c_str(), tgt.c_str(), texts, 1, &r), TUSK_OK) << tusk_last_error();
    compare(r, 0, gold, std::string(GetParam()) + " sentence " + std::to_string(i) + " " + src + "->" + tgt);
    tusk_result_free(r);
  }
  EXPECT_GE(equal_ * 100, compared_ * 99) << equal_ << " of " << compared_ << " equal";
}

TEST_P(HfParity, GreedyIdsInBatches) {
  for (size_t first = 0; first < goldens_.size();) {
    size_t last = first;
    while (last < goldens_.size() && goldens_[last].g["src"] == goldens_[first].g["src"] &&
           goldens_[last].g["tgt"] == goldens_[first].g["tgt"])
      ++last;
    std::vector<std::string> texts;
    std::vector<const char*> pointers;
    for (size_t i = first; i < last; ++i) texts.push_back(goldens_[i].g["source"]);
    for (const std::string& t : texts) pointers.push_back(t.c_str());
    const std::string src = goldens_[first].g["src"], tgt = goldens_[first].g["tgt"];
    tusk_result_t* r = nullptr;
    ASSERT_EQ(tusk_translate(translator_, src.c_str(), tgt.c_str(), pointers.data(), pointers.size(), &r), TUSK_OK)
        << tusk_last_error();
    ASSERT_EQ(tusk_result_count(r), pointers.size());
    for (size_t i = first; i < last; ++i)
      compare(r, i - first, goldens_[i], std::string(GetParam()) + " batch " + src + "->" + tgt + " #" + std::to_string(i));
    tusk_result_free(r);
    first = last;
  }
  EXPECT_GE(equal_ * 100, compared_ * 99) << equal_ << " of " << compared_ << " equal";
}

TEST_P(HfParity, LanguagesListBothCodes) {
  int32_t count = 0;
  ASSERT_EQ(tusk_model_language_count(model_, &count), TUSK_OK);
  EXPECT_EQ(count, 202);
  bool english = false;
  for (int32_t i = 0; i < count; ++i) {
    const char *code = nullptr, *token = nullptr;
    ASSERT_EQ(tusk_model_language(model_, i, &code), TUSK_OK);
    ASSERT_EQ(tusk_model_language_token(model_, i, &token), TUSK_OK);
    if (std::string(token) == "eng_Latn") english = std::string(code) == "en";
  }
  EXPECT_TRUE(english);
  const char* token = nullptr;
  EXPECT_EQ(tusk_model_language_token(model_, count, &token), TUSK_ERROR_INVALID_ARGUMENT);
  const char* texts[] = {"A dog."};
  tusk_result_t* r = nullptr;
  EXPECT_EQ(tusk_translate(translator_, "eng_Latn", "xx_Latn", texts, 1, &r), TUSK_ERROR_UNKNOWN_LANGUAGE);
  EXPECT_EQ(tusk_translate(translator_, "eng_latn", "de", texts, 1, &r), TUSK_ERROR_UNKNOWN_LANGUAGE);
}

// A dense model has no experts: the paging options are accepted and change nothing.
TEST_P(HfParity, PagingOptionsOnADenseModelAreANoOp) {
  if (std::string(GetParam()) != "m2m100") GTEST_SKIP() << "dense models only";
  uint64_t total = 1, largest = 1;
  ASSERT_EQ(tusk_model_expert_bytes(model_, &total, &largest), TUSK_OK);
  EXPECT_EQ(total, 0u);
  tusk_options_t* o = nullptr;
  ASSERT_EQ(tusk_options_create(&o), TUSK_OK);
  ASSERT_EQ(tusk_options_set_int(o, TUSK_OPT_MAX_DECODING_LENGTH, kMaxGenerated), TUSK_OK);
  guards_off(o);
  ASSERT_EQ(tusk_options_set_int(o, TUSK_OPT_EXPERT_BUDGET_BYTES, 1), TUSK_OK);
  ASSERT_EQ(tusk_options_set_int(o, TUSK_OPT_EXPERT_DIRECT_IO, 1), TUSK_OK);
  tusk_translator_t* paged = nullptr;
  ASSERT_EQ(tusk_translator_create(model_, o, &paged), TUSK_OK) << tusk_last_error();
  const std::string text = goldens_[0].g["source"];
  const char* texts[] = {text.c_str()};
  tusk_result_t* r = nullptr;
  ASSERT_EQ(tusk_translate(paged, "en", "de", texts, 1, &r), TUSK_OK) << tusk_last_error();
  compare(r, 0, goldens_[0], "budgeted dense translator");
  EXPECT_EQ(equal_, 1);
  tusk_stats_t stats;
  stats.struct_size = sizeof stats;
  ASSERT_EQ(tusk_translator_stats(paged, &stats), TUSK_OK);
  EXPECT_EQ(stats.misses, 0u);
  EXPECT_EQ(stats.peak_cache_bytes, 0u);
  tusk_result_free(r);
  tusk_translator_destroy(paged);
  tusk_options_destroy(o);
}

// Quantized dense weights run end to end (int4 included: embedding rows dequantized from
// nibbles, every linear on int4 kernels): each golden source translates to in-vocabulary
// tokens within the length limit. (A random tiny model's argmax has no margin to survive
// quantization, so the tokens themselves are not compared.)
TEST_P(HfParity, QuantizedDenseWeightsTranslate) {
  for (tusk_weight_type_t dense : {TUSK_WEIGHTS_INT8, TUSK_WEIGHTS_INT4}) {
    tusk_options_t* o = nullptr;
    ASSERT_EQ(tusk_options_create(&o), TUSK_OK);
    ASSERT_EQ(tusk_options_set_int(o, TUSK_OPT_DENSE_WEIGHTS, dense), TUSK_OK);
    ASSERT_EQ(tusk_options_set_int(o, TUSK_OPT_MAX_DECODING_LENGTH, kMaxGenerated), TUSK_OK);
    const std::string out = dir_.file("dense" + std::to_string(dense) + ".tusk");
    ASSERT_EQ(tusk_convert_hf(folder_.c_str(), out.c_str(), o, nullptr, nullptr), TUSK_OK) << tusk_last_error();
    tusk_model_t* model = nullptr;
    ASSERT_EQ(tusk_model_open(out.c_str(), o, &model), TUSK_OK) << tusk_last_error();
    tusk_translator_t* translator = nullptr;
    ASSERT_EQ(tusk_translator_create(model, o, &translator), TUSK_OK) << tusk_last_error();
    std::ifstream config_file(folder_ + "/config.json");
    const int64_t vocab = json::parse(config_file)["vocab_size"].get<int64_t>();
    for (const Golden& gold : goldens_) {
      const std::string text = gold.g["source"];
      const char* texts[] = {text.c_str()};
      tusk_result_t* r = nullptr;
      ASSERT_EQ(tusk_translate(translator, gold.g["src"].get<std::string>().c_str(),
                               gold.g["tgt"].get<std::string>().c_str(), texts, 1, &r), TUSK_OK)
          << tusk_last_error();
      const int32_t* ids = nullptr;
      const size_t n = tusk_result_tokens(r, 0, &ids);
      EXPECT_GE(n, 2u);
      EXPECT_LE(n, static_cast<size_t>(kMaxGenerated) + 1);
      for (size_t k = 0; k < n; ++k) EXPECT_TRUE(ids[k] >= 0 && ids[k] < vocab) << ids[k];
      tusk_result_free(r);
    }
    tusk_translator_destroy(translator);
    tusk_model_close(model);
    tusk_options_destroy(o);
  }
}

INSTANTIATE_TEST_SUITE_P(HfTiny, HfParity, ::testing::Values("nllb-moe", "m2m100"),
                         [](const auto& info) { return std::string(info.param) == "nllb-moe" ? "NllbMoe" : "M2M100"; });

}  // namespace
