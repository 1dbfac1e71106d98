// A model file that changes on disk while a model is open (tusk_model_open, "Model files that
// change on disk"): overwritten in place (as `cp` does), truncated, rewritten with the same
// size, deleted, or replaced by rename. Each call must return a clear error or a correct
// translation; none may crash. Run for both residencies (TUSK_OPT_MAP_MODEL 0 and 1), with
// every expert resident and with paging (the smallest budget, so experts are read from the
// file during calls), and with O_DIRECT expert reads.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include "tusk_test_util.h"

namespace {

namespace fs = std::filesystem;
using namespace tusk_test;

const std::vector<std::string> kSentences = {"A man rides a bike down the street.",
                                             "Two dogs play in the snow.",
                                             "A woman in a red coat is reading a book on a bench."};

std::string read_all(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

void write_new(const fs::path& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!out) throw std::runtime_error("cannot write " + path.string());
}

// What `cp new path` does to an existing file: same inode, truncated, then written.
void overwrite_in_place(const fs::path& path, const std::string& bytes) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_TRUNC);
  if (fd < 0) throw std::runtime_error("cannot open " + path.string() + " for writing");
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n <= 0) throw std::runtime_error("short write to " + path.string());
    done += static_cast<size_t>(n);
  }
  ::close(fd);
}

// A rewrite can land within the file system's timestamp granularity (a few ms) of the open;
// real updates come later than that, so move the modification time on by a second.
void age_mtime(const fs::path& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) throw std::runtime_error("cannot stat " + path.string());
  struct timespec times[2] = {st.st_atim, st.st_mtim};
  times[1].tv_sec += 1;
  if (::utimensat(AT_FDCWD, path.c_str(), times, 0) != 0) throw std::runtime_error("utimensat failed");
}

struct Mode {
  bool map;
  bool paging;
  bool direct_io;
};

std::string mode_name(const testing::TestParamInfo<Mode>& info) {
  return std::string(info.param.map ? "Map" : "Copy") + (info.param.paging ? "Paging" : "Resident") +
         (info.param.direct_io ? "DirectIo" : "");
}

class ChangingFile : public testing::TestWithParam<Mode> {
 protected:
  void SetUp() override {
    original_ = read_all(model_path());
    ASSERT_GT(original_.size(), 4096u);
    path_ = dir_.file("model.tusk");
    write_new(path_, original_);
    const Options model_options = make_options({{TUSK_OPT_MAP_MODEL, GetParam().map ? 1 : 0}});
    model_ = open_model(model_options.get(), path_.string());
    uint64_t total = 0, largest = 0;
    check(tusk_model_expert_bytes(model_.get(), &total, &largest), "tusk_model_expert_bytes");
    const Options options = make_options({{TUSK_OPT_THREADS, test_threads()},
                                          {TUSK_OPT_EXPERT_BUDGET_BYTES,
                                           GetParam().paging ? static_cast<int64_t>(largest) : 0},
                                          {TUSK_OPT_EXPERT_DIRECT_IO, GetParam().direct_io ? 1 : 0}});
    translator_ = make_translator(model_.get(), options.get());
  }

  // The call's status, and its texts when it succeeded.
  tusk_status_t try_translate(std::vector<std::string>* texts = nullptr) {
    std::vector<const char*> ptrs;
    for (const auto& s : kSentences) ptrs.push_back(s.c_str());
    tusk_result_t* raw = nullptr;
    const tusk_status_t st = tusk_translate(translator_.get(), "en", "de", ptrs.data(), ptrs.size(), &raw);
    Result result(raw);
    if (st == TUSK_OK && texts != nullptr) {
      texts->clear();
      for (size_t i = 0; i < kSentences.size(); ++i) texts->push_back(tusk_result_text(raw, i));
    }
    return st;
  }

  std::vector<std::string> reference() {
    static std::vector<std::string> texts;
    if (texts.empty()) {
      const Model model = open_model();
      const Options options = make_options({{TUSK_OPT_THREADS, test_threads()}});
      const Translator tr = make_translator(model.get(), options.get());
      for (const Hyp& h : translate(tr.get(), "en", "de", kSentences)) texts.push_back(h.text);
    }
    return texts;
  }

  void expect_refused_for_good() {
    for (int call = 0; call < 2; ++call) {
      EXPECT_EQ(try_translate(), TUSK_ERROR_IO) << "call " << call;
      EXPECT_NE(std::strstr(tusk_last_error(), "changed in place"), nullptr) << tusk_last_error();
      EXPECT_NE(std::strstr(tusk_last_error(), path_.c_str()), nullptr) << tusk_last_error();
    }
  }

  TempDir dir_{"tusk-changing-file"};
  fs::path path_;
  std::string original_;
  Model model_;
  Translator translator_;
};

TEST_P(ChangingFile, UnchangedFileTranslatesLikeTheOriginal) {
  std::vector<std::string> texts;
  ASSERT_EQ(try_translate(&texts), TUSK_OK) << tusk_last_error();
  EXPECT_EQ(texts, reference());
}

TEST_P(ChangingFile, OverwrittenInPlaceWithAShorterFileIsRefusedNotACrash) {
  std::vector<std::string> texts;
  ASSERT_EQ(try_translate(&texts), TUSK_OK) << tusk_last_error();
  overwrite_in_place(path_, original_.substr(0, original_.size() / 3));
  expect_refused_for_good();
}

TEST_P(ChangingFile, TruncatedToNothingIsRefused) {
  ASSERT_EQ(::truncate(path_.c_str(), 0), 0);
  expect_refused_for_good();
}

TEST_P(ChangingFile, RewrittenWithTheSameSizeIsRefused) {
  std::string changed = original_;
  for (size_t i = 64; i < changed.size(); i += 512) changed[i] = static_cast<char>(changed[i] ^ 0x5a);
  overwrite_in_place(path_, changed);
  age_mtime(path_);
  expect_refused_for_good();
}

TEST_P(ChangingFile, ADeletedFileKeepsTranslating) {
  ASSERT_EQ(::unlink(path_.c_str()), 0);
  std::vector<std::string> texts;
  ASSERT_EQ(try_translate(&texts), TUSK_OK) << tusk_last_error();
  EXPECT_EQ(texts, reference());
}

TEST_P(ChangingFile, ReplacedByRenameTheOpenModelKeepsTheOldFile) {
  // The replacement is a different (here: damaged) file; a model opened now gets it.
  const fs::path next = dir_.file("next.tusk");
  write_new(next, original_.substr(0, original_.size() / 2));
  ASSERT_EQ(::rename(next.c_str(), path_.c_str()), 0);
  std::vector<std::string> texts;
  ASSERT_EQ(try_translate(&texts), TUSK_OK) << tusk_last_error();
  EXPECT_EQ(texts, reference());
  tusk_model_t* reopened = nullptr;
  EXPECT_EQ(tusk_model_open(path_.c_str(), nullptr, &reopened), TUSK_ERROR_INVALID_MODEL);
  EXPECT_EQ(reopened, nullptr);
}

// Truncated while a call runs (from its token callback): with the dense weights copied and the
// experts read with pread, the call ends with a clear error or a correct translation. (A
// mapping offers no such promise, so Map is not run here.)
TEST_P(ChangingFile, TruncatedDuringACallEndsItCleanly) {
  if (GetParam().map) GTEST_SKIP() << "a file truncated under a mapping may end the process (documented)";
  struct Context {
    fs::path path;
    bool done = false;
  } ctx{path_};
  const tusk_token_callback truncate_once = [](const tusk_token_event_t*, void* user) -> int32_t {
    auto* c = static_cast<Context*>(user);
    if (!c->done && ::truncate(c->path.c_str(), 4096) == 0) c->done = true;
    return 0;  // go on
  };
  std::vector<const char*> ptrs;
  for (const auto& s : kSentences) ptrs.push_back(s.c_str());
  tusk_result_t* raw = nullptr;
  const tusk_status_t st = tusk_translate_stream(translator_.get(), "en", "de", ptrs.data(), ptrs.size(), 0,
                                                 truncate_once, &ctx, &raw);
  Result result(raw);
  ASSERT_TRUE(ctx.done);
  if (st == TUSK_OK) {
    for (size_t i = 0; i < kSentences.size(); ++i) EXPECT_EQ(tusk_result_text(raw, i), reference()[i]);
  } else {
    EXPECT_EQ(st, TUSK_ERROR_IO) << tusk_last_error();
  }
  expect_refused_for_good();
}

INSTANTIATE_TEST_SUITE_P(Residencies, ChangingFile,
                         testing::Values(Mode{false, false, false}, Mode{false, true, false},
                                         Mode{false, true, true}, Mode{true, false, false},
                                         Mode{true, true, false}),
                         mode_name);

}  // namespace
