// The extern "C" shim: argument checks, exception-to-status mapping, handle ownership.
// No translation logic lives here.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <functional>
#include <memory>
#include <mutex>
#include <new>
#include <string>
#include <vector>

#include "common/error.h"
#include "model_format/convert_hf.h"
#include "model_format/expert_usage_table.h"
#include "model_format/tensor_report.h"
#include "options.h"
#include "sdk/calibration.h"
#include "sdk/model.h"
#include "sdk/translator.h"
#include "tusk/tusk.h"

struct tusk_model_t {
  std::shared_ptr<const tusk::sdk::Model> model;
  std::string description;
  std::vector<std::string> language_codes;
  // Built on the first tusk_model_describe_verbose (one line per tensor: large for big models).
  mutable std::once_flag verbose_once;
  mutable std::string verbose_description;
};

struct tusk_translator_t {
  std::unique_ptr<tusk::sdk::Translator> translator;
};

struct tusk_result_t {
  std::vector<tusk::sdk::Translation> translations;
};

namespace {

thread_local std::string last_error;

// Records "prefix: message" as the thread's last error. Never throws: when even the message
// cannot be allocated (out of memory), the error text is left empty but the status stands.
tusk_status_t fail_with(tusk_status_t status, const char* prefix, const char* message) noexcept {
  try {
    last_error.assign(prefix);
    if (*prefix && *message) last_error.append(": ");
    last_error.append(message);
  } catch (...) {
    last_error.clear();
  }
  return status;
}

tusk_status_t fail(tusk_status_t status, const std::string& message) noexcept {
  return fail_with(status, "", message.c_str());
}

// Runs body; turns every exception into a status and a thread-local message, so no C++
// exception ever crosses the ABI. The handlers themselves do not allocate outside fail_with.
template <typename Body>
tusk_status_t guarded(const char* function, Body&& body) noexcept {
  try {
    return body(function);
  } catch (const tusk::Error& e) {
    return fail_with(static_cast<tusk_status_t>(e.code()), "", e.what());
  } catch (const std::bad_alloc&) {
    return fail_with(TUSK_ERROR_OUT_OF_MEMORY, function, "out of memory");
  } catch (const std::exception& e) {
    return fail_with(TUSK_ERROR_INTERNAL, function, e.what());
  } catch (...) {
    return fail_with(TUSK_ERROR_INTERNAL, function, "unknown exception");
  }
}

#define TUSK_REQUIRE(cond, what)                                                      \
  do {                                                                                \
    if (!(cond)) return fail(TUSK_ERROR_INVALID_ARGUMENT, std::string(fn) + ": " + (what)); \
  } while (0)

using tusk::capi::find_option;
using tusk::capi::option_name;

// A float as people write it: 0.5, 10, 1e-05 (not to_string's 0.500000).
std::string short_float(double v) {
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%g", v);
  return buffer;
}

// Looks up key and checks it has the wanted type; on failure sets the error and returns null.
const tusk::capi::OptionSpec* typed_option(tusk_option_t key, bool want_float, const char* function,
                                           tusk_status_t* status) {
  const auto* spec = find_option(key);
  if (!spec) {
    *status = fail(TUSK_ERROR_INVALID_ARGUMENT, std::string(function) + ": unknown " + option_name(key));
    return nullptr;
  }
  if (spec->is_float != want_float) {
    *status = fail(TUSK_ERROR_INVALID_ARGUMENT,
                   std::string(function) + ": " + option_name(key) + " is " +
                       (spec->is_float ? "a float option; use tusk_options_set_float/get_float"
                                       : "an integer option; use tusk_options_set_int/get_int"));
    return nullptr;
  }
  return spec;
}

tusk::sdk::TranslatorOptions translator_options(const tusk_options_t& o) {
  tusk::sdk::TranslatorOptions t;
  t.threads = static_cast<int>(o.get_int(TUSK_OPT_THREADS));
  t.device = o.get_int(TUSK_OPT_DEVICE) == TUSK_DEVICE_CUDA ? tusk::backends::Device::Cuda : tusk::backends::Device::Cpu;
  t.device_index = static_cast<int>(o.get_int(TUSK_OPT_DEVICE_INDEX));
  switch (o.get_int(TUSK_OPT_COMPUTE_TYPE)) {
    case TUSK_COMPUTE_FP16: t.compute = tusk::backends::Compute::F16; break;
    case TUSK_COMPUTE_BF16: t.compute = tusk::backends::Compute::BF16; break;
    default: t.compute = tusk::backends::Compute::F32; break;
  }
  t.beam_size = static_cast<int>(o.get_int(TUSK_OPT_BEAM_SIZE));
  t.length_penalty = static_cast<float>(o.get_float(TUSK_OPT_LENGTH_PENALTY));
  t.max_decoding_length = static_cast<int>(o.get_int(TUSK_OPT_MAX_DECODING_LENGTH));
  t.min_decoding_length = static_cast<int>(o.get_int(TUSK_OPT_MIN_DECODING_LENGTH));
  t.no_repeat_ngram_size = static_cast<int>(o.get_int(TUSK_OPT_NO_REPEAT_NGRAM_SIZE));
  t.max_length_offset = static_cast<int>(o.get_int(TUSK_OPT_MAX_LENGTH_OFFSET));
  t.max_length_ratio = static_cast<float>(o.get_float(TUSK_OPT_MAX_LENGTH_RATIO));
  t.repetition_penalty = static_cast<float>(o.get_float(TUSK_OPT_REPETITION_PENALTY));
  t.max_batch_size = static_cast<int>(o.get_int(TUSK_OPT_MAX_BATCH_SIZE));
  t.max_batch_tokens = o.get_int(TUSK_OPT_MAX_BATCH_TOKENS);
  t.truncate_input = o.get_int(TUSK_OPT_TRUNCATE_INPUT) != 0;
  t.per_sentence_errors = o.get_int(TUSK_OPT_PER_SENTENCE_ERRORS) != 0;
  t.num_hypotheses = static_cast<int>(o.get_int(TUSK_OPT_NUM_HYPOTHESES));
  t.int8_activations = o.get_int(TUSK_OPT_INT8_ACTIVATIONS) != 0;
  t.expert_budget_bytes = o.get_int(TUSK_OPT_EXPERT_BUDGET_BYTES);
  t.device_expert_budget_bytes = static_cast<uint64_t>(o.get_int(TUSK_OPT_DEVICE_EXPERT_BUDGET_BYTES));
  using Eviction = tusk::sdk::TranslatorOptions::Eviction;
  switch (o.get_int(TUSK_OPT_EXPERT_EVICTION)) {
    case TUSK_EVICTION_LRU: t.eviction_policy = Eviction::Lru; break;
    case TUSK_EVICTION_NONE: t.eviction_policy = Eviction::None; break;
    default: t.eviction_policy = Eviction::LayerDistance; break;
  }
  t.prefetch = o.get_int(TUSK_OPT_EXPERT_PREFETCH) != 0;
  t.direct_io = o.get_int(TUSK_OPT_EXPERT_DIRECT_IO) != 0;
  return t;
}

class CallbackProgress final : public tusk::ProgressSink {
 public:
  CallbackProgress(tusk_progress_callback cb, void* user) : cb_(cb), user_(user) {}
  bool report(unsigned long long done, unsigned long long total, const char* what) override {
    return cb_(done, total, what ? what : "", user_) == 0;
  }

 private:
  tusk_progress_callback cb_;
  void* user_;
};

tusk::format::WeightFormat weight_format(int64_t type) {
  switch (type) {
    case TUSK_WEIGHTS_FP16: return tusk::format::WeightFormat::F16;
    case TUSK_WEIGHTS_INT8: return tusk::format::WeightFormat::Int8;
    case TUSK_WEIGHTS_INT4: return tusk::format::WeightFormat::Int4;
    default: return tusk::format::WeightFormat::F32;  // the options table admits nothing else
  }
}

const tusk_options_t& defaults() {
  static const tusk_options_t empty;
  return empty;
}

}  // namespace

extern "C" {

TUSK_API const char* tusk_last_error(void) { return last_error.c_str(); }

TUSK_API const char* tusk_status_name(tusk_status_t status) {
  switch (status) {
    case TUSK_OK: return "TUSK_OK";
    case TUSK_ERROR_INVALID_ARGUMENT: return "TUSK_ERROR_INVALID_ARGUMENT";
    case TUSK_ERROR_IO: return "TUSK_ERROR_IO";
    case TUSK_ERROR_INVALID_MODEL: return "TUSK_ERROR_INVALID_MODEL";
    case TUSK_ERROR_UNSUPPORTED: return "TUSK_ERROR_UNSUPPORTED";
    case TUSK_ERROR_UNKNOWN_LANGUAGE: return "TUSK_ERROR_UNKNOWN_LANGUAGE";
    case TUSK_ERROR_INPUT_TOO_LONG: return "TUSK_ERROR_INPUT_TOO_LONG";
    case TUSK_ERROR_OUT_OF_MEMORY: return "TUSK_ERROR_OUT_OF_MEMORY";
    case TUSK_ERROR_CANCELLED: return "TUSK_ERROR_CANCELLED";
    case TUSK_ERROR_INTERNAL: return "TUSK_ERROR_INTERNAL";
  }
  return "TUSK_ERROR_UNKNOWN_STATUS";
}

#define TUSK_STR2(x) #x
#define TUSK_STR(x) TUSK_STR2(x)
TUSK_API const char* tusk_version(void) {
  return TUSK_STR(TUSK_VERSION_MAJOR) "." TUSK_STR(TUSK_VERSION_MINOR) "." TUSK_STR(TUSK_VERSION_PATCH);
}

TUSK_API uint32_t tusk_version_number(void) {
  return TUSK_VERSION_MAJOR * 10000 + TUSK_VERSION_MINOR * 100 + TUSK_VERSION_PATCH;
}

TUSK_API tusk_status_t tusk_options_create(tusk_options_t** out) {
  return guarded(__func__, [&](const char* fn) {
    TUSK_REQUIRE(out, "out is NULL");
    *out = new tusk_options_t();
    return TUSK_OK;
  });
}

TUSK_API void tusk_options_destroy(tusk_options_t* options) { delete options; }

TUSK_API tusk_status_t tusk_options_set_int(tusk_options_t* options, tusk_option_t key, int64_t value) {
  return guarded(__func__, [&](const char* fn) {
    TUSK_REQUIRE(options, "options is NULL");
    tusk_status_t status = TUSK_OK;
    const auto* spec = typed_option(key, false, fn, &status);
    if (!spec) return status;
    if (value < spec->int_min || value > spec->int_max)
      return fail(TUSK_ERROR_INVALID_ARGUMENT,
                  std::string(fn) + ": value " + std::to_string(value) + " for " + option_name(key) +
                      " is outside [" + std::to_string(spec->int_min) + ", " + std::to_string(spec->int_max) + "]");
    options->ints[key] = value;
    return TUSK_OK;
  });
}

TUSK_API tusk_status_t tusk_options_set_float(tusk_options_t* options, tusk_option_t key, double value) {
  return guarded(__func__, [&](const char* fn) {
    TUSK_REQUIRE(options, "options is NULL");
    tusk_status_t status = TUSK_OK;
    const auto* spec = typed_option(key, true, fn, &status);
    if (!spec) return status;
    if (!std::isfinite(value) || value < spec->float_min || value > spec->float_max)
      return fail(TUSK_ERROR_INVALID_ARGUMENT,
                  std::string(fn) + ": value " + short_float(value) + " for " + option_name(key) +
                      " is outside [" + short_float(spec->float_min) + ", " + short_float(spec->float_max) + "]");
    options->floats[key] = value;
    return TUSK_OK;
  });
}

TUSK_API tusk_status_t tusk_options_get_int(const tusk_options_t* options, tusk_option_t key, int64_t* value) {
  return guarded(__func__, [&](const char* fn) {
    TUSK_REQUIRE(options && value, "options or value is NULL");
    tusk_status_t status = TUSK_OK;
    if (!typed_option(key, false, fn, &status)) return status;
    *value = options->get_int(key);
    return TUSK_OK;
  });
}

TUSK_API tusk_status_t tusk_options_get_float(const tusk_options_t* options, tusk_option_t key, double* value) {
  return guarded(__func__, [&](const char* fn) {
    TUSK_REQUIRE(options && value, "options or value is NULL");
    tusk_status_t status = TUSK_OK;
    if (!typed_option(key, true, fn, &status)) return status;
    *value = options->get_float(key);
    return TUSK_OK;
  });
}

TUSK_API tusk_status_t tusk_model_open(const char* path, const tusk_options_t* options, tusk_model_t** out) {
  return guarded(__func__, [&](const char* fn) {
    TUSK_REQUIRE(path && out, "path or out is NULL");
    const tusk_options_t& o = options ? *options : defaults();
    auto handle = std::make_unique<tusk_model_t>();
    using tusk::format::ModelFile;
    handle->model = tusk::sdk::Model::open(
        path, {o.get_int(TUSK_OPT_VERIFY_CHECKSUMS) != 0,
               o.get_int(TUSK_OPT_MAP_MODEL) != 0 ? ModelFile::Residency::Map : ModelFile::Residency::Copy});
    handle->description = handle->model->describe();
    for (const auto& l : handle->model->file().languages()) handle->language_codes.push_back(l.code);
    *out = handle.release();
    return TUSK_OK;
  });
}

TUSK_API void tusk_model_close(tusk_model_t* model) { delete model; }

TUSK_API tusk_status_t tusk_model_describe(const tusk_model_t* model, const char** out) {
  return guarded(__func__, [&](const char* fn) {
    TUSK_REQUIRE(model && out, "model or out is NULL");
    *out = model->description.c_str();
    return TUSK_OK;
  });
}

TUSK_API tusk_status_t tusk_model_describe_verbose(const tusk_model_t* model, const char** out) {
  return guarded(__func__, [&](const char* fn) {
    TUSK_REQUIRE(model && out, "model or out is NULL");
    // If building throws, call_once lets the next call try again.
    std::call_once(model->verbose_once, [&] {
      model->verbose_description =
          model->description + tusk::format::describe_tensors(model->model->file());
    });
    *out = model->verbose_description.c_str();
    return TUSK_OK;
  });
}

TUSK_API tusk_status_t tusk_model_expert_bytes(const tusk_model_t* model, uint64_t* total,
                                               uint64_t* largest) {
  return guarded(__func__, [&](const char* fn) {
    TUSK_REQUIRE(model, "model is NULL");
    if (total) *total = model->model->expert_bytes_total();
    if (largest) *largest = model->model->expert_bytes_largest();
    return TUSK_OK;
  });
}

TUSK_API tusk_status_t tusk_model_language_count(const tusk_model_t* model, int32_t* out) {
  return guarded(__func__, [&](const char* fn) {
    TUSK_REQUIRE(model && out, "model or out is NULL");
    *out = static_cast<int32_t>(model->language_codes.size());
    return TUSK_OK;
  });
}

TUSK_API tusk_status_t tusk_model_language(const tusk_model_t* model, int32_t index, const char** out) {
  return guarded(__func__, [&](const char* fn) {
    TUSK_REQUIRE(model && out, "model or out is NULL");
    TUSK_REQUIRE(index >= 0 && static_cast<size_t>(index) < model->language_codes.size(),
                 "language index " + std::to_string(index) + " out of range");
    *out = model->language_codes[index].c_str();
    return TUSK_OK;
  });
}

TUSK_API tusk_status_t tusk_model_language_token(const tusk_model_t* model, int32_t index, const char** out) {
  return guarded(__func__, [&](const char* fn) {
    TUSK_REQUIRE(model && out, "model or out is NULL");
    const auto& languages = model->model->file().languages();
    TUSK_REQUIRE(index >= 0 && static_cast<size_t>(index) < languages.size(),
                 "language index " + std::to_string(index) + " out of range");
    *out = languages[index].token.c_str();
    return TUSK_OK;
  });
}

TUSK_API tusk_status_t tusk_convert_hf(const char* hf_dir, const char* out_path, const tusk_options_t* options,
                                       tusk_progress_callback progress, void* user_data) {
  return guarded(__func__, [&](const char* fn) {
    TUSK_REQUIRE(hf_dir && out_path, "hf_dir or out_path is NULL");
    const tusk_options_t& o = options ? *options : defaults();
    tusk::format::ConvertOptions convert;
    convert.zstd_level = static_cast<int>(o.get_int(TUSK_OPT_ZSTD_LEVEL));
    convert.experts = weight_format(o.get_int(TUSK_OPT_EXPERT_WEIGHTS));
    convert.dense = weight_format(o.get_int(TUSK_OPT_DENSE_WEIGHTS));
    convert.group_size = o.get_int(TUSK_OPT_GROUP_SIZE);
    CallbackProgress sink(progress, user_data);
    tusk::format::convert_hf(hf_dir, out_path, convert, progress ? &sink : nullptr);
    return TUSK_OK;
  });
}

TUSK_API tusk_status_t tusk_model_calibrate(const char* path, const tusk_calibration_text_t* texts, size_t count,
                                            const tusk_options_t* options, const char* usage_out,
                                            tusk_progress_callback progress, void* user_data) {
  return guarded(__func__, [&](const char* fn) {
    TUSK_REQUIRE(path && texts, "path or texts is NULL");
    TUSK_REQUIRE(count > 0, "count is 0: no calibration text");
    std::vector<tusk::sdk::CalibrationText> pairs(count);
    for (size_t i = 0; i < count; ++i) {
      const tusk_calibration_text_t& t = texts[i];
      TUSK_REQUIRE(t.src && t.tgt, "texts[" + std::to_string(i) + "] has a NULL language code");
      TUSK_REQUIRE(t.sentences || t.count == 0, "texts[" + std::to_string(i) + "].sentences is NULL");
      pairs[i].source = t.src;
      pairs[i].target = t.tgt;
      for (size_t j = 0; j < t.count; ++j) {
        TUSK_REQUIRE(t.sentences[j], "texts[" + std::to_string(i) + "].sentences[" + std::to_string(j) + "] is NULL");
        pairs[i].sentences.emplace_back(t.sentences[j]);
      }
    }
    const tusk_options_t& o = options ? *options : defaults();
    CallbackProgress sink(progress, user_data);
    tusk::sdk::calibrate_model_file(path, pairs, static_cast<int>(o.get_int(TUSK_OPT_THREADS)),
                                    o.get_int(TUSK_OPT_VERIFY_CHECKSUMS) != 0, usage_out ? usage_out : "",
                                    progress ? &sink : nullptr);
    return TUSK_OK;
  });
}

TUSK_API tusk_status_t tusk_model_import_expert_usage(const char* path, const char* table_path) {
  return guarded(__func__, [&](const char* fn) {
    TUSK_REQUIRE(path && table_path, "path or table_path is NULL");
    tusk::format::import_usage_table(path, table_path);
    return TUSK_OK;
  });
}

TUSK_API tusk_status_t tusk_translator_warm_start(tusk_translator_t* translator, const char* src, const char* tgt,
                                                  uint64_t* experts_loaded) {
  return guarded(__func__, [&](const char* fn) {
    TUSK_REQUIRE(translator && src && tgt, "translator, src and tgt must not be NULL");
    const uint64_t loaded = translator->translator->warm_start(src, tgt);
    if (experts_loaded) *experts_loaded = loaded;
    return TUSK_OK;
  });
}

TUSK_API tusk_status_t tusk_translator_create(tusk_model_t* model, const tusk_options_t* options,
                                              tusk_translator_t** out) {
  return guarded(__func__, [&](const char* fn) {
    TUSK_REQUIRE(model && out, "model or out is NULL");
    const tusk_options_t& o = options ? *options : defaults();
    auto handle = std::make_unique<tusk_translator_t>();
    handle->translator = std::make_unique<tusk::sdk::Translator>(model->model, translator_options(o));
    *out = handle.release();
    return TUSK_OK;
  });
}

TUSK_API void tusk_translator_destroy(tusk_translator_t* translator) { delete translator; }

namespace {

// The translate calls: the same checks of the texts and the same result; `run` makes the
// translations of the copied inputs.
using TranslateRun =
    std::function<std::vector<tusk::sdk::Translation>(tusk::sdk::Translator&, const std::vector<std::string>&)>;

tusk_status_t translate_with(const char* function, tusk_translator_t* translator, const char* src, const char* tgt,
                             const char* const* texts, size_t count, tusk_result_t** out, const TranslateRun& run) {
  return guarded(function, [&](const char* fn) {
    TUSK_REQUIRE(translator && src && tgt && texts && out, "translator, src, tgt, texts and out must not be NULL");
    TUSK_REQUIRE(count > 0, "count is 0: nothing to translate");
    std::vector<std::string> inputs;
    inputs.reserve(count);
    for (size_t i = 0; i < count; ++i) {
      TUSK_REQUIRE(texts[i], "texts[" + std::to_string(i) + "] is NULL");
      inputs.emplace_back(texts[i]);
    }
    auto result = std::make_unique<tusk_result_t>();
    result->translations = run(*translator->translator, inputs);
    *out = result.release();
    return TUSK_OK;
  });
}

}  // namespace

TUSK_API tusk_status_t tusk_translate(tusk_translator_t* translator, const char* src, const char* tgt,
                                      const char* const* texts, size_t count, tusk_result_t** out) {
  return translate_with(__func__, translator, src, tgt, texts, count, out,
                        [&](tusk::sdk::Translator& t, const std::vector<std::string>& in) { return t.translate(src, tgt, in); });
}

TUSK_API tusk_status_t tusk_translate_text(tusk_translator_t* translator, const char* src, const char* tgt,
                                           const char* const* texts, size_t count, tusk_result_t** out) {
  return translate_with(__func__, translator, src, tgt, texts, count, out,
                        [&](tusk::sdk::Translator& t, const std::vector<std::string>& in) {
                          return t.translate_text(src, tgt, in);
                        });
}

TUSK_API tusk_status_t tusk_translate_prefixed(tusk_translator_t* translator, const char* src, const char* tgt,
                                               const char* const* texts, const char* const* target_prefixes,
                                               size_t count, tusk_result_t** out) {
  if (target_prefixes == nullptr)
    return fail(TUSK_ERROR_INVALID_ARGUMENT, std::string(__func__) + ": target_prefixes is NULL");
  return translate_with(__func__, translator, src, tgt, texts, count, out,
                        [&](tusk::sdk::Translator& t, const std::vector<std::string>& in) {
                          std::vector<std::string> prefixes;
                          for (size_t i = 0; i < in.size(); ++i)
                            prefixes.emplace_back(target_prefixes[i] ? target_prefixes[i] : "");
                          return t.translate_prefixed(src, tgt, in, prefixes);
                        });
}

TUSK_API tusk_status_t tusk_translate_stream(tusk_translator_t* translator, const char* src, const char* tgt,
                                             const char* const* texts, size_t count, int32_t text_mode,
                                             tusk_token_callback callback, void* user_data, tusk_result_t** out) {
  if (callback == nullptr)
    return fail(TUSK_ERROR_INVALID_ARGUMENT, std::string(__func__) + ": callback is NULL");
  const tusk::sdk::TokenCallback on_token = [&](const tusk::sdk::TokenEvent& e) {
    tusk_token_event_t event{};
    event.struct_size = sizeof event;
    event.input = e.input;
    event.sentence = e.sentence;
    event.token = e.token;
    event.logprob = e.logprob;
    event.text = e.text.c_str();
    event.finished = e.finished ? 1 : 0;
    return callback(&event, user_data) == 0;
  };
  return translate_with(__func__, translator, src, tgt, texts, count, out,
                        [&](tusk::sdk::Translator& t, const std::vector<std::string>& in) {
                          return text_mode ? t.translate_text(src, tgt, in, on_token) : t.translate(src, tgt, in, on_token);
                        });
}

TUSK_API tusk_status_t tusk_translate_continuous(tusk_translator_t* translator, tusk_pull_callback pull,
                                                 tusk_deliver_callback deliver, void* user_data) {
  return guarded(__func__, [&](const char* fn) {
    TUSK_REQUIRE(translator && pull && deliver, "translator, pull and deliver must not be NULL");
    const tusk::sdk::PullRequest next = [&](bool idle, tusk::sdk::ContinuousRequest& out) {
      for (;;) {  // a request with NULLs is answered at once, and the next one asked for
        tusk_request_t request{};
        request.struct_size = sizeof request;
        if (pull(user_data, idle ? 1 : 0, &request) == 0) return false;
        bool null = request.src == nullptr || request.tgt == nullptr || (request.texts == nullptr && request.count > 0);
        for (size_t i = 0; !null && i < request.count; ++i) null = request.texts[i] == nullptr;
        if (null) {
          deliver(user_data, request.id, TUSK_ERROR_INVALID_ARGUMENT,
                  "tusk_translate_continuous: a request's src, tgt, texts and each text must not be NULL", nullptr);
          continue;
        }
        try {
          out.id = request.id;
          out.src = request.src;
          out.tgt = request.tgt;
          out.texts.assign(request.texts, request.texts + request.count);
        } catch (const std::bad_alloc&) {  // pulled, so answered: never lost
          deliver(user_data, request.id, TUSK_ERROR_OUT_OF_MEMORY, "tusk_translate_continuous: out of memory", nullptr);
          continue;
        }
        return true;
      }
    };
    const tusk::sdk::DeliverRequest done = [&](uint64_t id, int code, const std::string& error,
                                               std::vector<tusk::sdk::Translation> results) {
      if (code != 0) return deliver(user_data, id, static_cast<tusk_status_t>(code), error.c_str(), nullptr);
      std::unique_ptr<tusk_result_t> result;
      try {
        result = std::make_unique<tusk_result_t>();
      } catch (const std::bad_alloc&) {  // the request has left the translator: answer it here
        return deliver(user_data, id, TUSK_ERROR_OUT_OF_MEMORY, "tusk_translate_continuous: out of memory", nullptr);
      }
      result->translations = std::move(results);
      deliver(user_data, id, TUSK_OK, "", result.release());
    };
    translator->translator->translate_continuous(next, done);
    return TUSK_OK;
  });
}

TUSK_API tusk_status_t tusk_translator_cancel(tusk_translator_t* translator) {
  return guarded(__func__, [&](const char* fn) {
    TUSK_REQUIRE(translator, "translator is NULL");
    translator->translator->cancel();
    return TUSK_OK;
  });
}

TUSK_API tusk_status_t tusk_translator_stats(const tusk_translator_t* translator, tusk_stats_t* out) {
  return guarded(__func__, [&](const char* fn) {
    TUSK_REQUIRE(translator && out, "translator or out is NULL");
    constexpr uint64_t kField = sizeof(uint64_t);
    static_assert(sizeof(tusk_stats_t) % kField == 0, "tusk_stats_t fields are 8 bytes, unpadded");
    TUSK_REQUIRE(out->struct_size >= 2 * kField,
                 "out->struct_size is " + std::to_string(out->struct_size) +
                     "; set it to sizeof(tusk_stats_t)");
    const tusk::sdk::ExpertCacheStats s = translator->translator->stats();
    tusk_stats_t full{};
    full.hits = s.hits;
    full.misses = s.misses;
    full.evictions = s.evictions;
    full.bytes_loaded = s.bytes_loaded;
    full.prefetch_issued = s.prefetch_issued;
    full.prefetch_used = s.prefetch_used;
    full.peak_cache_bytes = s.peak_cache_bytes;
    full.stall_ms = s.stall_ms;
    full.warm_start_loaded = s.preloaded;
    // Whole fields only, and none past the caller's struct: an older caller's struct is smaller.
    const uint64_t n = std::min<uint64_t>(out->struct_size, sizeof(tusk_stats_t)) / kField * kField;
    full.struct_size = n;
    std::memcpy(out, &full, static_cast<size_t>(n));
    return TUSK_OK;
  });
}

TUSK_API size_t tusk_result_count(const tusk_result_t* result) {
  return result ? result->translations.size() : 0;
}

static const tusk::sdk::Translation* result_at(const tusk_result_t* result, size_t i) {
  return result && i < result->translations.size() ? &result->translations[i] : nullptr;
}

TUSK_API const char* tusk_result_text(const tusk_result_t* result, size_t i) {
  const auto* t = result_at(result, i);
  return t ? t->text.c_str() : nullptr;
}

TUSK_API double tusk_result_score(const tusk_result_t* result, size_t i) {
  const auto* t = result_at(result, i);
  return t ? t->score : 0.0;
}

TUSK_API size_t tusk_result_tokens(const tusk_result_t* result, size_t i, const int32_t** ids) {
  const auto* t = result_at(result, i);
  if (ids) *ids = t ? t->ids.data() : nullptr;
  return t ? t->ids.size() : 0;
}

TUSK_API size_t tusk_result_token_logprobs(const tusk_result_t* result, size_t i, const float** logprobs) {
  const auto* t = result_at(result, i);
  if (logprobs) *logprobs = t ? t->logprobs.data() : nullptr;
  return t ? t->logprobs.size() : 0;
}

TUSK_API int32_t tusk_result_truncated(const tusk_result_t* result, size_t i) {
  const auto* t = result_at(result, i);
  return t && t->truncated ? 1 : 0;
}

TUSK_API tusk_status_t tusk_result_status(const tusk_result_t* result, size_t i) {
  const auto* t = result_at(result, i);
  return t ? static_cast<tusk_status_t>(t->error_code) : TUSK_ERROR_INVALID_ARGUMENT;
}

TUSK_API const char* tusk_result_error(const tusk_result_t* result, size_t i) {
  const auto* t = result_at(result, i);
  return t ? t->error.c_str() : nullptr;
}

namespace {
const tusk::sdk::Translation::Hypothesis* hypothesis_at(const tusk_result_t* result, size_t i, size_t h) {
  const auto* t = result_at(result, i);
  return t && h < t->hypotheses.size() ? &t->hypotheses[h] : nullptr;
}
}  // namespace

TUSK_API size_t tusk_result_hypothesis_count(const tusk_result_t* result, size_t i) {
  const auto* t = result_at(result, i);
  return t ? t->hypotheses.size() : 0;
}

TUSK_API const char* tusk_result_hypothesis_text(const tusk_result_t* result, size_t i, size_t h) {
  const auto* x = hypothesis_at(result, i, h);
  return x ? x->text.c_str() : nullptr;
}

TUSK_API double tusk_result_hypothesis_score(const tusk_result_t* result, size_t i, size_t h) {
  const auto* x = hypothesis_at(result, i, h);
  return x ? x->score : std::nan("");
}

TUSK_API size_t tusk_result_hypothesis_tokens(const tusk_result_t* result, size_t i, size_t h, const int32_t** ids) {
  const auto* x = hypothesis_at(result, i, h);
  if (ids) *ids = x ? x->ids.data() : nullptr;
  return x ? x->ids.size() : 0;
}

TUSK_API void tusk_result_free(tusk_result_t* result) { delete result; }

}  // extern "C"
