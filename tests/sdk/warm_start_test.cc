// Calibration and warm start through the C ABI: the committed model's usage table, measuring
// a table into a copy of it, importing a table, and preloading a pair's experts.
#include <gtest/gtest.h>

#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "tusk_test_util.h"

namespace {

using namespace tusk_test;

namespace fs = std::filesystem;

std::string describe(tusk_model_t* model) {
  const char* text = nullptr;
  check(tusk_model_describe(model, &text), "tusk_model_describe");
  return text;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// A private copy of the default model, removed at the end.
class ModelCopy {
 public:
  ModelCopy() : dir_(fs::temp_directory_path() / ("tusk-warm-" + std::to_string(::getpid()) + "-" +
                                                  std::to_string(counter_++))) {
    fs::create_directories(dir_);
    fs::copy_file(model_path(), path());
  }
  ~ModelCopy() { fs::remove_all(dir_); }
  std::string path() const { return (dir_ / "model.tusk").string(); }
  std::string file(const std::string& name) const { return (dir_ / name).string(); }
  std::vector<std::string> entries() const {
    std::vector<std::string> names;
    for (const auto& e : fs::directory_iterator(dir_)) names.push_back(e.path().filename().string());
    return names;
  }

 private:
  static inline int counter_ = 0;
  fs::path dir_;
};

const std::vector<const char*> kSentences = {"A man rides a bike down the street.",
                                             "Two dogs are playing in the snow.", "",
                                             "A little girl is climbing a tree."};

TEST(Calibration, CommittedModelHasEveryDirection) {
  const Model model = open_model();
  const std::string text = describe(model.get());
  for (const char* d : {"en-de", "de-en", "en-fr", "fr-en", "en-cs", "cs-en"})
    EXPECT_NE(text.find(std::string("  ") + d + " (1014 sentences):"), std::string::npos) << d << "\n" << text;
}

TEST(Calibration, MeasuresAndStoresATable) {
  ModelCopy copy;
  const tusk_calibration_text_t texts[] = {{"en", "fr", kSentences.data(), kSentences.size()}};
  struct Seen {
    uint64_t calls = 0, last_done = 0, total = 0;
  } seen;
  const auto progress = [](uint64_t done, uint64_t total, const char*, void* user) -> int32_t {
    auto* s = static_cast<Seen*>(user);
    ++s->calls;
    s->last_done = done;
    s->total = total;
    return 0;
  };
  const std::string table = copy.file("usage.tsv");
  check(tusk_model_calibrate(copy.path().c_str(), texts, 1, nullptr, table.c_str(), progress, &seen),
        "tusk_model_calibrate");
  EXPECT_EQ(seen.total, kSentences.size());
  EXPECT_EQ(seen.last_done, kSentences.size());
  EXPECT_GT(seen.calls, 1u);

  const Model model = open_model(nullptr, copy.path());
  const std::string text = describe(model.get());
  EXPECT_NE(text.find("expert usage:  1 language pairs"), std::string::npos) << text;
  EXPECT_NE(text.find("en-fr (3 sentences):"), std::string::npos) << text;  // the blank one is skipped
  EXPECT_EQ(text.find("en-de ("), std::string::npos) << "the old table is replaced:\n" << text;
  const std::string tsv = read_file(table);
  EXPECT_EQ(tsv.rfind("# tusk expert usage v1", 0), 0u) << tsv;
  EXPECT_NE(tsv.find("\nen\tfr\t3\t"), std::string::npos) << tsv;

  // The text table goes into another copy and says the same.
  ModelCopy other;
  check(tusk_model_import_expert_usage(other.path().c_str(), table.c_str()), "tusk_model_import_expert_usage");
  const Model imported = open_model(nullptr, other.path());
  EXPECT_EQ(describe(imported.get()).substr(describe(imported.get()).find("expert usage:")),
            text.substr(text.find("expert usage:")));
}

TEST(Calibration, FailuresLeaveTheFileUntouched) {
  ModelCopy copy;
  const std::string before = read_file(copy.path());
  const tusk_calibration_text_t unknown[] = {{"en", "xx", kSentences.data(), kSentences.size()}};
  EXPECT_EQ(tusk_model_calibrate(copy.path().c_str(), unknown, 1, nullptr, nullptr, nullptr, nullptr),
            TUSK_ERROR_UNKNOWN_LANGUAGE);
  const char* bad_utf8[] = {"ok", "\xff\xfe"};
  const tusk_calibration_text_t invalid[] = {{"en", "de", bad_utf8, 2}};
  EXPECT_EQ(tusk_model_calibrate(copy.path().c_str(), invalid, 1, nullptr, nullptr, nullptr, nullptr),
            TUSK_ERROR_INVALID_ARGUMENT);
  EXPECT_NE(std::string(tusk_last_error()).find("sentence 2"), std::string::npos) << tusk_last_error();
  const auto cancel = [](uint64_t done, uint64_t, const char*, void*) -> int32_t { return done >= 1; };
  const tusk_calibration_text_t texts[] = {{"en", "de", kSentences.data(), kSentences.size()}};
  EXPECT_EQ(tusk_model_calibrate(copy.path().c_str(), texts, 1, nullptr, nullptr, cancel, nullptr),
            TUSK_ERROR_CANCELLED);
  EXPECT_EQ(tusk_model_calibrate(copy.path().c_str(), nullptr, 1, nullptr, nullptr, nullptr, nullptr),
            TUSK_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(tusk_model_calibrate(copy.path().c_str(), texts, 0, nullptr, nullptr, nullptr, nullptr),
            TUSK_ERROR_INVALID_ARGUMENT);
  // A table that does not fit the model.
  const std::string table = copy.file("bad.tsv");
  std::ofstream(table) << "en\tde\t1\t1\t2\n";
  EXPECT_EQ(tusk_model_import_expert_usage(copy.path().c_str(), table.c_str()), TUSK_ERROR_INVALID_ARGUMENT);
  EXPECT_NE(std::string(tusk_last_error()).find("line 1"), std::string::npos) << tusk_last_error();
  EXPECT_EQ(tusk_model_import_expert_usage(copy.path().c_str(), copy.file("missing.tsv").c_str()),
            TUSK_ERROR_IO);
  EXPECT_EQ(read_file(copy.path()), before);
  EXPECT_EQ(copy.entries().size(), 2u) << "model.tusk and bad.tsv only: no temporary file left";
}

class WarmStart : public ::testing::Test {
 protected:
  static uint64_t total_expert_bytes(tusk_model_t* model) {
    uint64_t total = 0;
    check(tusk_model_expert_bytes(model, &total, nullptr), "tusk_model_expert_bytes");
    return total;
  }
};

TEST_F(WarmStart, LoadsThePairsMostUsedExpertsIntoHalfTheBudget) {
  const Model model = open_model();
  const uint64_t budget = total_expert_bytes(model.get()) / 4;
  const Options options = make_options({{TUSK_OPT_THREADS, test_threads()},
                                        {TUSK_OPT_EXPERT_BUDGET_BYTES, static_cast<int64_t>(budget)},
                                        {TUSK_OPT_EXPERT_PREFETCH, 0}});
  const Translator tr = make_translator(model.get(), options.get());
  uint64_t loaded = 0;
  check(tusk_translator_warm_start(tr.get(), "en", "de", &loaded), "tusk_translator_warm_start");
  EXPECT_GT(loaded, 0u);
  tusk_stats_t s{};
  s.struct_size = sizeof s;
  check(tusk_translator_stats(tr.get(), &s), "tusk_translator_stats");
  EXPECT_EQ(s.warm_start_loaded, loaded);
  EXPECT_LE(s.peak_cache_bytes, budget / 2);
  EXPECT_EQ(s.hits + s.misses, 0u) << "a warm start is not an acquire";
  // Again: they are in already.
  check(tusk_translator_warm_start(tr.get(), "en", "de", &loaded), "tusk_translator_warm_start");
  EXPECT_EQ(loaded, 0u);
  check(tusk_translator_warm_start(tr.get(), "en", "de", nullptr), "tusk_translator_warm_start(NULL out)");

  // Same translations as a cold resident translator, and the preloaded experts are hits.
  const std::vector<std::string> in = {"A man rides a bike down the street.", "Two dogs play in the snow."};
  const Options resident_options = make_options({{TUSK_OPT_THREADS, test_threads()}});
  const Translator resident = make_translator(model.get(), resident_options.get());
  const auto want = translate(resident.get(), "en", "de", in);
  const auto got = translate(tr.get(), "en", "de", in);
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) EXPECT_TRUE(got[i] == want[i]) << i;
  check(tusk_translator_stats(tr.get(), &s), "tusk_translator_stats");
  EXPECT_GT(s.hits, 0u);
}

TEST_F(WarmStart, NothingToDoIsNotAnError) {
  const Model model = open_model();
  const Options resident_options = make_options({{TUSK_OPT_THREADS, test_threads()}});
  const Translator resident = make_translator(model.get(), resident_options.get());
  uint64_t loaded = 7;
  check(tusk_translator_warm_start(resident.get(), "en", "de", &loaded), "warm start, no budget");
  EXPECT_EQ(loaded, 0u);
  const Options budget = make_options(
      {{TUSK_OPT_EXPERT_BUDGET_BYTES, static_cast<int64_t>(total_expert_bytes(model.get()) / 4)}});
  const Translator tr = make_translator(model.get(), budget.get());
  loaded = 7;
  check(tusk_translator_warm_start(tr.get(), "de", "fr", &loaded), "warm start, uncalibrated pair");
  EXPECT_EQ(loaded, 0u);
  EXPECT_EQ(tusk_translator_warm_start(tr.get(), "en", "xx", &loaded), TUSK_ERROR_UNKNOWN_LANGUAGE);
  EXPECT_EQ(tusk_translator_warm_start(nullptr, "en", "de", &loaded), TUSK_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(tusk_translator_warm_start(tr.get(), nullptr, "de", &loaded), TUSK_ERROR_INVALID_ARGUMENT);
}

}  // namespace
