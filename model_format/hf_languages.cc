// Language pieces from a SentencePiece model: a tiny protobuf walker and the code table.
#include "model_format/hf_languages.h"

#include <algorithm>
#include <cstdint>
#include <map>

#include "common/error.h"

namespace tusk::format {
namespace {

// Reads protobuf wire format from a byte range, refusing anything that would step outside it.
class ProtoReader {
 public:
  ProtoReader(std::string_view bytes, const std::string& source) : bytes_(bytes), source_(source) {}

  bool done() const { return pos_ == bytes_.size(); }

  // Next field's number and wire type.
  void next_key(uint64_t* field, int* wire_type) {
    uint64_t key = varint();
    *field = key >> 3;
    *wire_type = static_cast<int>(key & 7);
    if (*field == 0) fail("field number 0");
  }

  uint64_t varint() {
    uint64_t value = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (pos_ >= bytes_.size()) fail("truncated varint");
      uint8_t b = static_cast<uint8_t>(bytes_[pos_++]);
      if (shift == 63 && b > 1) fail("varint overflows 64 bits");
      value |= static_cast<uint64_t>(b & 0x7f) << shift;
      if ((b & 0x80) == 0) return value;
    }
    fail("varint longer than 10 bytes");
  }

  std::string_view length_delimited() {
    uint64_t n = varint();
    if (n > bytes_.size() - pos_) fail("length-delimited field runs past its message");
    std::string_view out = bytes_.substr(pos_, static_cast<size_t>(n));
    pos_ += static_cast<size_t>(n);
    return out;
  }

  void skip(int wire_type) {
    switch (wire_type) {
      case 0: varint(); return;
      case 1: advance(8); return;
      case 2: length_delimited(); return;
      case 5: advance(4); return;
      default: fail("unsupported wire type " + std::to_string(wire_type));  // groups: never in SP
    }
  }

  [[noreturn]] void fail(const std::string& what) const {
    throw Error(ErrorCode::InvalidModel,
                source_ + ": not a valid SentencePiece model (" + what + " at byte " + std::to_string(pos_) + ")");
  }

 private:
  void advance(size_t n) {
    if (n > bytes_.size() - pos_) fail("fixed-size field runs past its message");
    pos_ += n;
  }

  std::string_view bytes_;
  const std::string& source_;
  size_t pos_ = 0;
};

constexpr int kWireLengthDelimited = 2;

std::string piece_of(std::string_view message, const std::string& source) {
  ProtoReader r(message, source);
  std::string piece;  // proto2 optional: absent means empty
  while (!r.done()) {
    uint64_t field;
    int wire;
    r.next_key(&field, &wire);
    if (field == 1) {
      if (wire != kWireLengthDelimited) r.fail("SentencePiece.piece is not a string");
      piece = std::string(r.length_delimited());  // last one wins, as in protobuf
    } else {
      r.skip(wire);
    }
  }
  return piece;
}

// ISO 639-3 (and NLLB's individual-language codes, e.g. arb, pes, zsm) -> ISO 639-1.
constexpr std::pair<const char*, const char*> kShortCodes[] = {
    {"afr", "af"}, {"amh", "am"}, {"arb", "ar"}, {"ara", "ar"}, {"azj", "az"}, {"bel", "be"},
    {"ben", "bn"}, {"bos", "bs"}, {"bul", "bg"}, {"cat", "ca"}, {"ces", "cs"}, {"cym", "cy"},
    {"dan", "da"}, {"deu", "de"}, {"ell", "el"}, {"eng", "en"}, {"est", "et"}, {"eus", "eu"},
    {"fin", "fi"}, {"fra", "fr"}, {"gle", "ga"}, {"glg", "gl"}, {"guj", "gu"}, {"hau", "ha"},
    {"heb", "he"}, {"hin", "hi"}, {"hrv", "hr"}, {"hun", "hu"}, {"hye", "hy"}, {"ibo", "ig"},
    {"ind", "id"}, {"isl", "is"}, {"ita", "it"}, {"jpn", "ja"}, {"kan", "kn"}, {"kat", "ka"},
    {"kaz", "kk"}, {"khm", "km"}, {"kor", "ko"}, {"lao", "lo"}, {"lit", "lt"}, {"lvs", "lv"},
    {"mal", "ml"}, {"mar", "mr"}, {"mkd", "mk"}, {"mlt", "mt"}, {"mya", "my"}, {"nld", "nl"},
    {"nob", "nb"}, {"npi", "ne"}, {"pan", "pa"}, {"pes", "fa"}, {"pol", "pl"}, {"por", "pt"},
    {"ron", "ro"}, {"rus", "ru"}, {"sin", "si"}, {"slk", "sk"}, {"slv", "sl"}, {"som", "so"},
    {"spa", "es"}, {"srp", "sr"}, {"swe", "sv"}, {"swh", "sw"}, {"tam", "ta"}, {"tel", "te"},
    {"tgl", "tl"}, {"tha", "th"}, {"tur", "tr"}, {"ukr", "uk"}, {"urd", "ur"}, {"vie", "vi"},
    {"xho", "xh"}, {"yor", "yo"}, {"zho", "zh"}, {"zsm", "ms"}, {"zul", "zu"},
    // More of NLLB-200's languages; an individual language stands for its macrolanguage's
    // code only where NLLB has no sibling of it (khk for mn, plt for mg, uzn for uz, ...).
    {"aka", "ak"}, {"als", "sq"}, {"asm", "as"}, {"bak", "ba"}, {"bam", "bm"}, {"bod", "bo"},
    {"dzo", "dz"}, {"epo", "eo"}, {"ewe", "ee"}, {"fao", "fo"}, {"fij", "fj"}, {"gaz", "om"},
    {"gla", "gd"}, {"grn", "gn"}, {"hat", "ht"}, {"jav", "jv"}, {"khk", "mn"}, {"kik", "ki"},
    {"kin", "rw"}, {"kir", "ky"}, {"kon", "kg"}, {"lim", "li"}, {"lin", "ln"}, {"ltz", "lb"},
    {"lug", "lg"}, {"mri", "mi"}, {"nno", "nn"}, {"nya", "ny"}, {"oci", "oc"}, {"ory", "or"},
    {"pbt", "ps"}, {"plt", "mg"}, {"run", "rn"}, {"sag", "sg"}, {"san", "sa"}, {"smo", "sm"},
    {"sna", "sn"}, {"snd", "sd"}, {"sot", "st"}, {"srd", "sc"}, {"ssw", "ss"}, {"sun", "su"},
    {"tat", "tt"}, {"tgk", "tg"}, {"tir", "ti"}, {"tsn", "tn"}, {"tso", "ts"}, {"tuk", "tk"},
    {"twi", "tw"}, {"uig", "ug"}, {"uzn", "uz"}, {"wol", "wo"}, {"ydd", "yi"},
};

}  // namespace

std::vector<std::string> sentencepiece_pieces(std::string_view model_bytes, const std::string& source) {
  ProtoReader r(model_bytes, source);
  std::vector<std::string> pieces;
  while (!r.done()) {
    uint64_t field;
    int wire;
    r.next_key(&field, &wire);
    if (field == 1) {
      if (wire != kWireLengthDelimited) r.fail("ModelProto.pieces is not a message");
      pieces.push_back(piece_of(r.length_delimited(), source));
    } else {
      r.skip(wire);  // trainer_spec, normalizer_spec, ...
    }
  }
  if (pieces.empty()) r.fail("no pieces");
  return pieces;
}

std::string short_language_code(std::string_view iso639_3) {
  for (const auto& [long_code, short_code] : kShortCodes)
    if (iso639_3 == long_code) return short_code;
  return "";
}

bool looks_like_language_token(std::string_view p) {
  auto lower = [](char c) { return c >= 'a' && c <= 'z'; };
  auto upper = [](char c) { return c >= 'A' && c <= 'Z'; };
  return p.size() == 8 && lower(p[0]) && lower(p[1]) && lower(p[2]) && p[3] == '_' && upper(p[4]) &&
         lower(p[5]) && lower(p[6]) && lower(p[7]);
}

std::vector<Language> find_languages(const std::vector<std::string>& pieces) {
  std::vector<std::pair<std::string, int32_t>> tokens;
  for (size_t id = 0; id < pieces.size(); ++id) tokens.emplace_back(pieces[id], static_cast<int32_t>(id));
  return languages_from_tokens(tokens);
}

std::vector<Language> languages_from_tokens(const std::vector<std::pair<std::string, int32_t>>& tokens) {
  std::vector<Language> found;
  std::map<std::string, int> short_uses;  // how many tokens want each short code
  for (const auto& [token, id] : tokens) {
    if (!looks_like_language_token(token)) continue;
    Language lang;
    lang.token = token;
    lang.token_id = id;
    lang.code = short_language_code(std::string_view(token).substr(0, 3));
    if (!lang.code.empty()) ++short_uses[lang.code];
    found.push_back(std::move(lang));
  }
  for (Language& lang : found)
    if (lang.code.empty() || short_uses[lang.code] > 1) lang.code = lang.token;
  // Unique codes, stable order; a piece repeated in the vocabulary keeps its first id.
  std::stable_sort(found.begin(), found.end(),
                   [](const Language& a, const Language& b) { return a.code < b.code; });
  found.erase(std::unique(found.begin(), found.end(),
                          [](const Language& a, const Language& b) { return a.code == b.code; }),
              found.end());
  return found;
}

}  // namespace tusk::format
