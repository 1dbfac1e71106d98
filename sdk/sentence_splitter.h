// Text into sentences, and back: the translator's text mode splits what users type (paragraphs,
// documents) into the sentences the model translates, and puts the translations back between
// the original whitespace, line breaks and paragraph breaks.
//
// What ends a sentence:
//   - a line break (every one: lines are kept as they are; blank lines stay blank);
//   - a full stop of a script that marks sentence ends without spaces (Chinese and Japanese
//     。！？), wherever it stands;
//   - . ! ? … (and the Devanagari, Arabic, Urdu, Armenian, Ethiopic, Myanmar and Greek
//     question stops) followed by more of them, closing quotes or brackets, then whitespace,
//     when the next word does not start in lower case: "e.g. this" or "... and then" go on.
// What a full stop after a word does not end:
//   - an abbreviation of the sentence's language (per-language lists in the .cc: "Dr.",
//     "z.B.", "Mme.", "např.", ...), one that only precedes numbers ("No. 5", "Nr. 3"), a
//     single letter (initials: "J. K. Rowling");
//   - in languages that write ordinals with a dot (German, Czech, ...), a number of up to
//     three digits ("am 1. Mai"), unless an abbreviation for numbers precedes it ("Nr. 4.");
//   - a number's decimal point or a URL's dots (no whitespace follows).
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace tusk::sdk {

struct SplitText {
  struct Sentence {
    std::string text;       // without the whitespace around it; never empty
    std::string separator;  // what follows it up to the next sentence (or the end)
  };
  std::string leading;  // whitespace before the first sentence (all of a blank text)
  std::vector<Sentence> sentences;
};

// language: the source language's ISO 639-1 code ("en", "de"); an unknown one gets the
// rules without abbreviations. text must be valid UTF-8.
SplitText split_sentences(std::string_view text, std::string_view language);

// leading + translations[i] + sentences[i].separator ...: the translated text.
std::string join_sentences(const SplitText& split, const std::vector<std::string>& translations);

}  // namespace tusk::sdk
