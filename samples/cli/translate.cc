// `tusk translate`: stdin lines in, translations out, streamed in chunks.
#include <poll.h>
#include <unistd.h>

#include <cstdio>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include "args.h"
#include "common.h"
#include "translator_setup.h"

namespace tusk_cli {
namespace {

// Lines per tusk_translate call (the CLI's batch). Memory stays bounded by one chunk, and each
// chunk's output is written before the next is read, so stopping the CLI loses at most the
// chunk in progress. Input that pauses (a terminal, or a pipe whose writer waits) is
// translated as far as it came instead of waiting for a full chunk.
constexpr size_t kChunkLines = 256;

// Standard input has nothing more to read right now (nothing buffered, nothing in the pipe).
bool input_pauses(std::istream& in) {
  if (in.rdbuf()->in_avail() > 0) return false;
  pollfd p{STDIN_FILENO, POLLIN, 0};
  return ::poll(&p, 1, 0) == 0;
}

// The translate command's own flags; kTranslatorFlags are added to them.
const std::vector<FlagSpec> kOwnFlags = {
    {"--src", true, "-s"},   {"--tgt", true, "-t"},   {"--input", true, "-i"},
    {"--output", true, "-o"}, {"--on-error", true},    {"--n-best", true},
    {"--output-format", true}, {"--stats", true},     {"--warm-start", true},
    {"--sentences", false},
};

std::string line_range(uint64_t first, uint64_t last) {
  if (first == last) return "input line " + std::to_string(first);
  return "input lines " + std::to_string(first) + "-" + std::to_string(last);
}

void write_line(const char* text) {
  // One output line per input line, whatever the text holds.
  for (const char* p = text; *p != '\0'; ++p) {
    const char c = (*p == '\n' || *p == '\r') ? ' ' : *p;
    std::fputc(c, stdout);
  }
  std::fputc('\n', stdout);
}

struct Session {
  tusk_model_t* model;
  tusk_translator_t* translator;
  std::string src;
  std::string tgt;
  bool text_mode;  // each line a text the library splits into sentences (else one sentence)
  bool keep_going;  // --on-error continue: report a bad line, translate the others
  uint64_t failed_lines = 0;
  bool hinted_truncate = false;
  bool jsonl = false;  // --output-format jsonl: an object per line with every hypothesis
};

// A JSON string literal of UTF-8 text.
std::string json_string(const std::string& text) {
  std::string out = "\"";
  for (unsigned char c : text) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20) {
          char buffer[8];
          std::snprintf(buffer, sizeof buffer, "\\u%04x", c);
          out += buffer;
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  return out + "\"";
}

// The jsonl line of one input: its number, and its hypotheses (none for an empty line) or
// its error.
std::string json_line(uint64_t line, const tusk_result_t* result, size_t index, bool translated) {
  std::string out = "{\"line\": " + std::to_string(line) + ", \"hypotheses\": [";
  const size_t n = translated ? tusk_result_hypothesis_count(result, index) : 0;
  for (size_t h = 0; h < n; ++h) {
    char score[32];
    std::snprintf(score, sizeof score, "%.6g", tusk_result_hypothesis_score(result, index, h));
    out += std::string(h ? ", " : "") + "{\"text\": " + json_string(tusk_result_hypothesis_text(result, index, h)) +
           ", \"score\": " + score + "}";
  }
  out += "]";
  if (translated && tusk_result_status(result, index) != TUSK_OK)
    out += ", \"error\": " + json_string(tusk_result_error(result, index));
  return out + "}";
}

// Translates lines (input line numbers first_line...) and prints one line per line.
int translate_chunk(Session& s, const std::vector<std::string>& lines, uint64_t first_line) {
  const uint64_t last_line = first_line + lines.size() - 1;
  // Empty lines are answered here; only the others go to the library.
  std::vector<const char*> texts;
  std::vector<size_t> where;
  texts.reserve(lines.size());
  where.reserve(lines.size());
  for (size_t i = 0; i < lines.size(); ++i) {
    if (lines[i].empty()) continue;
    texts.push_back(lines[i].c_str());
    where.push_back(i);
  }

  Result result;
  if (!texts.empty()) {
    tusk_result_t* raw = nullptr;
    const auto call = s.text_mode ? tusk_translate_text : tusk_translate;
    const tusk_status_t st = call(s.translator, s.src.c_str(), s.tgt.c_str(), texts.data(), texts.size(), &raw);
    if (st != TUSK_OK) {
      const std::string message = library_error(st);
      switch (st) {
        case TUSK_ERROR_UNKNOWN_LANGUAGE: {
          report_error(message);
          const std::string langs = model_languages(s.model);
          if (!langs.empty()) std::fprintf(stderr, "tusk: the model's languages: %s\n", langs.c_str());
          return kExitError;
        }
        case TUSK_ERROR_INPUT_TOO_LONG:
          report_error(message + " (in the chunk of " + line_range(first_line, last_line) + ")");
          std::fprintf(stderr, "tusk: pass --truncate to cut over-long sentences instead\n");
          return kExitError;
        case TUSK_ERROR_INVALID_ARGUMENT:
          return report_error(message + " (in the chunk of " + line_range(first_line, last_line) + ")");
        default:
          return report_error(message);
      }
    }
    result.reset(raw);
    if (tusk_result_count(raw) != texts.size()) {
      return report_error("the library returned " + std::to_string(tusk_result_count(raw)) +
                          " translations for " + std::to_string(texts.size()) + " sentences");
    }
  }

  size_t next = 0;  // index into texts/where
  for (size_t i = 0; i < lines.size(); ++i) {
    if (next < where.size() && where[next] == i) {
      const tusk_status_t status = tusk_result_status(result.get(), next);
      if (s.jsonl) {
        write_line(json_line(first_line + i, result.get(), next, true).c_str());
        if (status != TUSK_OK) ++s.failed_lines;
        ++next;
        continue;
      }
      if (status != TUSK_OK) {  // --on-error continue
        report_error(line_range(first_line + i, first_line + i) + ": " + tusk_result_error(result.get(), next));
        if (status == TUSK_ERROR_INPUT_TOO_LONG && !s.hinted_truncate) {
          std::fprintf(stderr, "tusk: pass --truncate to cut over-long sentences instead\n");
          s.hinted_truncate = true;
        }
        ++s.failed_lines;
        write_line("");
        ++next;
        continue;
      }
      const char* text = tusk_result_text(result.get(), next);
      write_line(text != nullptr ? text : "");
      if (tusk_result_truncated(result.get(), next)) {
        report_warning(line_range(first_line + i, first_line + i) +
                       (s.text_mode ? " held a sentence longer than the model takes: it was translated in pieces"
                                    : " exceeded the model's maximum length and was truncated"));
      }
      ++next;
    } else {
      write_line(s.jsonl ? json_line(first_line + i, nullptr, 0, false).c_str() : "");
    }
  }
  if (std::fflush(stdout) != 0 || std::ferror(stdout)) {
    return report_error("cannot write to standard output");
  }
  return kExitOk;
}

// The translator's expert cache counters as one JSON object; budget 0 = all resident.
int write_stats(const std::string& path, const tusk_translator_t* translator, uint64_t budget,
                uint64_t expert_bytes_total) {
  tusk_stats_t st{};
  st.struct_size = sizeof st;
  const tusk_status_t status = tusk_translator_stats(translator, &st);
  if (status != TUSK_OK) return report_status(status);
  FILE* f = std::fopen(path.c_str(), "w");
  if (f == nullptr) return report_error("cannot write the statistics file " + path);
  const uint64_t acquires = st.hits + st.misses;
  char hit_rate[32] = "null";  // no expert was acquired through a cache
  if (acquires > 0)
    std::snprintf(hit_rate, sizeof hit_rate, "%.6f", static_cast<double>(st.hits) / acquires);
  // Ratios are null when undefined (nothing prefetched, nothing loaded).
  char recall[32] = "null", precision[32] = "null";
  if (st.prefetch_used + st.misses > 0)
    std::snprintf(recall, sizeof recall, "%.6f",
                  static_cast<double>(st.prefetch_used) / (st.prefetch_used + st.misses));
  if (st.prefetch_issued > 0)
    std::snprintf(precision, sizeof precision, "%.6f",
                  static_cast<double>(st.prefetch_used) / st.prefetch_issued);
  const auto u = [](uint64_t v) { return static_cast<unsigned long long>(v); };
  std::fprintf(f,
               "{\n  \"hits\": %llu,\n  \"misses\": %llu,\n  \"hit_rate\": %s,\n"
               "  \"evictions\": %llu,\n  \"bytes_loaded\": %llu,\n  \"prefetch_issued\": %llu,\n"
               "  \"prefetch_used\": %llu,\n  \"prefetch_recall\": %s,\n  \"prefetch_precision\": %s,\n"
               "  \"stall_ms\": %.3f,\n  \"peak_cache_bytes\": %llu,\n"
               "  \"warm_start_loaded\": %llu,\n"
               "  \"budget_bytes\": %llu,\n  \"expert_bytes_total\": %llu\n}\n",
               u(st.hits), u(st.misses), hit_rate, u(st.evictions), u(st.bytes_loaded),
               u(st.prefetch_issued), u(st.prefetch_used), recall, precision, st.stall_ms,
               u(st.peak_cache_bytes), u(st.warm_start_loaded),
               u(budget), u(expert_bytes_total));
  const bool failed = std::ferror(f) != 0;
  if (std::fclose(f) != 0 || failed) return report_error("cannot write the statistics file " + path);
  return kExitOk;
}

}  // namespace

int cmd_translate(const std::vector<std::string>& argv) {
  std::vector<FlagSpec> flags = kOwnFlags;
  flags.insert(flags.end(), kTranslatorFlags.begin(), kTranslatorFlags.end());
  const ParsedArgs args = parse_args(flags, argv);
  if (args.help) {
    std::fputs(kTranslateUsage, stdout);
    return kExitOk;
  }
  if (!args.positional.empty()) {
    throw UsageError("unexpected argument '" + args.positional.front() +
                     "' (sentences are read from standard input)");
  }
  Session s{};
  s.src = required_flag(args, "--src");
  s.tgt = required_flag(args, "--tgt");
  s.text_mode = !args.has("--sentences");
  s.keep_going = true;
  if (args.has("--on-error")) {
    const std::string& value = args.get("--on-error");
    if (value != "continue" && value != "fail")
      throw UsageError("invalid value '" + value + "' for --on-error: expected continue or fail");
    s.keep_going = value == "continue";
  }

  TranslatorSetup setup = read_translator_flags(args);
  tusk_options_t* options = setup.options.get();
  if (args.has("--output-format")) {
    const std::string& format = args.get("--output-format");
    if (format != "text" && format != "jsonl")
      throw UsageError("invalid value '" + format + "' for --output-format: expected text or jsonl");
    s.jsonl = format == "jsonl";
  }
  if (args.has("--n-best")) {
    // N hypotheses need a beam of at least N: a larger --beam-size is kept.
    const int64_t n = parse_int_flag("--n-best", args.get("--n-best"), 1, 256);
    const int64_t beam = args.has("--beam-size") ? parse_int_flag("--beam-size", args.get("--beam-size"), 1, 256) : 1;
    if (args.has("--beam-size") && beam < n)
      throw UsageError("--n-best " + std::to_string(n) + " needs --beam-size of at least " + std::to_string(n));
    set_int_option(options, TUSK_OPT_BEAM_SIZE, "--n-best", std::max(n, beam));
    set_int_option(options, TUSK_OPT_NUM_HYPOTHESES, "--n-best", n);
    if (n > 1) s.text_mode = false;  // alternatives are per sentence: each line is one
  }
  if (s.keep_going) set_int_option(options, TUSK_OPT_PER_SENTENCE_ERRORS, "--on-error", 1);
  bool warm_start = true;
  if (args.has("--warm-start")) {
    const std::string& value = args.get("--warm-start");
    if (value != "on" && value != "off")
      throw UsageError("invalid value '" + value + "' for --warm-start: expected on or off");
    warm_start = value == "on";
  }
  const std::string stats_path = args.has("--stats") ? required_flag(args, "--stats") : "";

  uint64_t budget = 0, expert_bytes_total = 0;
  Model model = open_model(setup, &budget, &expert_bytes_total);
  s.model = model.get();
  const Translator translator = create_translator(setup, model.get());
  s.translator = translator.get();
  if (warm_start && budget != 0) {
    const tusk_status_t st = tusk_translator_warm_start(translator.get(), s.src.c_str(), s.tgt.c_str(), nullptr);
    if (st != TUSK_OK) return report_status(st);
  }

  // -i/--input and -o/--output stand in for standard input and output.
  std::ifstream input_file;
  if (args.has("--input")) {
    input_file.open(args.get("--input"), std::ios::binary);
    if (!input_file) return report_error("cannot open input file " + args.get("--input") + ": " + std::strerror(errno));
  }
  std::istream& in = args.has("--input") ? static_cast<std::istream&>(input_file) : std::cin;
  if (args.has("--output") && std::freopen(args.get("--output").c_str(), "w", stdout) == nullptr)
    return report_error("cannot write output file " + args.get("--output") + ": " + std::strerror(errno));
  const bool from_stdin = !args.has("--input");
  std::ios::sync_with_stdio(false);  // stdin is read through std::cin only
  // One write per output line: a run stopped at any point leaves whole lines.
  std::setvbuf(stdout, nullptr, _IOLBF, 1 << 16);
  std::vector<std::string> chunk;
  chunk.reserve(kChunkLines);
  uint64_t next_line = 1;  // number of the first line in chunk
  std::string line;
  for (;;) {
    const bool got = static_cast<bool>(std::getline(in, line));
    if (got) {
      const uint64_t number = next_line + chunk.size();
      while (!line.empty() && (line.back() == '\r' || line.back() == '\n')) line.pop_back();
      // A byte-order mark some editors put at the start of a file is not text.
      if (number == 1 && line.compare(0, 3, "\xEF\xBB\xBF") == 0) line.erase(0, 3);
      // Checked here rather than left to the library so the message names the exact line.
      std::string problem;
      if (line.find('\0') != std::string::npos) problem = " contains a NUL byte";
      const size_t bad = problem.empty() ? find_invalid_utf8(line) : std::string::npos;
      if (bad != std::string::npos) problem = " is not valid UTF-8 (byte " + std::to_string(bad + 1) + ")";
      if (!problem.empty()) {
        if (!s.keep_going) return report_error(line_range(number, number) + problem);
        report_error(line_range(number, number) + problem);  // its output line stays empty
        ++s.failed_lines;
        line.clear();
      }
      chunk.push_back(std::move(line));
      line.clear();
    }
    if (!chunk.empty() && (!got || chunk.size() == kChunkLines || (from_stdin && input_pauses(in)))) {
      const int rc = translate_chunk(s, chunk, next_line);
      if (rc != kExitOk) return rc;
      next_line += chunk.size();
      chunk.clear();
    }
    if (!got) break;
  }
  if (in.bad()) return report_error(args.has("--input") ? "cannot read " + args.get("--input") : "cannot read standard input");
  if (std::fflush(stdout) != 0) return report_error("cannot write the output");
  if (!stats_path.empty()) {
    const int rc = write_stats(stats_path, translator.get(), budget, expert_bytes_total);
    if (rc != kExitOk) return rc;
  }
  if (s.failed_lines > 0)
    return report_error(std::to_string(s.failed_lines) + " input line" + (s.failed_lines == 1 ? "" : "s") +
                        " could not be translated (reported above; their output lines are empty)");
  return kExitOk;
}

}  // namespace tusk_cli
