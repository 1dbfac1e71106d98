#include "sdk/sentence_splitter.h"

#include <algorithm>
#include <cstdint>
#include <set>

namespace tusk::sdk {
namespace {

// A code point and where its bytes are.
struct Char {
  char32_t cp;
  size_t begin, end;
};

std::vector<Char> decode(std::string_view s) {
  std::vector<Char> out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    const auto b = static_cast<unsigned char>(s[i]);
    const size_t n = b < 0x80 ? 1 : b < 0xE0 ? 2 : b < 0xF0 ? 3 : 4;
    char32_t cp = n == 1 ? b : n == 2 ? (b & 0x1F) : n == 3 ? (b & 0x0F) : (b & 0x07);
    for (size_t k = 1; k < n && i + k < s.size(); ++k) cp = (cp << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3F);
    out.push_back({cp, i, std::min(s.size(), i + n)});
    i += n;
  }
  return out;
}

bool is_line_break(char32_t c) { return c == '\n' || c == '\r' || c == 0x85 || c == 0x2028 || c == 0x2029; }

bool is_space(char32_t c) {
  return c == ' ' || c == '\t' || c == '\f' || c == '\v' || is_line_break(c) || c == 0xA0 ||
         (c >= 0x2000 && c <= 0x200A) || c == 0x202F || c == 0x205F || c == 0x3000;
}

// Stops that end a sentence only before whitespace.
bool is_stop(char32_t c) {
  switch (c) {
    case '.': case '!': case '?':
    case 0x2026:  // …
    case 0x0964: case 0x0965:  // Devanagari danda, double danda
    case 0x061F: case 0x06D4:  // Arabic question mark, Urdu full stop
    case 0x0589:  // Armenian full stop
    case 0x1362:  // Ethiopic full stop
    case 0x104B:  // Myanmar section mark
    case 0x037E:  // Greek question mark
    case 0x203C: case 0x2047: case 0x2048: case 0x2049:  // ‼ ⁇ ⁈ ⁉
      return true;
    default:
      return false;
  }
}

// Stops of scripts written without spaces between sentences: they end one wherever they are.
bool is_spaceless_stop(char32_t c) { return c == 0x3002 || c == 0xFF01 || c == 0xFF1F || c == 0xFF61; }

bool is_closer(char32_t c) {
  switch (c) {
    case '"': case '\'': case ')': case ']': case '}':
    case 0xBB: case 0xAB:  // » « (German quotes close with «)
    case 0x201D: case 0x2019: case 0x203A: case 0x2039:  // ” ’ › ‹
    case 0x201C: case 0x2018:  // “ ‘ (German quotes close with them: „…“)
    case 0x300D: case 0x300F: case 0xFF09: case 0x3011: case 0x3009: case 0x300B:  // 」 』 ） 】 〉 》
      return true;
    default:
      return false;
  }
}

bool is_opener(char32_t c) {
  switch (c) {
    case '"': case '\'': case '(': case '[': case '{':
    case 0xAB: case 0xBB: case 0x201E: case 0x201C: case 0x2018: case 0x201A: case 0x2039: case 0x203A:
    case 0x300C: case 0x300E: case 0xFF08:
      return true;
    default:
      return false;
  }
}

// Lower-case letters of the cased scripts (Latin with its supplements and Extended-A, Greek,
// Cyrillic): a next word starting with one continues the sentence.
bool is_lowercase(char32_t c) {
  if (c >= 'a' && c <= 'z') return true;
  if (c >= 0xDF && c <= 0xFF) return c != 0xF7;
  if (c >= 0x100 && c <= 0x17F) return c % 2 == 1 || c == 0x138;  // pairs: upper even, lower odd
  if (c >= 0x3AC && c <= 0x3CE) return true;                      // Greek
  if (c >= 0x430 && c <= 0x45F) return true;                      // Cyrillic
  return false;
}

bool is_letter_like(char32_t c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= 0xC0 && c != 0xD7 && c != 0xF7);
}

bool is_digit(char32_t c) { return c >= '0' && c <= '9'; }

struct LanguageRules {
  std::set<std::string> abbreviations;          // never end a sentence (lower case, inner dots kept)
  std::set<std::string> before_numbers;         // do not end one before a number
  bool ordinal_dots = false;                    // "1." is an ordinal
};

// Titles and the like every language here shares.
const std::set<std::string> kCommon = {"dr", "prof", "mr", "mrs", "ms", "st", "jr", "sr", "vs"};

LanguageRules rules_for(std::string_view language) {
  LanguageRules r;
  r.abbreviations = kCommon;
  const std::string lang(language.substr(0, 2));
  auto add = [&](std::set<std::string>& to, std::initializer_list<const char*> words) {
    for (const char* w : words) to.insert(w);
  };
  if (lang == "en") {
    add(r.abbreviations, {"e.g", "i.e", "approx", "dept", "est", "mt", "messrs", "lt", "col", "gen", "gov",
                          "rev", "hon", "sgt", "capt", "cf", "al"});
    add(r.before_numbers, {"no", "nos", "p", "pp", "vol", "fig", "ch", "art", "sec", "op"});
  } else if (lang == "de") {
    add(r.abbreviations, {"z.b", "u.a", "bzw", "ca", "hr", "fr", "str", "vgl", "evtl", "ggf", "inkl", "d.h", "s.o",
                          "u.u", "z.t", "o.ä", "sog", "geb", "dipl", "ing", "mio", "mrd"});
    add(r.before_numbers, {"nr", "s", "abs", "art", "bd", "kap", "abb"});
    r.ordinal_dots = true;
  } else if (lang == "fr") {
    add(r.abbreviations, {"m", "mme", "mlle", "me", "ste", "p.ex", "cf", "env", "av", "bd", "mgr"});
    add(r.before_numbers, {"n", "no", "p", "art", "chap", "vol"});
  } else if (lang == "cs" || lang == "sk") {
    add(r.abbreviations, {"např", "tzv", "resp", "tj", "mj", "ing", "mgr", "bc", "str", "sv", "p", "pí", "popř",
                          "ul", "nám", "tel", "zejm", "příp"});
    add(r.before_numbers, {"č", "s", "odst", "kap", "obr"});
    r.ordinal_dots = true;
  } else if (lang == "da" || lang == "fi" || lang == "no" || lang == "nb" || lang == "hu" || lang == "hr" ||
             lang == "sl" || lang == "et" || lang == "lv" || lang == "lt" || lang == "pl" || lang == "tr" ||
             lang == "sr" || lang == "is") {
    r.ordinal_dots = true;
  }
  return r;
}

// Lower-cases ASCII letters (the lists hold non-ASCII letters in lower case already).
std::string ascii_lower(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return out;
}

class Splitter {
 public:
  Splitter(std::string_view text, std::string_view language)
      : text_(text), chars_(decode(text)), rules_(rules_for(language)) {}

  SplitText run() {
    SplitText out;
    size_t i = skip_spaces(0);
    out.leading = bytes(0, i);
    while (i < chars_.size()) {
      const size_t end = sentence_end(i);  // one past its last character
      size_t last = end;
      while (last > i && is_space(chars_[last - 1].cp)) --last;
      const size_t next = skip_spaces(end);
      out.sentences.push_back({bytes(i, last), bytes(last, next)});
      i = next;
    }
    return out;
  }

 private:
  size_t skip_spaces(size_t i) const {
    while (i < chars_.size() && is_space(chars_[i].cp)) ++i;
    return i;
  }
  std::string bytes(size_t from, size_t to) const {
    const size_t b = from < chars_.size() ? chars_[from].begin : text_.size();
    const size_t e = to < chars_.size() ? chars_[to].begin : text_.size();
    return std::string(text_.substr(b, e - b));
  }

  // Where the sentence starting at i ends: after its stop (and what closes it), or at a line break.
  size_t sentence_end(size_t i) const {
    for (size_t j = i; j < chars_.size(); ++j) {
      const char32_t c = chars_[j].cp;
      if (is_line_break(c)) return j;
      const bool spaceless = is_spaceless_stop(c);
      if (!spaceless && !is_stop(c)) continue;
      size_t k = j + 1;  // past further stops and closing quotes or brackets
      while (k < chars_.size() && (is_stop(chars_[k].cp) || is_spaceless_stop(chars_[k].cp) || is_closer(chars_[k].cp)))
        ++k;
      if (spaceless || k == chars_.size()) return k;
      if (!is_space(chars_[k].cp)) {
        j = k - 1;
        continue;
      }
      const size_t next = skip_spaces(k);
      if (next == chars_.size() || is_line_break(chars_[k].cp) || ends_sentence(i, j, k, next)) return k;
      j = k - 1;
    }
    return chars_.size();
  }

  // The stops [j, k) between the sentence start i and the next word at `next`.
  bool ends_sentence(size_t i, size_t j, size_t k, size_t next) const {
    const char32_t first = chars_[next].cp;
    if (is_lowercase(first)) return false;
    if (chars_[j].cp != '.' || k - j > 1 + closers_after(j, k)) return true;  // ! ? … or "..."
    // A single full stop after a word: abbreviation, initial or ordinal?
    size_t w = j;
    while (w > i && !is_space(chars_[w - 1].cp)) --w;
    while (w < j && is_opener(chars_[w].cp)) ++w;
    if (w == j) return true;
    if (j - w == 1 && is_letter_like(chars_[w].cp)) return false;  // an initial
    const std::string word = ascii_lower(text_.substr(chars_[w].begin, chars_[j].begin - chars_[w].begin));
    if (rules_.abbreviations.count(word) != 0) return false;
    if (rules_.before_numbers.count(word) != 0 && is_digit(first)) return false;
    if (rules_.ordinal_dots && j - w <= 3 &&
        std::all_of(chars_.begin() + static_cast<std::ptrdiff_t>(w), chars_.begin() + static_cast<std::ptrdiff_t>(j),
                    [](const Char& ch) { return is_digit(ch.cp); }))
      return counts_after_abbreviation(i, w);  // "Nr. 4." is a count; "am 1." an ordinal
    return true;
  }

  // Whether the word before position w (in the sentence from i) is one that precedes numbers.
  bool counts_after_abbreviation(size_t i, size_t w) const {
    size_t end = w;
    while (end > i && is_space(chars_[end - 1].cp)) --end;
    if (end == i || chars_[end - 1].cp != '.') return false;
    size_t begin = end - 1;
    while (begin > i && !is_space(chars_[begin - 1].cp)) --begin;
    const std::string word = ascii_lower(text_.substr(chars_[begin].begin, chars_[end - 1].begin - chars_[begin].begin));
    return rules_.before_numbers.count(word) != 0;
  }

  size_t closers_after(size_t j, size_t k) const {
    size_t n = 0;
    for (size_t q = j + 1; q < k; ++q) n += is_closer(chars_[q].cp) ? 1 : 0;
    return n;
  }

  std::string_view text_;
  std::vector<Char> chars_;
  LanguageRules rules_;
};

}  // namespace

SplitText split_sentences(std::string_view text, std::string_view language) {
  return Splitter(text, language).run();
}

std::string join_sentences(const SplitText& split, const std::vector<std::string>& translations) {
  std::string out = split.leading;
  for (size_t i = 0; i < split.sentences.size() && i < translations.size(); ++i)
    out += translations[i] + split.sentences[i].separator;
  return out;
}

}  // namespace tusk::sdk
