// Reading the small JSON files of a Hugging Face folder (config.json, tokenizer_config.json,
// ...): size-capped, parsed, errors naming the file.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

namespace tusk::format {

// The file's JSON object. Throws Io if it can't be read, InvalidModel if it is larger than
// max_bytes, not JSON, or not an object.
nlohmann::json read_json_object(const std::string& path, size_t max_bytes = 64u << 20);

// The text of a token entry as transformers saves it: "<s>" or {"content": "<s>", ...}.
// Returns false if `value` is neither.
bool token_text(const nlohmann::json& value, std::string* out);

}  // namespace tusk::format
