#include "model_format/json_file.h"

#include <fstream>

#include "common/error.h"

namespace tusk::format {

nlohmann::json read_json_object(const std::string& path, size_t max_bytes) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(ErrorCode::Io, path + ": cannot open");
  in.seekg(0, std::ios::end);
  const std::streamoff size = in.tellg();
  if (size < 0) throw Error(ErrorCode::Io, path + ": cannot read");
  if (static_cast<uint64_t>(size) > max_bytes)
    throw Error(ErrorCode::InvalidModel, path + ": too large (" + std::to_string(size) + " bytes) for this kind of file");
  std::string text(static_cast<size_t>(size), '\0');
  in.seekg(0);
  if (!in.read(text.data(), size)) throw Error(ErrorCode::Io, path + ": cannot read");
  return parse_json_object(text, path);
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
