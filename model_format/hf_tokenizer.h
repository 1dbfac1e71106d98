// The vocabulary of a Hugging Face checkpoint folder, read from its tokenizer files and
// nothing else: no id is inferred from a piece's name.
//
// Two layouts are recognised; anything else is refused with a message naming the files:
// - "nllb": tokenizer_config.json names NllbTokenizer (or NllbTokenizerFast) beside
//   sentencepiece.bpe.model (or sentencepiece.model). Ids are NllbTokenizer's (transformers
//   4.40): added tokens (<s> <pad> </s> <unk>, <mask>, the language codes) have the ids
//   tokenizer_config.json's added_tokens_decoder lists (or, where that is absent,
//   tokenizer.json's added_tokens); SentencePiece piece k has model id k + 1 (the fairseq
//   offset), its <unk> (piece 0) the <unk> token's id. added_tokens.json,
//   special_tokens_map.json and tokenizer.json, where present, must agree with that.
// - "sentencepiece": our multi30k layout. A SentencePiece model alone (no tokenizer JSON
//   files), language codes as pieces, model id = piece id.
#pragma once

#include <string>
#include <vector>

#include "model_format/model_config.h"
#include "model_format/model_file.h"
#include "model_format/vocabulary.h"

namespace tusk::format {

struct HfTokenizer {
  std::string sentencepiece;       // the SentencePiece model's bytes
  std::string sentencepiece_path;  // for messages
  Vocabulary vocabulary;
  std::vector<Language> languages;  // sorted by code
  int32_t unk_id = 3;              // the <unk> token's model id
};

// Reads and cross-checks the tokenizer files of hf_dir, and checks them against config.json's
// token ids (pad, bos, eos) and vocab_size. Throws InvalidModel (files that
// disagree, naming them; no language codes), Unsupported (a tokenizer class or option the
// engine does not implement, naming it) or Io.
HfTokenizer read_hf_tokenizer(const std::string& hf_dir, const ModelConfig& config);

}  // namespace tusk::format
