#include "model_format/json_file.h"


#include "common/error.h"
#include "model_format/file_io.h"

namespace tusk::format {

nlohmann::json read_json_object(const std::string& path, size_t max_bytes) {
  return parse_json_object(read_whole_file(path, max_bytes, "a JSON file of this kind"), path);
}

nlohmann::json parse_json_object(std::string_view text, const std::string& source) {
  nlohmann::json root;
  try {
    root = nlohmann::json::parse(text.begin(), text.end());
  } catch (const nlohmann::json::exception& e) {
    throw Error(ErrorCode::InvalidModel, source + ": not valid JSON (" + e.what() + ")");
  }
  if (!root.is_object()) throw Error(ErrorCode::InvalidModel, source + ": not a JSON object");
  return root;
}

bool token_text(const nlohmann::json& value, std::string* out) {
  if (value.is_string()) {
    *out = value.get<std::string>();
    return true;
  }
  if (value.is_object()) {
    auto it = value.find("content");
    if (it != value.end() && it->is_string()) {
      *out = it->get<std::string>();
      return true;
    }
  }
  return false;
}

}  // namespace tusk::format
