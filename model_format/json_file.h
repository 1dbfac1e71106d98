// Reading the small JSON files of a Hugging Face folder (config.json, tokenizer_config.json,
// ...): size-capped, parsed, errors naming the file.
#pragma once

#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace tusk::format {

// The file's JSON object. Throws Io if it can't be read, InvalidModel if it is larger than
// max_bytes, not JSON, or not an object.
nlohmann::json read_json_object(const std::string& path, size_t max_bytes = 64u << 20);

// The same for text already in memory; `source` names it in messages.
nlohmann::json parse_json_object(std::string_view text, const std::string& source);

// The text of a token entry as transformers saves it: "<s>" or {"content": "<s>", ...}.
// Returns false if `value` is neither.
bool token_text(const nlohmann::json& value, std::string* out);

}  // namespace tusk::format
