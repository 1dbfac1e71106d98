// How token ids map to text, as a .tusk file stores it: the model id of every SentencePiece
// piece, the tokens that live outside the SentencePiece model (NLLB's <mask> and language
// codes, the special tokens), and how ids become text again. The converter fills it from the
// checkpoint's tokenizer files (hf_tokenizer.h); the runtime tokenizer goes through it, so no
// id is ever inferred from a piece's name.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace tusk::format {

// How ids become text (schema enum Detokenizer).
enum class Detokenizer : uint8_t {
  // SentencePiece's own Decode over the pieces (our multi30k layout, and files from before
  // the vocabulary table).
  SentencePiece = 0,
  // transformers' slow SentencePiece tokenizers (NllbTokenizer): special tokens skipped, the
  // pieces joined with U+2581 turned into spaces and the ends stripped, each non-special added
  // token as its own word.
  JoinPieces = 1,
};

struct AddedToken {
  std::string content;   // "<mask>", "eng_Latn", "</s>"
  int32_t id = 0;        // model id
  bool special = false;  // skipped in decoded text (transformers' all_special_ids)
};

struct Vocabulary {
  // "sentencepiece" (model id = piece id) or "nllb" (NllbTokenizer's fairseq offset and added
  // tokens); empty in files written before the table existed, which read as "sentencepiece".
  std::string kind;
  std::vector<int32_t> piece_ids;  // model id of SentencePiece piece i; -1: none
  std::vector<AddedToken> added_tokens;
  Detokenizer detokenizer = Detokenizer::SentencePiece;
  // transformers' clean_up_tokenization after decoding (" ." -> ".", " n't" -> "n't", ...).
  bool clean_up_tokenization_spaces = false;

  bool recorded() const { return !kind.empty(); }
};

}  // namespace tusk::format
