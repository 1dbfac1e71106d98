// The language table of an NLLB-style vocabulary: language tokens such as "eng_Latn" with
// their model ids, and the short codes callers may use for them.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "model_format/model_file.h"

namespace tusk::format {

// The pieces of a serialized SentencePiece ModelProto, in id order. A minimal protobuf walk
// (ModelProto field 1 = repeated SentencePiece, whose field 1 = piece) so the converter needs
// no SentencePiece library; every length is bounds-checked. Throws InvalidModel naming
// `source` on malformed bytes.
std::vector<std::string> sentencepiece_pieces(std::string_view model_bytes, const std::string& source);

// ISO 639-1 code for an ISO 639-3 (or NLLB) language code: "eng" -> "en"; "" if not in our table.
std::string short_language_code(std::string_view iso639_3);

// "xxx_Xxxx": three lower-case letters, underscore, a capitalised four-letter script.
bool looks_like_language_token(std::string_view token);

// Each (token, model id) shaped like "xxx_Xxxx" as a Language, coded by short_language_code
// when that is known and unambiguous (zho_Hans and zho_Hant both keep their full token), else
// by the token itself. Sorted by code; a token listed twice keeps its first id.
std::vector<Language> languages_from_tokens(const std::vector<std::pair<std::string, int32_t>>& tokens);

// languages_from_tokens over SentencePiece pieces whose ids are model ids (our multi30k layout).
std::vector<Language> find_languages(const std::vector<std::string>& pieces);

}  // namespace tusk::format
