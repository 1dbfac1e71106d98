#include "libretranslate_api.h"

#include <nlohmann/json.hpp>

namespace tusk_serve {

namespace {

using nlohmann::json;

// Invalid UTF-8 is replaced rather than thrown on: an answer is always valid JSON.
std::string dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

[[noreturn]] void bad_request(const std::string& message) { throw ApiError{400, message}; }

// A field's one value, or "" when absent; a field given twice is refused rather than guessed.
std::string form_field(const RequestFields& fields, const std::string& name) {
  const auto range = fields.values.equal_range(name);
  if (range.first == range.second) return {};
  if (std::next(range.first) != range.second) bad_request("'" + name + "' is given more than once");
  return range.first->second;
}

std::string json_string_field(const json& body, const char* name) {
  const auto it = body.find(name);
  if (it == body.end() || it->is_null()) return {};
  if (!it->is_string()) bad_request(std::string("'") + name + "' must be a string");
  return it->get<std::string>();
}

}  // namespace

Languages::Languages(const tusk_model_t* model) {
  int32_t count = 0;
  if (tusk_model_language_count(model, &count) != TUSK_OK) return;
  for (int32_t i = 0; i < count; ++i) {
    const char* code = nullptr;
    const char* token = nullptr;
    if (tusk_model_language(model, i, &code) != TUSK_OK || tusk_model_language_token(model, i, &token) != TUSK_OK)
      continue;
    languages_.emplace_back(code, token);
  }
}

std::string Languages::canonical(const std::string& name) const {
  for (const auto& [code, token] : languages_)
    if (name == code || name == token) return code;
  return {};
}

std::string Languages::json() const {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& [code, token] : languages_) {
    nlohmann::json targets = nlohmann::json::array();
    for (const auto& other : languages_)
      if (other.first != code) targets.push_back(other.first);
    out.push_back({{"code", code}, {"name", token}, {"targets", targets}});
  }
  return dump(out);
}

std::string Languages::codes() const {
  std::string out;
  for (const auto& language : languages_) out += (out.empty() ? "" : ", ") + language.first;
  return out;
}

TranslateRequest parse_translate(const RequestFields& fields, const Languages& languages,
                                 const RequestLimits& limits) {
  TranslateRequest request;
  std::string source, target, format;
  if (fields.is_json) {
    json body;
    try {
      body = json::parse(fields.body);
    } catch (const json::exception& e) {  // parse_error, and out_of_range for a number too large
      bad_request(std::string("the body is not valid JSON: ") + e.what());
    }
    if (!body.is_object()) bad_request("the JSON body must be an object");
    const auto q = body.find("q");
    if (q == body.end() || q->is_null()) bad_request("missing 'q'");
    if (q->is_string()) {
      request.texts.push_back(q->get<std::string>());
    } else if (q->is_array()) {
      request.q_is_list = true;
      for (const json& item : *q) {
        if (!item.is_string()) bad_request("'q' must be a string or a list of strings");
        request.texts.push_back(item.get<std::string>());
      }
    } else {
      bad_request("'q' must be a string or a list of strings");
    }
    source = json_string_field(body, "source");
    target = json_string_field(body, "target");
    format = json_string_field(body, "format");
  } else {
    if (fields.values.count("q") == 0) bad_request("missing 'q'");
    request.texts.push_back(form_field(fields, "q"));
    source = form_field(fields, "source");
    target = form_field(fields, "target");
    format = form_field(fields, "format");
  }

  if (request.texts.empty() || (!request.q_is_list && request.texts.front().empty()))
    bad_request("'q' is empty");
  if (request.texts.size() > limits.max_texts)
    bad_request("'q' has " + std::to_string(request.texts.size()) + " texts, more than this server's limit of " +
                std::to_string(limits.max_texts));
  for (size_t i = 0; i < request.texts.size(); ++i) {
    request.chars += request.texts[i].size();
    // A NUL would end the text early inside the library: refused rather than cut short.
    if (request.texts[i].find('\0') != std::string::npos)
      bad_request(request.q_is_list ? "text " + std::to_string(i + 1) + " of 'q' contains a NUL character"
                                    : "'q' contains a NUL character");
  }
  if (request.chars > limits.max_chars)
    bad_request("'q' has " + std::to_string(request.chars) + " bytes, more than this server's limit of " +
                std::to_string(limits.max_chars));

  if (!format.empty() && format != "text")
    bad_request("format '" + format + "' is not supported: only \"text\"");
  if (source.empty()) bad_request("missing 'source'");
  if (target.empty()) bad_request("missing 'target'");
  if (source == "auto")
    bad_request("source 'auto' is not supported: this server does not detect languages; give one of " +
                languages.codes());
  request.source = languages.canonical(source);
  if (request.source.empty())
    bad_request("unknown source language '" + source + "': this model has " + languages.codes());
  request.target = languages.canonical(target);
  if (request.target.empty())
    bad_request("unknown target language '" + target + "': this model has " + languages.codes());
  return request;
}

std::string translated_json(const std::vector<std::string>& texts, bool as_list) {
  if (as_list) return dump(json{{"translatedText", texts}});
  return dump(json{{"translatedText", texts.empty() ? std::string() : texts.front()}});
}

std::string error_json(const std::string& message) { return dump(json{{"error", message}}); }

}  // namespace tusk_serve
