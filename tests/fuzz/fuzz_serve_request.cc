// `tusk serve`'s request parser (samples/serve/libretranslate_api.h): any body, as JSON or as
// form fields, must give a request within the limits or an ApiError, and any text must make
// a valid JSON answer. The first byte picks JSON or form; form input is "name=value" lines.
#include <cstddef>
#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "libretranslate_api.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  static const tusk_serve::Languages languages({{"en", "eng_Latn"}, {"de", "deu_Latn"}});
  tusk_serve::RequestLimits limits;
  limits.max_texts = 8;
  limits.max_chars = 512;
  tusk_serve::RequestFields fields;
  const std::string input(reinterpret_cast<const char*>(data) + 1, size - 1);
  fields.is_json = (data[0] & 1) != 0;
  if (fields.is_json) {
    fields.body = input;
  } else {
    size_t start = 0;
    while (start <= input.size()) {
      size_t end = input.find('\n', start);
      if (end == std::string::npos) end = input.size();
      const std::string line = input.substr(start, end - start);
      const size_t eq = line.find('=');
      fields.values.emplace(line.substr(0, eq), eq == std::string::npos ? "" : line.substr(eq + 1));
      start = end + 1;
    }
  }
  try {
    const tusk_serve::TranslateRequest request = tusk_serve::parse_translate(fields, languages, limits);
    if (request.texts.empty() || request.texts.size() > limits.max_texts || request.chars > limits.max_chars ||
        languages.canonical(request.source).empty() || languages.canonical(request.target).empty())
      __builtin_trap();  // accepted something the limits exclude
    // The answer echoes arbitrary bytes: it must still parse as JSON.
    (void)nlohmann::json::parse(tusk_serve::translated_json(request.texts, request.q_is_list));
  } catch (const tusk_serve::ApiError& e) {
    if (e.status != 400 || e.message.empty()) __builtin_trap();
    (void)nlohmann::json::parse(tusk_serve::error_json(e.message));
  }
  return 0;
}
