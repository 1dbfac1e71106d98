#include "sdk/tokenizer.h"

#include <sentencepiece_processor.h>

#include <algorithm>

#include "common/error.h"

namespace tusk::sdk {

namespace {

constexpr uint8_t kNotAdded = 0, kSpecial = 1, kPlainAdded = 2;

// U+2581 LOWER ONE EIGHTH BLOCK: SentencePiece's word-boundary mark.
constexpr std::string_view kSpaceMark = "\xe2\x96\x81";

void replace_all(std::string& text, std::string_view from, std::string_view to) {
  std::string out;
  out.reserve(text.size());
  size_t pos = 0;
  while (true) {
    const size_t hit = text.find(from, pos);
    if (hit == std::string::npos) break;
    out.append(text, pos, hit - pos);
    out.append(to);
    pos = hit + from.size();
  }
  out.append(text, pos, std::string::npos);
  text.swap(out);
}

// Length of the whitespace code point at text[i] (Python's str.isspace), or 0.
size_t whitespace_at(std::string_view t, size_t i) {
  const auto b = [&](size_t k) { return i + k < t.size() ? static_cast<unsigned char>(t[i + k]) : 0u; };
  const unsigned c = b(0);
  if ((c >= 0x09 && c <= 0x0d) || (c >= 0x1c && c <= 0x20)) return 1;
  if (c == 0xc2 && (b(1) == 0x85 || b(1) == 0xa0)) return 2;
  if (c == 0xe1 && b(1) == 0x9a && b(2) == 0x80) return 3;                 // U+1680
  if (c == 0xe2 && b(1) == 0x80 && ((b(2) >= 0x80 && b(2) <= 0x8a) || b(2) == 0xa8 || b(2) == 0xa9 || b(2) == 0xaf))
    return 3;                                                              // U+2000..200A, 2028, 2029, 202F
  if (c == 0xe2 && b(1) == 0x81 && b(2) == 0x9f) return 3;                 // U+205F
  if (c == 0xe3 && b(1) == 0x80 && b(2) == 0x80) return 3;                 // U+3000
  return 0;
}

}  // namespace

std::string strip_unicode_whitespace(std::string_view text) {
  size_t begin = 0;
  while (begin < text.size()) {
    const size_t n = whitespace_at(text, begin);
    if (n == 0) break;
    begin = std::min(text.size(), begin + n);
  }
  // From the front, the last non-whitespace code point's end.
  size_t end = begin, i = begin;
  while (i < text.size()) {
    const size_t n = whitespace_at(text, i);
    if (n > 0) {
      i = std::min(text.size(), i + n);
      continue;
    }
    ++i;
    while (i < text.size() && (static_cast<unsigned char>(text[i]) & 0xc0) == 0x80) ++i;
    end = i;
  }
  return std::string(text.substr(begin, end - begin));
}

std::string clean_up_tokenization(std::string text) {
  const std::pair<std::string_view, std::string_view> rules[] = {
      {" .", "."},     {" ?", "?"},     {" !", "!"},     {" ,", ","},     {" ' ", "'"},
      {" n't", "n't"}, {" 'm", "'m"},   {" 's", "'s"},   {" 've", "'ve"}, {" 're", "'re"}};
  for (const auto& [from, to] : rules) replace_all(text, from, to);
  return text;
}

Tokenizer::Tokenizer(std::string_view serialized_model, const format::Vocabulary& vocabulary, int32_t unk_id,
                     int32_t eos_id)
    : sp_(std::make_unique<sentencepiece::SentencePieceProcessor>()), unk_id_(unk_id), eos_id_(eos_id) {
  const auto status = sp_->LoadFromSerializedProto(serialized_model);
  if (!status.ok())
    throw Error(ErrorCode::InvalidModel, "the model's SentencePiece tokenizer does not load: " + status.ToString());
  const int pieces = sp_->GetPieceSize();
  if (vocabulary.recorded()) {
    if (vocabulary.piece_ids.size() != static_cast<size_t>(pieces))
      throw Error(ErrorCode::InvalidModel, "the vocabulary table maps " + std::to_string(vocabulary.piece_ids.size()) +
                                               " pieces, the SentencePiece model has " + std::to_string(pieces));
    piece_to_id_ = vocabulary.piece_ids;
    detokenizer_ = vocabulary.detokenizer;
    clean_up_spaces_ = vocabulary.clean_up_tokenization_spaces;
  } else {
    for (int i = 0; i < pieces; ++i) piece_to_id_.push_back(i);  // files from before the table
  }
  int32_t size = 0;
  for (int32_t id : piece_to_id_) size = std::max(size, id + 1);
  for (const auto& t : vocabulary.added_tokens) size = std::max(size, t.id + 1);
  id_to_piece_.assign(static_cast<size_t>(size), -1);
  added_kind_.assign(static_cast<size_t>(size), kNotAdded);
  for (const auto& t : vocabulary.added_tokens) {
    added_kind_[t.id] = t.special ? kSpecial : kPlainAdded;
    if (!t.special) added_text_[t.id] = t.content;
  }
  for (int k = 0; k < pieces; ++k) {
    const int32_t id = piece_to_id_[k];
    if (id < 0) continue;
    if (id_to_piece_[id] >= 0 && added_kind_[id] == kNotAdded)
      throw Error(ErrorCode::InvalidModel, "the vocabulary table gives pieces " + std::to_string(id_to_piece_[id]) +
                                               " and " + std::to_string(k) + " the same model id " +
                                               std::to_string(id));
    if (id_to_piece_[id] < 0) id_to_piece_[id] = k;
  }
}

Tokenizer::~Tokenizer() = default;

std::vector<int32_t> Tokenizer::encode(std::string_view text) const {
  std::vector<int> pieces;
  const auto status = sp_->Encode(text, &pieces);
  if (!status.ok()) throw Error(ErrorCode::InvalidArgument, "tokenization failed: " + status.ToString());
  std::vector<int32_t> ids;
  ids.reserve(pieces.size());
  for (int p : pieces) {
    const int32_t id = p >= 0 && static_cast<size_t>(p) < piece_to_id_.size() ? piece_to_id_[p] : -1;
    ids.push_back(id >= 0 ? id : unk_id_);
  }
  return ids;
}

std::string Tokenizer::decode(const std::vector<int32_t>& ids) const {
  return detokenizer_ == format::Detokenizer::JoinPieces ? decode_joined(ids) : decode_sentencepiece(ids);
}

// Our multi30k layout: eos and ids without a piece dropped, SentencePiece decodes the rest.
std::string Tokenizer::decode_sentencepiece(const std::vector<int32_t>& ids) const {
  std::vector<int> pieces;
  for (int32_t id : ids) {
    if (id == eos_id_ || id < 0 || id >= size()) continue;
    if (added_kind_[id] == kSpecial) continue;
    if (id_to_piece_[id] >= 0) pieces.push_back(id_to_piece_[id]);
  }
  std::string text;
  const auto status = sp_->Decode(pieces, &text);
  if (!status.ok()) throw Error(ErrorCode::Internal, "detokenization failed: " + status.ToString());
  return text;
}

// transformers' PreTrainedTokenizer._decode with skip_special_tokens=True over a
// SentencePiece tokenizer whose convert_tokens_to_string joins the pieces, turns U+2581 into
// spaces and strips (NllbTokenizer): runs of pieces become one string each, a plain added
// token stands alone, and the parts are joined with single spaces.
std::string Tokenizer::decode_joined(const std::vector<int32_t>& ids) const {
  std::vector<std::string> parts;
  std::string run;
  bool in_run = false;
  auto flush = [&](bool keep_empty) {
    if (!in_run) return;
    replace_all(run, kSpaceMark, " ");
    std::string part = strip_unicode_whitespace(run);
    if (keep_empty || !part.empty()) parts.push_back(std::move(part));
    run.clear();
    in_run = false;
  };
  for (int32_t id : ids) {
    if (id < 0 || id >= size()) continue;  // a vocabulary padded beyond its tokens
    if (added_kind_[id] == kSpecial) continue;
    if (added_kind_[id] == kPlainAdded) {
      flush(false);
      parts.push_back(added_text_.at(id));
      continue;
    }
    if (id_to_piece_[id] < 0) continue;
    run += sp_->IdToPiece(id_to_piece_[id]);
    in_run = true;
  }
  flush(true);
  std::string text;
  for (size_t i = 0; i < parts.size(); ++i) text += (i ? " " : "") + parts[i];
  return clean_up_spaces_ ? clean_up_tokenization(std::move(text)) : text;
}

}  // namespace tusk::sdk
