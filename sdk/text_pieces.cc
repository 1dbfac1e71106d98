#include "sdk/text_pieces.h"

#include <cstdint>

#include "common/error.h"
#include "sdk/utf8.h"

namespace tusk::sdk {

namespace {

// Scripts written without spaces between words: pieces of a cut sentence join without one.
bool writes_without_spaces(const std::string& code) {
  return code == "zh" || code == "ja" || code == "th" || code == "lo" || code == "km" || code == "my" ||
         code.rfind("zho_", 0) == 0 || code.rfind("jpn_", 0) == 0;
}

size_t utf8_lead(const std::string& s, size_t i) {  // the start of the code point holding byte i
  while (i > 0 && (static_cast<unsigned char>(s[i]) & 0xC0) == 0x80) --i;
  return i;
}

// Cuts sentence into pieces of at most `limit` tokens each: at the last word boundary that
// fits, preferring one right after , ; : in the piece's second half; a word longer than the
// limit (or a script without spaces) at the last code point that fits.
std::vector<std::string> cut_to_fit(const std::string& sentence, int64_t limit, const Tokenizer& tokenizer) {
  std::vector<std::string> pieces;
  std::string rest = sentence;
  auto fits = [&](const std::string& s) { return static_cast<int64_t>(tokenizer.encode(s).size()) <= limit; };
  while (!rest.empty() && !fits(rest)) {
    // The longest prefix that fits, by bytes (binary search on code point starts).
    size_t lo = 1, hi = rest.size();
    while (lo < hi) {
      const size_t mid = utf8_lead(rest, (lo + hi + 1) / 2);
      if (mid <= lo) break;
      if (fits(rest.substr(0, mid))) lo = mid; else hi = mid - 1;
    }
    size_t cut = utf8_lead(rest, lo);
    if (cut == 0) {  // not even one code point fits: take one anyway (the model cuts it)
      cut = 1;
      while (cut < rest.size() && (static_cast<unsigned char>(rest[cut]) & 0xC0) == 0x80) ++cut;
    }
    // Back to a word boundary, after punctuation when one is in the second half.
    const size_t space = rest.rfind(' ', cut);
    if (space != std::string::npos && space > 0 && space < cut) {
      size_t punct = std::string::npos;
      for (size_t p = space; p > cut / 2; --p)
        if (rest[p] == ' ' && (rest[p - 1] == ',' || rest[p - 1] == ';' || rest[p - 1] == ':')) {
          punct = p;
          break;
        }
      cut = punct != std::string::npos ? punct : space;
    }
    std::string piece = rest.substr(0, cut);
    while (!piece.empty() && piece.back() == ' ') piece.pop_back();
    if (!piece.empty()) pieces.push_back(piece);
    rest = rest.substr(cut);
    while (!rest.empty() && rest.front() == ' ') rest.erase(rest.begin());
  }
  if (!rest.empty()) pieces.push_back(rest);
  return pieces;
}

}  // namespace

TextPieces split_texts(const Model& model, const std::string& src_code, const std::vector<std::string>& texts,
                       bool per_sentence_errors) {
  // Tokens a piece may have: the model's limit less the language code and the end mark.
  const int64_t limit = model.max_sequence_length() - 2;
  TextPieces p;
  p.splits.resize(texts.size());
  p.cut.assign(texts.size(), false);
  p.text_errors.resize(texts.size());
  for (size_t t = 0; t < texts.size(); ++t) {
    size_t bad = 0;
    if (!is_valid_utf8(texts[t], &bad)) {
      const std::string what = "is not valid UTF-8 (bad byte at offset " + std::to_string(bad) + ")";
      if (!per_sentence_errors) throw Error(ErrorCode::InvalidArgument, "text " + std::to_string(t) + " " + what);
      p.text_errors[t] = {static_cast<int>(ErrorCode::InvalidArgument), "the text " + what};
      continue;
    }
    p.splits[t] = split_sentences(texts[t], src_code);
    for (size_t s = 0; s < p.splits[t].sentences.size(); ++s) {
      const std::vector<std::string> parts = cut_to_fit(p.splits[t].sentences[s].text, limit, model.tokenizer());
      p.cut[t] = p.cut[t] || parts.size() > 1;
      for (const std::string& part : parts) {
        p.pieces.push_back(part);
        p.owner.push_back({t, s});
      }
    }
  }
  return p;
}

std::vector<Translation> assemble_texts(const TextPieces& p, const std::vector<Translation>& translated,
                                        const std::string& target_code) {
  const std::string glue = writes_without_spaces(target_code) ? "" : " ";
  const size_t texts = p.splits.size();
  std::vector<Translation> results(texts);
  std::vector<std::vector<std::string>> sentence_texts(texts);
  for (size_t t = 0; t < texts; ++t) sentence_texts[t].resize(p.splits[t].sentences.size());
  for (size_t i = 0; i < p.pieces.size(); ++i) {
    const auto [t, s] = p.owner[i];
    std::string& text = sentence_texts[t][s];
    if (!text.empty() && !translated[i].text.empty()) text += glue;
    text += translated[i].text;
    Translation& r = results[t];
    r.ids.insert(r.ids.end(), translated[i].ids.begin(), translated[i].ids.end());
    r.logprobs.insert(r.logprobs.end(), translated[i].logprobs.begin(), translated[i].logprobs.end());
    r.score += translated[i].score;
  }
  for (size_t t = 0; t < texts; ++t) {
    results[t].text = join_sentences(p.splits[t], sentence_texts[t]);
    results[t].truncated = p.cut[t];
    if (p.text_errors[t].first == 0)  // text mode returns the best translation of each text
      results[t].hypotheses.push_back({results[t].text, results[t].ids, results[t].logprobs, results[t].score});
    results[t].error_code = p.text_errors[t].first;
    results[t].error = p.text_errors[t].second;
  }
  return results;
}

}  // namespace tusk::sdk
