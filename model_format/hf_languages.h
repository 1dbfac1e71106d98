// The language table of an NLLB-style vocabulary: language codes are pieces such as
// "eng_Latn" in the SentencePiece model, and a piece's index is its token id.
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

// Every piece shaped like "xxx_Xxxx" as a Language, coded by short_language_code when that is
// known and unambiguous (zho_Hans and zho_Hant both keep their full piece), else by the piece
// itself. Sorted by code.
std::vector<Language> find_languages(const std::vector<std::string>& pieces);

}  // namespace tusk::format
