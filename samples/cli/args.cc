#include "args.h"

#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>

namespace tusk_cli {
namespace {

const FlagSpec* find_flag(const std::vector<FlagSpec>& flags, const std::string& name) {
  for (const FlagSpec& f : flags) {
    if (f.name == name || (!f.alias.empty() && f.alias == name)) return &f;
  }
  return nullptr;
}

bool looks_like_flag(const std::string& word) {
  return word.size() > 1 && word[0] == '-';
}

}  // namespace

ParsedArgs parse_args(const std::vector<FlagSpec>& flags, const std::vector<std::string>& args) {
  ParsedArgs out;
  bool only_positional = false;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& word = args[i];
    if (only_positional || !looks_like_flag(word)) {
      out.positional.push_back(word);
      continue;
    }
    if (word == "--") {
      only_positional = true;
      continue;
    }
    if (word == "-h" || word == "--help") {
      out.help = true;
      continue;
    }
    std::string name = word;
    std::string value;
    bool inline_value = false;
    const size_t eq = word.find('=');
    if (word.compare(0, 2, "--") == 0 && eq != std::string::npos) {
      name = word.substr(0, eq);
      value = word.substr(eq + 1);
      inline_value = true;
    }
    const FlagSpec* spec = find_flag(flags, name);
    if (spec == nullptr) throw UsageError("unknown option '" + name + "'");
    name = spec->name;  // an alias counts as the flag it stands for
    if (!spec->takes_value) {
      if (inline_value) throw UsageError("option '" + name + "' takes no value");
      out.values[name] = "";
      continue;
    }
    if (!inline_value) {
      if (i + 1 >= args.size()) throw UsageError("option '" + name + "' needs a value");
      value = args[++i];
    }
    out.values[name] = value;
  }
  return out;
}

int64_t parse_int_flag(const std::string& flag, const std::string& text, int64_t min,
                       int64_t max) {
  const std::string expected = "expected an integer from " + std::to_string(min) + " to " +
                               std::to_string(max);
  if (text.empty()) throw UsageError("empty value for " + flag + ": " + expected);
  errno = 0;
  char* end = nullptr;
  const long long v = std::strtoll(text.c_str(), &end, 10);
  if (end == text.c_str() || *end != '\0' || errno == ERANGE || v < min || v > max) {
    throw UsageError("invalid value '" + text + "' for " + flag + ": " + expected);
  }
  return static_cast<int64_t>(v);
}

double parse_float_flag(const std::string& flag, const std::string& text, double min,
                        double max) {
  char range[96];
  std::snprintf(range, sizeof range, "expected a number from %g to %g", min, max);
  const std::string expected = range;
  if (text.empty()) throw UsageError("empty value for " + flag + ": " + expected);
  errno = 0;
  char* end = nullptr;
  const double v = std::strtod(text.c_str(), &end);
  if (end == text.c_str() || *end != '\0' || errno == ERANGE || !std::isfinite(v) || v < min ||
      v > max) {
    throw UsageError("invalid value '" + text + "' for " + flag + ": " + expected);
  }
  return v;
}

uint64_t SizeSpec::resolve(uint64_t whole) const {
  if (!is_percent) return bytes;
  const double b = std::floor(static_cast<double>(whole) * percent / 100.0);
  return b < 1.0 ? 1 : static_cast<uint64_t>(b);
}

SizeSpec parse_size_flag(const std::string& flag, const std::string& text) {
  const std::string expected =
      "expected bytes with an optional K, M or G suffix (e.g. 64M), or a percentage in (0, 100] "
      "(e.g. 25%)";
  const auto bad = [&] { return UsageError("invalid value '" + text + "' for " + flag + ": " + expected); };
  if (text.empty()) throw UsageError("empty value for " + flag + ": " + expected);
  SizeSpec spec;
  if (text.back() == '%') {
    const std::string number = text.substr(0, text.size() - 1);
    // strtod also reads "inf", "nan" and hex; a percentage is plain digits with one dot.
    if (number.empty() || number.find_first_not_of("0123456789.") != std::string::npos) throw bad();
    char* end = nullptr;
    const double p = std::strtod(number.c_str(), &end);
    if (end != number.c_str() + number.size() || !(p > 0.0) || p > 100.0) throw bad();
    spec.is_percent = true;
    spec.percent = p;
    return spec;
  }
  std::string digits = text;
  uint64_t unit = 1;
  switch (digits.back()) {
    case 'K': case 'k': unit = uint64_t{1} << 10; break;
    case 'M': case 'm': unit = uint64_t{1} << 20; break;
    case 'G': case 'g': unit = uint64_t{1} << 30; break;
    default: break;
  }
  if (unit != 1) digits.pop_back();
  if (digits.empty() || digits.find_first_not_of("0123456789") != std::string::npos) throw bad();
  errno = 0;
  const unsigned long long v = std::strtoull(digits.c_str(), nullptr, 10);
  constexpr uint64_t kMax = static_cast<uint64_t>(INT64_MAX);
  if (errno == ERANGE || v == 0 || v > kMax / unit) throw bad();
  spec.bytes = static_cast<uint64_t>(v) * unit;
  return spec;
}

const std::string& required_flag(const ParsedArgs& args, const std::string& flag) {
  auto it = args.values.find(flag);
  if (it == args.values.end()) throw UsageError("missing required option " + flag);
  if (it->second.empty()) throw UsageError("empty value for " + flag);
  return it->second;
}

}  // namespace tusk_cli
