// Text <-> model token ids: the model's own SentencePiece model (stored inside the .tusk file)
// and the file's vocabulary table, which maps SentencePiece ids to model ids and lists the
// tokens outside the SentencePiece model (model_format/vocabulary.h).
//
// Encoding runs SentencePiece over the text as plain text. In the NLLB layout the special
// tokens and language codes are added tokens outside the SentencePiece model, so text that
// spells one ("</s>", "eng_Latn") stays text, unlike transformers' tokenizer(text), which
// turns it into that control token: a sentence cannot inject a language switch or an early
// end. In our multi30k layout the language codes are SentencePiece pieces themselves, so
// there (as in that model's reference) text spelling "eng_Latn" encodes to that piece.
//
// Decoding follows transformers' slow NllbTokenizer (tokenizer.decode(ids,
// skip_special_tokens=True)); NllbTokenizerFast's decoder can differ from it by a space where
// a lone U+2581 piece ends the text.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "model_format/vocabulary.h"

namespace sentencepiece { class SentencePieceProcessor; }

namespace tusk::sdk {

class Tokenizer {
 public:
  // serialized_model: a SentencePiece ModelProto; vocabulary: the file's table (unrecorded:
  // piece ids are model ids). Throws InvalidModel if the model does not load or the table
  // does not fit it (one model id per piece; two pieces sharing a model id that no added
  // token claims).
  Tokenizer(std::string_view serialized_model, const format::Vocabulary& vocabulary, int32_t unk_id,
            int32_t eos_id);
  ~Tokenizer();

  // Model ids of text (no language code, no eos). Thread-safe.
  std::vector<int32_t> encode(std::string_view text) const;
  // Text of generated model ids, as the checkpoint's tokenizer decodes them: special tokens
  // (eos, language codes, ...) skipped, ids with no token skipped. Thread-safe.
  std::string decode(const std::vector<int32_t>& ids) const;
  // Largest model id the vocabulary defines, plus one.
  int32_t size() const { return static_cast<int32_t>(id_to_piece_.size()); }

 private:
  std::string decode_sentencepiece(const std::vector<int32_t>& ids) const;
  std::string decode_joined(const std::vector<int32_t>& ids) const;

  std::unique_ptr<sentencepiece::SentencePieceProcessor> sp_;
  format::Detokenizer detokenizer_ = format::Detokenizer::SentencePiece;
  bool clean_up_spaces_ = false;
  int32_t unk_id_ = 0, eos_id_ = 0;
  std::vector<int32_t> piece_to_id_;  // by SentencePiece id
  std::vector<int32_t> id_to_piece_;  // by model id; -1: none
  // By model id: 0 none, 1 a special added token (skipped), 2 a plain added token (a word).
  std::vector<uint8_t> added_kind_;
  std::unordered_map<int32_t, std::string> added_text_;  // plain added tokens by model id
};

// transformers' clean_up_tokenization: " ." -> ".", " ?" -> "?", " !" -> "!", " ," -> ",",
// " ' " -> "'", " n't" -> "n't", " 'm" -> "'m", " 's" -> "'s", " 've" -> "'ve", " 're" -> "'re",
// applied in that order over the whole text.
std::string clean_up_tokenization(std::string text);

// Python's str.strip(): removes leading and trailing Unicode whitespace from UTF-8 text.
std::string strip_unicode_whitespace(std::string_view text);

}  // namespace tusk::sdk
