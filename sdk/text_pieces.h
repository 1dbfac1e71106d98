// Text mode's pieces: texts split into sentences by the source language's rules
// (sdk/sentence_splitter.h), a sentence longer than the model takes cut at word boundaries
// into pieces, and each text put back together from its pieces' translations.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "sdk/model.h"
#include "sdk/sentence_splitter.h"
#include "sdk/translator.h"

namespace tusk::sdk {

// Texts split into what the model translates (text mode): sentences, or pieces of one too long
// for the model, each knowing its text and sentence.
struct TextPieces {
  struct Placed {
    size_t text, sentence;
  };
  std::vector<SplitText> splits;
  std::vector<std::string> pieces;
  std::vector<Placed> owner;
  std::vector<bool> cut;
  std::vector<std::pair<int, std::string>> text_errors;  // per_sentence_errors: (code, message)
};

// Splits texts by the source language's rules; an invalid text throws (naming it) unless
// per_sentence_errors, which keeps its error instead.
TextPieces split_texts(const Model& model, const std::string& src_code, const std::vector<std::string>& texts,
                       bool per_sentence_errors);

// Each text put back together from its pieces' translations (translated[i] of pieces[i]),
// with its whitespace, line and paragraph breaks; its ids, log-probabilities and score are
// its pieces' one after another.
std::vector<Translation> assemble_texts(const TextPieces& p, const std::vector<Translation>& translated,
                                        const std::string& target_code);

}  // namespace tusk::sdk
