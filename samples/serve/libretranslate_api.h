// The LibreTranslate-compatible HTTP API, as data: POST /translate bodies (JSON, or the form
// fields LibreTranslate also reads) parsed and checked into a request, and the JSON answers
// (/translate, /languages, errors). No HTTP and no translation here.
//
// POST /translate: q (a string, or in JSON a list of strings), source, target (codes such as
// "en" or the model's tokens such as "eng_Latn"), format ("text", the default; "html" is
// refused), api_key (accepted and ignored: this server has no keys). Answer:
// {"translatedText": string or list}. Errors: {"error": message} with 400 (the request's
// fault), 503 (busy or shutting down) or 500.
#pragma once

#include <cstddef>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "tusk/tusk.h"

namespace tusk_serve {

struct ApiError {
  int status;
  std::string message;
};

// The model's languages: short code and NLLB token, as tusk_model_language(_token) give them.
class Languages {
 public:
  explicit Languages(const tusk_model_t* model);
  explicit Languages(std::vector<std::pair<std::string, std::string>> code_token_pairs)
      : languages_(std::move(code_token_pairs)) {}
  // The short code for a code or token the model has; empty if it has neither.
  std::string canonical(const std::string& name) const;
  // GET /languages: [{"code", "name" (the token), "targets": every other code}].
  std::string json() const;
  std::string codes() const;  // "cs, de, en, fr", for messages

 private:
  std::vector<std::pair<std::string, std::string>> languages_;  // (code, token)
};

struct RequestLimits {
  size_t max_texts = 128;     // entries of a q list
  size_t max_chars = 20000;   // bytes of all of q together
};

struct TranslateRequest {
  std::vector<std::string> texts;
  bool q_is_list = false;  // the answer mirrors it: a list for a list
  std::string source, target;  // canonical codes
  size_t chars = 0;
};

// The request's fields as they came: a JSON body, or form/query fields (name -> values).
struct RequestFields {
  bool is_json = false;
  std::string body;                                  // when is_json
  std::multimap<std::string, std::string> values;   // otherwise
};

// Parses and checks a /translate request; throws ApiError (400) naming what is wrong.
TranslateRequest parse_translate(const RequestFields& fields, const Languages& languages,
                                 const RequestLimits& limits);

std::string translated_json(const std::vector<std::string>& texts, bool as_list);
std::string error_json(const std::string& message);

}  // namespace tusk_serve
