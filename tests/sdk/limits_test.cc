// Limits with documented outcomes (issue 18, requirement 5): each gets a clear error or a
// correct result, and its peak RSS is printed (ctest runs every test in its own process, so
// the peak is the test's own): a 100,000-character line, 10,000 sentences in one call, a 1 MB
// sentence of one repeated character, expert budgets of 1 byte and of 2^63 - 1, and model paths
// that are a directory, a FIFO, /dev/zero, an empty file, and 4 GB of zeros (sparse).
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cstdio>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "tusk_test_util.h"

namespace {

using namespace tusk_test;

// Printed at the end of every test, for the log.
class PeakRss : public testing::EmptyTestEventListener {
  void OnTestEnd(const testing::TestInfo& info) override {
    struct rusage usage;
    getrusage(RUSAGE_SELF, &usage);
    std::printf("peak RSS of %s: %.1f MiB\n", info.name(), usage.ru_maxrss / 1024.0);
  }
};
const bool kListening = [] {
  testing::UnitTest::GetInstance()->listeners().Append(new PeakRss);
  return true;
}();

Translator short_translator(tusk_model_t* model, std::initializer_list<IntOption> more = {}) {
  std::vector<IntOption> ints = {{TUSK_OPT_THREADS, test_threads()}, {TUSK_OPT_MAX_DECODING_LENGTH, 8}};
  ints.insert(ints.end(), more.begin(), more.end());
  tusk_options_t* raw = nullptr;
  check(tusk_options_create(&raw), "tusk_options_create");
  Options options(raw);
  for (const auto& o : ints) check(tusk_options_set_int(raw, o.key, o.value), "tusk_options_set_int");
  return make_translator(model, options.get());
}

struct Call {
  tusk_status_t status;
  std::vector<std::string> texts;
  std::vector<int32_t> truncated;
};

Call run(tusk_translator_t* tr, const std::vector<std::string>& texts, bool text_mode) {
  std::vector<const char*> ptrs;
  for (const auto& t : texts) ptrs.push_back(t.c_str());
  tusk_result_t* raw = nullptr;
  Call c;
  c.status = text_mode ? tusk_translate_text(tr, "en", "de", ptrs.data(), ptrs.size(), &raw)
                       : tusk_translate(tr, "en", "de", ptrs.data(), ptrs.size(), &raw);
  Result result(raw);
  if (c.status == TUSK_OK) {
    for (size_t i = 0; i < tusk_result_count(raw); ++i) {
      c.texts.push_back(tusk_result_text(raw, i));
      c.truncated.push_back(tusk_result_truncated(raw, i));
    }
  }
  return c;
}

TEST(Limits, AHundredThousandCharacterLine) {
  const Model model = open_model();
  std::string line;
  while (line.size() < 100000) line += "A dog runs ";
  line.resize(100000);
  {
    const Translator tr = short_translator(model.get());
    const Call sentence = run(tr.get(), {line}, false);
    EXPECT_EQ(sentence.status, TUSK_ERROR_INPUT_TOO_LONG) << tusk_last_error();
    const Call text = run(tr.get(), {line}, true);  // translated in pieces, marked
    ASSERT_EQ(text.status, TUSK_OK) << tusk_last_error();
    ASSERT_EQ(text.texts.size(), 1u);
    EXPECT_FALSE(text.texts[0].empty());
    EXPECT_EQ(text.truncated[0], 1);
  }
  const Translator cut = short_translator(model.get(), {{TUSK_OPT_TRUNCATE_INPUT, 1}});
  const Call truncated = run(cut.get(), {line}, false);
  ASSERT_EQ(truncated.status, TUSK_OK) << tusk_last_error();
  EXPECT_EQ(truncated.truncated[0], 1);
}

TEST(Limits, TenThousandSentencesInOneCall) {
  const Model model = open_model();
  const Translator tr = short_translator(model.get());
  const std::vector<std::string> samples = {"A dog runs.", "Two men talk.", "", "A red car.", "Kids play."};
  std::vector<std::string> texts;
  for (int i = 0; i < 10000; ++i) texts.push_back(samples[i % samples.size()]);
  const Call all = run(tr.get(), texts, false);
  ASSERT_EQ(all.status, TUSK_OK) << tusk_last_error();
  ASSERT_EQ(all.texts.size(), texts.size());
  const Call one_each = run(tr.get(), samples, false);
  ASSERT_EQ(one_each.status, TUSK_OK) << tusk_last_error();
  for (size_t i = 0; i < texts.size(); ++i) ASSERT_EQ(all.texts[i], one_each.texts[i % samples.size()]) << i;
}

TEST(Limits, AOneMegabyteSentenceOfOneCharacter) {
  const Model model = open_model();
  const Translator tr = short_translator(model.get());
  const std::string line(1 << 20, 'a');
  const Call sentence = run(tr.get(), {line}, false);
  EXPECT_EQ(sentence.status, TUSK_ERROR_INPUT_TOO_LONG) << tusk_last_error();
  // Cut to the model's length. (Text mode would translate all of it, in pieces of the model's
  // length: correct, but about 4 minutes of encoder work on two cores, so not run here.)
  const Translator cut = short_translator(model.get(), {{TUSK_OPT_TRUNCATE_INPUT, 1}});
  const Call truncated = run(cut.get(), {line}, false);
  ASSERT_EQ(truncated.status, TUSK_OK) << tusk_last_error();
  EXPECT_EQ(truncated.truncated.at(0), 1);
}

TEST(Limits, ExpertBudgetsOfOneByteAndTheLargest) {
  const Model model = open_model();
  uint64_t total = 0, largest = 0;
  check(tusk_model_expert_bytes(model.get(), &total, &largest), "tusk_model_expert_bytes");
  ASSERT_GT(largest, 1u);
  const Options tiny = make_options({{TUSK_OPT_EXPERT_BUDGET_BYTES, 1}});
  tusk_translator_t* raw = nullptr;
  EXPECT_EQ(tusk_translator_create(model.get(), tiny.get(), &raw), TUSK_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(raw, nullptr);
  EXPECT_NE(std::strstr(tusk_last_error(), "minimum budget for this model is"), nullptr) << tusk_last_error();

  const Translator all = short_translator(model.get());
  const Translator huge =
      short_translator(model.get(), {{TUSK_OPT_EXPERT_BUDGET_BYTES, std::numeric_limits<int64_t>::max()}});
  const std::vector<std::string> texts = {"A man rides a bike down the street.", "Two dogs play in the snow."};
  const Call a = run(all.get(), texts, false), b = run(huge.get(), texts, false);
  ASSERT_EQ(b.status, TUSK_OK) << tusk_last_error();
  EXPECT_EQ(a.texts, b.texts);
}

// tusk_model_open of `path` fails with `status`, a message naming the path, and no model.
void expect_refused(const std::string& path, tusk_status_t status, const char* says) {
  tusk_model_t* raw = nullptr;
  EXPECT_EQ(tusk_model_open(path.c_str(), nullptr, &raw), status) << path << ": " << tusk_last_error();
  EXPECT_EQ(raw, nullptr);
  EXPECT_NE(std::strstr(tusk_last_error(), path.c_str()), nullptr) << tusk_last_error();
  EXPECT_NE(std::strstr(tusk_last_error(), says), nullptr) << tusk_last_error();
}

TEST(Limits, ModelPathsThatAreNoModel) {
  const TempDir dir("tusk-limits");
  expect_refused(dir.file("").string(), TUSK_ERROR_IO, "not a regular file");
  const std::string fifo = dir.file("fifo").string();
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  expect_refused(fifo, TUSK_ERROR_IO, "not a regular file");  // refused at once, not waited on
  expect_refused("/dev/zero", TUSK_ERROR_IO, "not a regular file");
  const std::string empty = dir.file("empty.tusk").string();
  { std::ofstream touch(empty); }
  expect_refused(empty, TUSK_ERROR_INVALID_MODEL, "empty");
  const std::string zeros = dir.file("zeros.tusk").string();
  const int fd = ::open(zeros.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::ftruncate(fd, off_t{4} << 30), 0);  // 4 GiB, sparse: costs no disk
  ::close(fd);
  expect_refused(zeros, TUSK_ERROR_INVALID_MODEL, "bad magic");
}

}  // namespace
