// Helpers for tests that drive Tusk through its C ABI only (tusk.h): RAII owners for the
// handles, a translate() that copies a result into plain C++ values, and the reference goldens
// (../shared/reference/*.jsonl, written by ../shared/tools/nllb_moe_reference.py).
#pragma once

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>
#include <tusk/tusk.h>

namespace tusk_test {

// ---- paths -------------------------------------------------------------------------------

// The converted real model: $TUSK_TEST_MODEL, else the build's TUSK_DEFAULT_MODEL.
inline std::string model_path() {
  if (const char* env = std::getenv("TUSK_TEST_MODEL"); env != nullptr && *env != '\0') return env;
#ifdef TUSK_TEST_MODEL
  return TUSK_TEST_MODEL;
#else
  throw std::runtime_error("no model: set TUSK_TEST_MODEL");
#endif
}

// The project's shared folder (reference goldens): $TUSK_SHARED_DIR, else the build's.
inline std::string shared_dir() {
  if (const char* env = std::getenv("TUSK_SHARED_DIR"); env != nullptr && *env != '\0') return env;
#ifdef TUSK_SHARED_DIR
  return TUSK_SHARED_DIR;
#else
  throw std::runtime_error("no shared dir: set TUSK_SHARED_DIR");
#endif
}

// Intra-op threads for test translators: $TUSK_TEST_THREADS, else 1. One thread keeps the
// suites fast and deterministic on busy CI machines; tests that are about the parallel path
// ask for more themselves.
inline int64_t test_threads() {
  if (const char* env = std::getenv("TUSK_TEST_THREADS"); env != nullptr && *env != '\0')
    return std::strtoll(env, nullptr, 10);
  return 1;
}

// A fresh directory under $TMPDIR (or /tmp), removed with everything in it.
class TempDir {
 public:
  explicit TempDir(const std::string& prefix) {
    std::string tmpl = (std::filesystem::temp_directory_path() / (prefix + "-XXXXXX")).string();
    if (mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  std::filesystem::path file(const std::string& name) const { return path_ / name; }

 private:
  std::filesystem::path path_;
};

// ---- handles -------------------------------------------------------------------------------

struct OptionsDeleter {
  void operator()(tusk_options_t* p) const { tusk_options_destroy(p); }
};
struct ModelDeleter {
  void operator()(tusk_model_t* p) const { tusk_model_close(p); }
};
struct TranslatorDeleter {
  void operator()(tusk_translator_t* p) const { tusk_translator_destroy(p); }
};
struct ResultDeleter {
  void operator()(tusk_result_t* p) const { tusk_result_free(p); }
};
using Options = std::unique_ptr<tusk_options_t, OptionsDeleter>;
using Model = std::unique_ptr<tusk_model_t, ModelDeleter>;
using Translator = std::unique_ptr<tusk_translator_t, TranslatorDeleter>;
using Result = std::unique_ptr<tusk_result_t, ResultDeleter>;

// Thrown by the helpers below when a call that should succeed fails; gtest reports it with
// the message.
inline std::string describe_failure(const char* what, tusk_status_t st) {
  return std::string(what) + " failed: " + tusk_status_name(st) + ": " + tusk_last_error();
}
inline void check(tusk_status_t st, const char* what) {
  if (st != TUSK_OK) throw std::runtime_error(describe_failure(what, st));
}

struct IntOption {
  tusk_option_t key;
  int64_t value;
};

inline Options make_options(std::initializer_list<IntOption> ints = {},
                            std::initializer_list<std::pair<tusk_option_t, double>> floats = {}) {
  tusk_options_t* raw = nullptr;
  check(tusk_options_create(&raw), "tusk_options_create");
  Options opt(raw);
  for (const auto& o : ints) check(tusk_options_set_int(raw, o.key, o.value), "tusk_options_set_int");
  for (const auto& o : floats)
    check(tusk_options_set_float(raw, o.first, o.second), "tusk_options_set_float");
  return opt;
}

inline Model open_model(const tusk_options_t* options = nullptr,
                        const std::string& path = model_path()) {
  tusk_model_t* raw = nullptr;
  check(tusk_model_open(path.c_str(), options, &raw), ("tusk_model_open(" + path + ")").c_str());
  return Model(raw);
}

inline Translator make_translator(tusk_model_t* model, const tusk_options_t* options) {
  tusk_translator_t* raw = nullptr;
  check(tusk_translator_create(model, options, &raw), "tusk_translator_create");
  return Translator(raw);
}

// ---- results -------------------------------------------------------------------------------

// One translation, copied out of a tusk_result_t.
struct Hyp {
  std::string text;
  std::vector<int32_t> ids;      // target-language code first, eos last
  std::vector<float> logprobs;   // one per generated token: ids.size() - 1
  double score = 0.0;
  int32_t truncated = 0;

  bool operator==(const Hyp& o) const {
    return text == o.text && ids == o.ids && logprobs == o.logprobs && score == o.score &&
           truncated == o.truncated;
  }
};

inline std::vector<Hyp> copy_result(const tusk_result_t* res) {
  std::vector<Hyp> out(tusk_result_count(res));
  for (size_t i = 0; i < out.size(); ++i) {
    Hyp& h = out[i];
    const char* text = tusk_result_text(res, i);
    if (text == nullptr) throw std::runtime_error("tusk_result_text returned NULL in range");
    h.text = text;
    const int32_t* ids = nullptr;
    const size_t n_ids = tusk_result_tokens(res, i, &ids);
    if (n_ids > 0 && ids == nullptr) throw std::runtime_error("tusk_result_tokens: NULL ids");
    h.ids.assign(ids, ids + n_ids);
    const float* lp = nullptr;
    const size_t n_lp = tusk_result_token_logprobs(res, i, &lp);
    if (n_lp > 0 && lp == nullptr) throw std::runtime_error("tusk_result_token_logprobs: NULL");
    h.logprobs.assign(lp, lp + n_lp);
    h.score = tusk_result_score(res, i);
    h.truncated = tusk_result_truncated(res, i);
  }
  return out;
}

// Translates all of texts in one tusk_translate call; throws if the call fails.
inline std::vector<Hyp> translate(tusk_translator_t* tr, const std::string& src,
                                  const std::string& tgt, const std::vector<std::string>& texts) {
  std::vector<const char*> ptrs;
  ptrs.reserve(texts.size());
  for (const auto& t : texts) ptrs.push_back(t.c_str());
  tusk_result_t* raw = nullptr;
  const tusk_status_t st = tusk_translate(tr, src.c_str(), tgt.c_str(), ptrs.data(), ptrs.size(), &raw);
  if (st != TUSK_OK) throw std::runtime_error(describe_failure(("tusk_translate " + src + "->" + tgt).c_str(), st));
  Result res(raw);
  std::vector<Hyp> out = copy_result(raw);
  if (out.size() != texts.size())
    throw std::runtime_error("tusk_result_count " + std::to_string(out.size()) + " != " +
                             std::to_string(texts.size()) + " inputs");
  return out;
}

// ---- reference goldens ---------------------------------------------------------------------

inline const std::vector<std::string>& directions() {
  static const std::vector<std::string> d = {"en-de", "en-fr", "en-cs", "de-en", "fr-en", "cs-en"};
  return d;
}

struct Golden {
  std::string source;
  std::vector<int32_t> source_ids;
  std::vector<int32_t> output_ids;  // target-language code first, eos last
  std::vector<double> token_logprobs;
  std::vector<double> top2_margins;
  std::string translation;
};

// Reads <shared>/reference/<direction>.jsonl.
inline std::vector<Golden> load_golden(const std::string& direction) {
  const std::string path = shared_dir() + "/reference/" + direction + ".jsonl";
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot open golden file " + path);
  std::vector<Golden> out;
  std::string line;
  int line_no = 0;
  while (std::getline(in, line)) {
    ++line_no;
    if (line.empty()) continue;
    try {
      const auto j = nlohmann::json::parse(line);
      Golden g;
      g.source = j.at("source").get<std::string>();
      g.source_ids = j.at("source_ids").get<std::vector<int32_t>>();
      g.output_ids = j.at("output_ids").get<std::vector<int32_t>>();
      g.token_logprobs = j.at("token_logprobs").get<std::vector<double>>();
      g.top2_margins = j.at("top2_margins").get<std::vector<double>>();
      g.translation = j.at("translation").get<std::string>();
      out.push_back(std::move(g));
    } catch (const nlohmann::json::exception& e) {
      throw std::runtime_error(path + ":" + std::to_string(line_no) + ": " + e.what());
    }
  }
  if (out.empty()) throw std::runtime_error("no lines in golden file " + path);
  return out;
}

inline std::vector<std::string> sources(const std::vector<Golden>& goldens) {
  std::vector<std::string> out;
  out.reserve(goldens.size());
  for (const auto& g : goldens) out.push_back(g.source);
  return out;
}

inline std::pair<std::string, std::string> split_direction(const std::string& direction) {
  const auto dash = direction.find('-');
  return {direction.substr(0, dash), direction.substr(dash + 1)};
}

}  // namespace tusk_test
