// Command-line parsing for the `tusk` CLI: flags declared per command, GNU-style spellings
// (`--flag value`, `--flag=value`), `-h`/`--help` anywhere, `--` ends the flags.
#pragma once

#include <cstdint>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

namespace tusk_cli {

// Exit codes shared by every command.
constexpr int kExitOk = 0;
constexpr int kExitError = 1;      // the work failed (library error, I/O, ...)
constexpr int kExitUsage = 2;      // the command line is wrong
constexpr int kExitCancelled = 130;

// A command-line mistake: reported with a hint to `--help` and exit code 2.
class UsageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct FlagSpec {
  std::string name;  // with leading dashes: "--beam-size"
  bool takes_value;  // false: a switch such as --truncate
  std::string alias = {};  // a short spelling, "-s"; parsed as `name`
};

struct ParsedArgs {
  bool help = false;
  std::map<std::string, std::string> values;  // flag -> value ("" for switches); last one wins
  std::vector<std::string> positional;

  bool has(const std::string& flag) const { return values.count(flag) != 0; }
  const std::string& get(const std::string& flag) const { return values.at(flag); }
};

// Parses args (the words after the command name). Throws UsageError naming the offending
// word for an unknown flag, a missing value, or a value given to a switch.
ParsedArgs parse_args(const std::vector<FlagSpec>& flags, const std::vector<std::string>& args);

// Whole-string numeric parsing with bounds; throws UsageError naming the flag.
int64_t parse_int_flag(const std::string& flag, const std::string& text, int64_t min,
                       int64_t max);
double parse_float_flag(const std::string& flag, const std::string& text, double min,
                        double max);

// A memory size as the user wrote it: bytes with an optional K, M or G suffix (powers of 1024,
// either case), or a percentage of some whole ("25%", "12.5%").
struct SizeSpec {
  bool is_percent = false;
  uint64_t bytes = 0;    // when !is_percent: more than 0
  double percent = 0.0;  // when is_percent: in (0, 100]
  // The size in bytes; a percentage of whole is rounded down but never to 0.
  uint64_t resolve(uint64_t whole) const;
};

// Parses a SizeSpec no larger than INT64_MAX bytes; throws UsageError naming the flag.
SizeSpec parse_size_flag(const std::string& flag, const std::string& text);

// The value of a required flag; throws UsageError if it is absent or empty.
const std::string& required_flag(const ParsedArgs& args, const std::string& flag);

}  // namespace tusk_cli
