// Text through the C ABI: validation (UTF-8, NUL, length), sentence splitting, tokenization and
// a short translation (at most 4 generated tokens, greedy) with the bundled model. The first
// byte chooses text mode or sentence mode and the language pair; the rest is the text. Every
// input must give TUSK_OK with one non-null translation, or a documented error status with a
// message; anything else aborts.
#include <cstdlib>
#include <cstring>
#include <string>

#include <tusk/tusk.h>

namespace {

struct Engine {
  tusk_model_t* model = nullptr;
  tusk_translator_t* translator = nullptr;
  Engine() {
    const char* env = std::getenv("TUSK_FUZZ_MODEL");
    const char* path = env != nullptr && *env != '\0' ? env : TUSK_DEFAULT_MODEL_PATH;
    tusk_options_t* options = nullptr;
    if (tusk_options_create(&options) != TUSK_OK ||
        tusk_options_set_int(options, TUSK_OPT_THREADS, 1) != TUSK_OK ||
        tusk_options_set_int(options, TUSK_OPT_MAX_DECODING_LENGTH, 4) != TUSK_OK ||
        tusk_model_open(path, options, &model) != TUSK_OK ||
        tusk_translator_create(model, options, &translator) != TUSK_OK)
      std::abort();  // the harness's own set-up, not a finding
    tusk_options_destroy(options);
  }
};

const char* const kLanguages[] = {"en", "de", "fr", "cs", "eng_Latn", "xx"};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static Engine engine;
  if (size < 1) return 0;
  const uint8_t mode = data[0];
  const std::string text(reinterpret_cast<const char*>(data + 1), size - 1);  // NUL ends it for C
  const char* texts[] = {text.c_str()};
  const char* src = kLanguages[(mode >> 1) % 6];
  const char* tgt = kLanguages[(mode >> 4) % 6];
  tusk_result_t* result = nullptr;
  const tusk_status_t st = (mode & 1) ? tusk_translate_text(engine.translator, src, tgt, texts, 1, &result)
                                      : tusk_translate(engine.translator, src, tgt, texts, 1, &result);
  if (st == TUSK_OK) {
    if (result == nullptr || tusk_result_count(result) != 1 || tusk_result_text(result, 0) == nullptr) std::abort();
  } else {
    if (result != nullptr || tusk_last_error() == nullptr || *tusk_last_error() == '\0') std::abort();
    if (st != TUSK_ERROR_INVALID_ARGUMENT && st != TUSK_ERROR_UNKNOWN_LANGUAGE && st != TUSK_ERROR_INPUT_TOO_LONG)
      std::abort();  // nothing else is a documented answer to a text
  }
  tusk_result_free(result);
  return 0;
}
