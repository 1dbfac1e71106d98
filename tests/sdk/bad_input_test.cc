// Bad input through the C ABI (issue 2, requirement 9): every case gets a non-zero status and a
// message from tusk_last_error(), leaves out-parameters untouched, and never crashes.
//
// Test suites named NoModel* need no model file (CTest label "unit"); the others use the real
// converted model (label "model", fixture default_model).
#include <gtest/gtest.h>

#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <limits>
#include <string>
#include <thread>
#include <vector>

#include "tusk_test_util.h"

namespace {

namespace fs = std::filesystem;
using namespace tusk_test;

void write_file(const fs::path& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!out) throw std::runtime_error("cannot write " + path.string());
}

// Copies the first n bytes of from into to.
void copy_prefix(const fs::path& from, const fs::path& to, uint64_t n) {
  std::ifstream in(from, std::ios::binary);
  std::ofstream out(to, std::ios::binary | std::ios::trunc);
  if (!in || !out) throw std::runtime_error("cannot copy " + from.string());
  std::vector<char> buf(1 << 20);
  while (n > 0) {
    const auto chunk = static_cast<std::streamsize>(std::min<uint64_t>(n, buf.size()));
    in.read(buf.data(), chunk);
    if (in.gcount() != chunk) throw std::runtime_error("short read from " + from.string());
    out.write(buf.data(), chunk);
    n -= static_cast<uint64_t>(chunk);
  }
  if (!out) throw std::runtime_error("cannot write " + to.string());
}

// Inverts every bit of the byte at offset.
void flip_byte(const fs::path& path, uint64_t offset) {
  std::fstream f(path, std::ios::binary | std::ios::in | std::ios::out);
  f.seekg(static_cast<std::streamoff>(offset));
  char c = 0;
  f.read(&c, 1);
  c = static_cast<char>(~static_cast<unsigned char>(c));
  f.seekp(static_cast<std::streamoff>(offset));
  f.write(&c, 1);
  if (!f) throw std::runtime_error("cannot flip a byte of " + path.string());
}

// tusk_model_open must fail with want, explain itself, and leave *out alone.
void expect_open_fails(const std::string& path, tusk_status_t want, const std::string& what,
                       const tusk_options_t* options = nullptr) {
  SCOPED_TRACE(what + " (" + path + ")");
  tusk_model_t* const sentinel = reinterpret_cast<tusk_model_t*>(uintptr_t{0x5e771e});
  tusk_model_t* out = sentinel;
  const tusk_status_t st = tusk_model_open(path.c_str(), options, &out);
  const std::string message = tusk_last_error();
  EXPECT_EQ(st, want) << "got " << tusk_status_name(st) << ": " << message;
  EXPECT_EQ(out, sentinel) << "out-parameter changed on failure";
  EXPECT_FALSE(message.empty()) << "tusk_last_error() is empty after a failed open";
  std::printf("  %s -> %s: %s\n", what.c_str(), tusk_status_name(st), message.c_str());
  if (st == TUSK_OK && out != sentinel) {
    // Say how far the damage gets, to help whoever fixes the reader.
    tusk_translator_t* tr = nullptr;
    const tusk_status_t tst = tusk_translator_create(out, options, &tr);
    ADD_FAILURE() << "tusk_model_open accepted the damaged file; tusk_translator_create then "
                  << "returned " << tusk_status_name(tst)
                  << (tst == TUSK_OK ? "" : std::string(": ") + tusk_last_error());
    tusk_translator_destroy(tst == TUSK_OK ? tr : nullptr);
    tusk_model_close(out);
  }
}

// ---- model files that need no real model (label unit) -----------------------------------------

TEST(NoModelFile, MissingFileIsIoError) {
  expect_open_fails("/nonexistent-dir/definitely/missing.tusk", TUSK_ERROR_IO, "missing file");
}

TEST(NoModelFile, DirectoryIsRejected) {
  TempDir dir("tusk-bad-input");
  const tusk_status_t st = [&] {
    tusk_model_t* out = nullptr;
    const tusk_status_t s = tusk_model_open(dir.file("").c_str(), nullptr, &out);
    if (s == TUSK_OK) tusk_model_close(out);
    return s;
  }();
  EXPECT_TRUE(st == TUSK_ERROR_IO || st == TUSK_ERROR_INVALID_MODEL) << tusk_status_name(st);
  EXPECT_STRNE(tusk_last_error(), "");
}

TEST(NoModelFile, EmptyFileIsInvalidModel) {
  TempDir dir("tusk-bad-input");
  write_file(dir.file("empty.tusk"), "");
  expect_open_fails(dir.file("empty.tusk"), TUSK_ERROR_INVALID_MODEL, "empty file");
}

TEST(NoModelFile, TextFileIsInvalidModel) {
  TempDir dir("tusk-bad-input");
  std::string text;
  for (int i = 0; i < 500; ++i) text += "This is not a model file, just some text.\n";
  write_file(dir.file("text.tusk"), text);
  expect_open_fails(dir.file("text.tusk"), TUSK_ERROR_INVALID_MODEL, "text file");
}

TEST(NoModelFile, MagicAloneIsInvalidModel) {
  TempDir dir("tusk-bad-input");
  write_file(dir.file("magic.tusk"), "TUSK");
  expect_open_fails(dir.file("magic.tusk"), TUSK_ERROR_INVALID_MODEL, "magic only");
  // The magic followed by a page of garbage: header fields then point anywhere.
  std::string junk = "TUSK";
  for (int i = 0; i < 8192; ++i) junk += static_cast<char>((i * 131 + 7) & 0xff);
  write_file(dir.file("junk.tusk"), junk);
  expect_open_fails(dir.file("junk.tusk"), TUSK_ERROR_INVALID_MODEL, "magic + garbage");
}

TEST(NoModelFile, NullArguments) {
  tusk_model_t* const sentinel = reinterpret_cast<tusk_model_t*>(uintptr_t{0x5e771e});
  tusk_model_t* out = sentinel;
  EXPECT_EQ(tusk_model_open(nullptr, nullptr, &out), TUSK_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(out, sentinel);
  EXPECT_STRNE(tusk_last_error(), "");
  EXPECT_EQ(tusk_model_open("/nonexistent.tusk", nullptr, nullptr), TUSK_ERROR_INVALID_ARGUMENT);
  EXPECT_STRNE(tusk_last_error(), "");
  // Destroy functions accept NULL.
  tusk_model_close(nullptr);
  tusk_translator_destroy(nullptr);
  tusk_result_free(nullptr);
  tusk_options_destroy(nullptr);
  tusk_translator_t* tr_sentinel = reinterpret_cast<tusk_translator_t*>(uintptr_t{0x5e771e});
  tusk_translator_t* tr = tr_sentinel;
  EXPECT_EQ(tusk_translator_create(nullptr, nullptr, &tr), TUSK_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(tr, tr_sentinel);
  const char* desc = "untouched";
  EXPECT_EQ(tusk_model_describe(nullptr, &desc), TUSK_ERROR_INVALID_ARGUMENT);
  EXPECT_STREQ(desc, "untouched");
  int32_t count = -7;
  EXPECT_EQ(tusk_model_language_count(nullptr, &count), TUSK_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(count, -7);
}

TEST(NoModelFile, NullResultAccessors) {
  EXPECT_EQ(tusk_result_count(nullptr), 0u);
  EXPECT_EQ(tusk_result_text(nullptr, 0), nullptr);
  const int32_t* ids = nullptr;
  EXPECT_EQ(tusk_result_tokens(nullptr, 0, &ids), 0u);
  EXPECT_EQ(ids, nullptr);
  const float* lp = nullptr;
  EXPECT_EQ(tusk_result_token_logprobs(nullptr, 0, &lp), 0u);
  EXPECT_EQ(lp, nullptr);
  EXPECT_EQ(tusk_result_truncated(nullptr, 0), 0);
}

// ---- options (label unit) ---------------------------------------------------------------------

TEST(NoModelOptions, Defaults) {
  const Options opt = make_options();
  int64_t v = -1;
  ASSERT_EQ(tusk_options_get_int(opt.get(), TUSK_OPT_BEAM_SIZE, &v), TUSK_OK);
  EXPECT_EQ(v, 1);
  ASSERT_EQ(tusk_options_get_int(opt.get(), TUSK_OPT_TRUNCATE_INPUT, &v), TUSK_OK);
  EXPECT_EQ(v, 0);
  ASSERT_EQ(tusk_options_get_int(opt.get(), TUSK_OPT_VERIFY_CHECKSUMS, &v), TUSK_OK);
  EXPECT_EQ(v, 1);
  ASSERT_EQ(tusk_options_get_int(opt.get(), TUSK_OPT_MIN_DECODING_LENGTH, &v), TUSK_OK);
  EXPECT_EQ(v, 0);
  double f = -1.0;
  ASSERT_EQ(tusk_options_get_float(opt.get(), TUSK_OPT_LENGTH_PENALTY, &f), TUSK_OK);
  EXPECT_EQ(f, 0.0);
}

// A failed set must not change the stored value, and must explain itself.
void expect_set_int_fails(tusk_options_t* opt, tusk_option_t key, int64_t value,
                          const std::string& what) {
  SCOPED_TRACE(what);
  int64_t before = -12345, after = -12345;
  const bool readable = tusk_options_get_int(opt, key, &before) == TUSK_OK;
  const tusk_status_t st = tusk_options_set_int(opt, key, value);
  EXPECT_EQ(st, TUSK_ERROR_INVALID_ARGUMENT) << tusk_status_name(st);
  EXPECT_STRNE(tusk_last_error(), "");
  if (readable) {
    ASSERT_EQ(tusk_options_get_int(opt, key, &after), TUSK_OK);
    EXPECT_EQ(after, before) << "value changed by a failed set";
  }
}

TEST(NoModelOptions, InvalidIntOptions) {
  const Options opt = make_options();
  expect_set_int_fails(opt.get(), static_cast<tusk_option_t>(9999), 1, "unknown key");
  expect_set_int_fails(opt.get(), static_cast<tusk_option_t>(0), 1, "key 0");
  expect_set_int_fails(opt.get(), TUSK_OPT_BEAM_SIZE, -1, "negative beam size");
  expect_set_int_fails(opt.get(), TUSK_OPT_BEAM_SIZE, 0, "beam size 0");
  expect_set_int_fails(opt.get(), TUSK_OPT_THREADS, -2, "negative threads");
  expect_set_int_fails(opt.get(), TUSK_OPT_DEVICE, 42, "unknown device");
  expect_set_int_fails(opt.get(), TUSK_OPT_MIN_DECODING_LENGTH, -1, "negative minimum length");
  expect_set_int_fails(opt.get(), TUSK_OPT_LENGTH_PENALTY, 1, "float option set as int");
}

// Every option's errors name it as tusk.h does, with the value and the accepted range.
TEST(NoModelOptions, ErrorsNameTheOption) {
  const Options opt = make_options();
  int named = 0;
  for (int key = 1; key < 200; ++key) {
    const auto k = static_cast<tusk_option_t>(key);
    int64_t iv = 0;
    double fv = 0;
    if (tusk_options_get_int(opt.get(), k, &iv) == TUSK_OK) {
      ASSERT_NE(tusk_options_set_int(opt.get(), k, std::numeric_limits<int64_t>::min()), TUSK_OK);
    } else if (tusk_options_get_float(opt.get(), k, &fv) == TUSK_OK) {
      ASSERT_NE(tusk_options_set_float(opt.get(), k, -1e300), TUSK_OK);
    } else {
      continue;  // not an option
    }
    const std::string message = tusk_last_error();
    EXPECT_NE(message.find(" for TUSK_OPT_"), std::string::npos) << "key " << key << ": " << message;
    EXPECT_NE(message.find(" is outside ["), std::string::npos) << message;
    ++named;
  }
  EXPECT_GE(named, 26);
  ASSERT_NE(tusk_options_set_int(opt.get(), TUSK_OPT_BEAM_SIZE, 300), TUSK_OK);
  EXPECT_NE(std::string(tusk_last_error()).find("value 300 for TUSK_OPT_BEAM_SIZE is outside [1, 256]"),
            std::string::npos)
      << tusk_last_error();
  ASSERT_NE(tusk_options_set_float(opt.get(), TUSK_OPT_LENGTH_PENALTY, 11.5), TUSK_OK);
  EXPECT_NE(std::string(tusk_last_error()).find("value 11.5 for TUSK_OPT_LENGTH_PENALTY is outside [0, 10]"),
            std::string::npos)
      << tusk_last_error();
}

TEST(NoModelOptions, InvalidFloatOptions) {
  const Options opt = make_options();
  EXPECT_EQ(tusk_options_set_float(opt.get(), static_cast<tusk_option_t>(9999), 1.0),
            TUSK_ERROR_INVALID_ARGUMENT);
  EXPECT_STRNE(tusk_last_error(), "");
  EXPECT_EQ(tusk_options_set_float(opt.get(), TUSK_OPT_BEAM_SIZE, 4.0),
            TUSK_ERROR_INVALID_ARGUMENT)
      << "int option set as float";
  EXPECT_STRNE(tusk_last_error(), "");
  EXPECT_EQ(tusk_options_set_float(opt.get(), TUSK_OPT_LENGTH_PENALTY,
                                   std::numeric_limits<double>::quiet_NaN()),
            TUSK_ERROR_INVALID_ARGUMENT)
      << "NaN length penalty";
  double f = -1.0;
  ASSERT_EQ(tusk_options_get_float(opt.get(), TUSK_OPT_LENGTH_PENALTY, &f), TUSK_OK);
  EXPECT_EQ(f, 0.0) << "value changed by a failed set";
}

TEST(NoModelOptions, GettersLeaveOutUntouchedOnFailure) {
  const Options opt = make_options();
  int64_t v = 777;
  EXPECT_EQ(tusk_options_get_int(opt.get(), static_cast<tusk_option_t>(9999), &v),
            TUSK_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(v, 777);
  EXPECT_EQ(tusk_options_get_int(opt.get(), TUSK_OPT_LENGTH_PENALTY, &v),
            TUSK_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(v, 777);
  double f = 7.5;
  EXPECT_EQ(tusk_options_get_float(opt.get(), TUSK_OPT_BEAM_SIZE, &f), TUSK_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(f, 7.5);
  EXPECT_EQ(tusk_options_get_int(nullptr, TUSK_OPT_BEAM_SIZE, &v), TUSK_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(v, 777);
  EXPECT_EQ(tusk_options_get_int(opt.get(), TUSK_OPT_BEAM_SIZE, nullptr),
            TUSK_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(tusk_options_set_int(nullptr, TUSK_OPT_BEAM_SIZE, 2), TUSK_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(tusk_options_create(nullptr), TUSK_ERROR_INVALID_ARGUMENT);
  EXPECT_STRNE(tusk_last_error(), "");
}

TEST(NoModelLastError, IsThreadLocal) {
  // This thread fails one way, another thread another way: neither sees the other's message.
  ASSERT_NE(tusk_model_open("/nonexistent-main-thread.tusk", nullptr, nullptr), TUSK_OK);
  const std::string mine = tusk_last_error();
  ASSERT_FALSE(mine.empty());
  std::string theirs, theirs_before;
  std::thread t([&] {
    theirs_before = tusk_last_error();
    tusk_model_t* out = nullptr;
    tusk_model_open("/nonexistent-dir/other-thread.tusk", nullptr, &out);
    theirs = tusk_last_error();
  });
  t.join();
  EXPECT_EQ(theirs_before, "") << "a fresh thread starts with an empty message";
  EXPECT_NE(theirs.find("other-thread"), std::string::npos) << theirs;
  EXPECT_EQ(std::string(tusk_last_error()), mine);
}

TEST(NoModelStatus, NamesAreNeverNull) {
  for (int s = 0; s <= 12; ++s) {
    const char* name = tusk_status_name(static_cast<tusk_status_t>(s));
    ASSERT_NE(name, nullptr) << s;
    EXPECT_STRNE(name, "") << s;
  }
  EXPECT_STREQ(tusk_status_name(TUSK_OK), "TUSK_OK");
  EXPECT_STREQ(tusk_status_name(TUSK_ERROR_INVALID_MODEL), "TUSK_ERROR_INVALID_MODEL");
  EXPECT_NE(tusk_status_name(static_cast<tusk_status_t>(-1)), nullptr);
}

// ---- damaged copies of the real model (label model) --------------------------------------------

uint64_t real_model_size() {
  std::error_code ec;
  const auto size = fs::file_size(model_path(), ec);
  if (ec) throw std::runtime_error("cannot stat the test model " + model_path() + ": " + ec.message());
  return size;
}

TEST(CorruptModel, RealModelOpens) {
  // The control: the undamaged file opens, so the failures below are about the damage.
  const Model model = open_model();
  EXPECT_NE(model.get(), nullptr);
}

TEST(CorruptModel, TruncatedToHalf) {
  TempDir dir("tusk-bad-input");
  copy_prefix(model_path(), dir.file("half.tusk"), real_model_size() / 2);
  expect_open_fails(dir.file("half.tusk"), TUSK_ERROR_INVALID_MODEL, "truncated to half");
}

TEST(CorruptModel, TruncatedTo100Bytes) {
  TempDir dir("tusk-bad-input");
  copy_prefix(model_path(), dir.file("tiny.tusk"), 100);
  expect_open_fails(dir.file("tiny.tusk"), TUSK_ERROR_INVALID_MODEL, "truncated to 100 bytes");
}

TEST(CorruptModel, TruncatedByOneByte) {
  TempDir dir("tusk-bad-input");
  copy_prefix(model_path(), dir.file("minus1.tusk"), real_model_size() - 1);
  expect_open_fails(dir.file("minus1.tusk"), TUSK_ERROR_INVALID_MODEL, "missing the last byte");
}

TEST(CorruptModel, FlippedBytes) {
  TempDir dir("tusk-bad-input");
  const fs::path copy = dir.file("flipped.tusk");
  const uint64_t size = real_model_size();
  fs::copy_file(model_path(), copy);
  struct Case {
    uint64_t offset;
    const char* what;
  };
  const Case cases[] = {
      {0, "byte 0 (magic)"},
      {size / 2, "a byte in the middle of the weights (checksums)"},
      {size - 1024, "a byte in the last 4 KB (metadata)"},
  };
  for (const Case& c : cases) {
    flip_byte(copy, c.offset);
    expect_open_fails(copy, TUSK_ERROR_INVALID_MODEL,
                      std::string(c.what) + " at offset " + std::to_string(c.offset));
    flip_byte(copy, c.offset);  // restore for the next case
  }
  // The restored copy is the original again.
  tusk_model_t* out = nullptr;
  EXPECT_EQ(tusk_model_open(copy.c_str(), nullptr, &out), TUSK_OK) << tusk_last_error();
  tusk_model_close(out);
}

// ---- translation requests (label model) ---------------------------------------------------------

class BadRequest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    options_ =
        make_options({{TUSK_OPT_MAX_DECODING_LENGTH, 64}, {TUSK_OPT_THREADS, test_threads()}})
            .release();
    model_ = open_model(options_).release();
    translator_ = make_translator(model_, options_).release();
  }
  static void TearDownTestSuite() {
    tusk_translator_destroy(translator_);
    tusk_model_close(model_);
    tusk_options_destroy(options_);
    translator_ = nullptr;
    model_ = nullptr;
    options_ = nullptr;
  }

  // tusk_translate must fail with want and leave *out alone; returns the message.
  static std::string expect_translate_fails(tusk_translator_t* tr, const char* src,
                                            const char* tgt, const char* const* texts,
                                            size_t count, tusk_status_t want,
                                            const std::string& what) {
    SCOPED_TRACE(what);
    tusk_result_t* const sentinel = reinterpret_cast<tusk_result_t*>(uintptr_t{0x5e771e});
    tusk_result_t* out = sentinel;
    const tusk_status_t st = tusk_translate(tr, src, tgt, texts, count, &out);
    const std::string message = tusk_last_error();
    EXPECT_EQ(st, want) << "got " << tusk_status_name(st) << ": " << message;
    EXPECT_EQ(out, sentinel) << "out-parameter changed on failure";
    EXPECT_FALSE(message.empty()) << "tusk_last_error() is empty after a failed translate";
    std::printf("  %s -> %s: %s\n", what.c_str(), tusk_status_name(st), message.c_str());
    if (st == TUSK_OK && out != sentinel) tusk_result_free(out);
    return message;
  }

  static std::string long_sentence(int words) {
    std::string s;
    for (int i = 0; i < words; ++i) s += (i ? " " : "") + std::string(i % 2 ? "house" : "dog");
    return s + ".";
  }

  static tusk_options_t* options_;
  static tusk_model_t* model_;
  static tusk_translator_t* translator_;
};

tusk_options_t* BadRequest::options_ = nullptr;
tusk_model_t* BadRequest::model_ = nullptr;
tusk_translator_t* BadRequest::translator_ = nullptr;

const char* const kOne[] = {"A dog runs on the beach."};

TEST_F(BadRequest, UnknownLanguage) {
  const std::string m1 =
      expect_translate_fails(translator_, "xx", "de", kOne, 1, TUSK_ERROR_UNKNOWN_LANGUAGE, "src xx");
  EXPECT_NE(m1.find("xx"), std::string::npos) << "message should name the code: " << m1;
  const std::string m2 =
      expect_translate_fails(translator_, "en", "xx", kOne, 1, TUSK_ERROR_UNKNOWN_LANGUAGE, "tgt xx");
  EXPECT_NE(m2.find("xx"), std::string::npos) << "message should name the code: " << m2;
  expect_translate_fails(translator_, "en", "zz-ZZ", kOne, 1, TUSK_ERROR_UNKNOWN_LANGUAGE,
                         "tgt zz-ZZ");
  // An empty code is unknown or invalid; either way it fails with a message.
  tusk_result_t* out = nullptr;
  const tusk_status_t st = tusk_translate(translator_, "", "de", kOne, 1, &out);
  EXPECT_TRUE(st == TUSK_ERROR_UNKNOWN_LANGUAGE || st == TUSK_ERROR_INVALID_ARGUMENT)
      << tusk_status_name(st);
  EXPECT_EQ(out, nullptr);
  EXPECT_STRNE(tusk_last_error(), "");
}

TEST_F(BadRequest, NullArguments) {
  expect_translate_fails(nullptr, "en", "de", kOne, 1, TUSK_ERROR_INVALID_ARGUMENT, "translator NULL");
  expect_translate_fails(translator_, nullptr, "de", kOne, 1, TUSK_ERROR_INVALID_ARGUMENT, "src NULL");
  expect_translate_fails(translator_, "en", nullptr, kOne, 1, TUSK_ERROR_INVALID_ARGUMENT, "tgt NULL");
  expect_translate_fails(translator_, "en", "de", nullptr, 1, TUSK_ERROR_INVALID_ARGUMENT, "texts NULL");
  const char* const with_null[] = {"A dog runs.", nullptr, "A cat sleeps."};
  expect_translate_fails(translator_, "en", "de", with_null, 3, TUSK_ERROR_INVALID_ARGUMENT,
                         "texts[1] NULL");
  EXPECT_EQ(tusk_translate(translator_, "en", "de", kOne, 1, nullptr), TUSK_ERROR_INVALID_ARGUMENT)
      << "out NULL";
  EXPECT_STRNE(tusk_last_error(), "");
}

TEST_F(BadRequest, CountZero) {
  expect_translate_fails(translator_, "en", "de", kOne, 0, TUSK_ERROR_INVALID_ARGUMENT, "count 0");
}

TEST_F(BadRequest, InvalidUtf8) {
  const char* const bad[] = {
      "\xff\xfe",                            // bytes that never occur in UTF-8
      "\xc0\xaf",                            // overlong encoding of '/'
      "\xe2\x82",                            // truncated 3-byte sequence (euro sign without its tail)
      "A man \xe2\x82 rides a bike.",        // truncated sequence inside a sentence
      "\xed\xa0\x80",                        // UTF-16 surrogate
      "A dog\x80 runs.",                     // stray continuation byte
  };
  for (const char* text : bad) {
    std::string hex;  // printable ASCII as is, every other byte as \xNN
    for (const char* p = text; *p; ++p) {
      const auto byte = static_cast<unsigned char>(*p);
      char b[8];
      if (byte >= 0x20 && byte < 0x7f) {
        b[0] = static_cast<char>(byte);
        b[1] = '\0';
      } else {
        std::snprintf(b, sizeof b, "\\x%02x", byte);
      }
      hex += b;
    }
    const char* one[] = {text};
    expect_translate_fails(translator_, "en", "de", one, 1, TUSK_ERROR_INVALID_ARGUMENT,
                           "invalid UTF-8: " + hex);
    // All or nothing: one bad sentence among good ones fails the whole call.
    const char* mixed[] = {"A dog runs.", text, "A cat sleeps."};
    expect_translate_fails(translator_, "en", "de", mixed, 3, TUSK_ERROR_INVALID_ARGUMENT,
                           "invalid UTF-8 among valid sentences: " + hex);
  }
  // Valid multi-byte UTF-8 is fine.
  const auto ok = translate(translator_, "de", "en", {"Ein Mädchen läuft über die Straße."});
  ASSERT_EQ(ok.size(), 1u);
  EXPECT_FALSE(ok[0].text.empty());
}

TEST_F(BadRequest, EmptyInputGivesEmptyOutput) {
  const auto one = translate(translator_, "en", "de", {""});
  ASSERT_EQ(one.size(), 1u);
  EXPECT_EQ(one[0].text, "");
  // In a batch, the empty line stays in its place and the others are translated.
  const auto batch = translate(translator_, "en", "de", {"A dog runs.", "", "A cat sleeps."});
  ASSERT_EQ(batch.size(), 3u);
  EXPECT_FALSE(batch[0].text.empty());
  EXPECT_EQ(batch[1].text, "");
  EXPECT_FALSE(batch[2].text.empty());
  const auto alone = translate(translator_, "en", "de", {"A dog runs."});
  EXPECT_EQ(batch[0].ids, alone[0].ids) << "an empty neighbour changed a translation";
}

TEST_F(BadRequest, BlankInputOfAnyWhitespaceGivesEmptyOutput) {
  // Tab, vertical tab, no-break space, zero-width space, ideographic space: no pieces, no text.
  const std::vector<std::string> blanks = {" \t ", "\v", "\xc2\xa0", "\xe2\x80\x8b", "\xe3\x80\x80"};
  const auto res = translate(translator_, "en", "de", blanks);
  ASSERT_EQ(res.size(), blanks.size());
  for (size_t i = 0; i < res.size(); ++i) {
    EXPECT_EQ(res[i].text, "") << "blank input " << i;
    EXPECT_TRUE(res[i].ids.empty()) << "blank input " << i;
  }
}

TEST_F(BadRequest, TooLongInputIsRefusedByDefault) {
  // 600 words is well over the model's 256 positions.
  const std::string text = long_sentence(600);
  const char* texts[] = {"A dog runs.", text.c_str()};
  expect_translate_fails(translator_, "en", "de", texts, 2, TUSK_ERROR_INPUT_TOO_LONG,
                         "600 words, default options");
}

TEST_F(BadRequest, TooLongInputIsTruncatedWhenAsked) {
  const Options opt =
      make_options({{TUSK_OPT_TRUNCATE_INPUT, 1}, {TUSK_OPT_MAX_DECODING_LENGTH, 64},
                    {TUSK_OPT_THREADS, test_threads()}});
  const Translator tr = make_translator(model_, opt.get());
  const std::string text = long_sentence(600);
  const auto res = translate(tr.get(), "en", "de", {"A dog runs.", text});
  ASSERT_EQ(res.size(), 2u);
  EXPECT_EQ(res[0].truncated, 0);
  EXPECT_FALSE(res[0].text.empty());
  EXPECT_EQ(res[1].truncated, 1);
  EXPECT_FALSE(res[1].text.empty());
  ASSERT_FALSE(res[1].ids.empty());
  EXPECT_LE(res[1].ids.size(), 64u + 1u) << "max decoding length ignored";
}

TEST_F(BadRequest, ResultAccessorsOutOfRange) {
  tusk_result_t* raw = nullptr;
  ASSERT_EQ(tusk_translate(translator_, "en", "de", kOne, 1, &raw), TUSK_OK) << tusk_last_error();
  const Result res(raw);
  ASSERT_EQ(tusk_result_count(raw), 1u);
  EXPECT_NE(tusk_result_text(raw, 0), nullptr);
  EXPECT_EQ(tusk_result_text(raw, 1), nullptr);
  EXPECT_EQ(tusk_result_text(raw, static_cast<size_t>(-1)), nullptr);
  const int32_t* ids = reinterpret_cast<const int32_t*>(uintptr_t{0x5e771e});
  EXPECT_EQ(tusk_result_tokens(raw, 1, &ids), 0u);
  EXPECT_EQ(ids, nullptr);
  const float* lp = reinterpret_cast<const float*>(uintptr_t{0x5e771e});
  EXPECT_EQ(tusk_result_token_logprobs(raw, 1, &lp), 0u);
  EXPECT_EQ(lp, nullptr);
  EXPECT_EQ(tusk_result_truncated(raw, 1), 0);
}

TEST_F(BadRequest, ModelQueriesOutOfRange) {
  int32_t n = 0;
  ASSERT_EQ(tusk_model_language_count(model_, &n), TUSK_OK);
  const char* code = "untouched";
  EXPECT_EQ(tusk_model_language(model_, n, &code), TUSK_ERROR_INVALID_ARGUMENT);
  EXPECT_STREQ(code, "untouched");
  EXPECT_EQ(tusk_model_language(model_, -1, &code), TUSK_ERROR_INVALID_ARGUMENT);
  EXPECT_STREQ(code, "untouched");
  EXPECT_STRNE(tusk_last_error(), "");
  const char* desc = nullptr;
  ASSERT_EQ(tusk_model_describe(model_, &desc), TUSK_OK);
  ASSERT_NE(desc, nullptr);
  EXPECT_STRNE(desc, "");
}

TEST_F(BadRequest, TranslatorStillWorksAfterErrors) {
  // Failed calls leave no state behind: the next good call succeeds and clears nothing it shouldn't.
  expect_translate_fails(translator_, "xx", "de", kOne, 1, TUSK_ERROR_UNKNOWN_LANGUAGE, "xx");
  const auto res = translate(translator_, "en", "de", {kOne[0]});
  ASSERT_EQ(res.size(), 1u);
  EXPECT_FALSE(res[0].text.empty());
}

}  // namespace
