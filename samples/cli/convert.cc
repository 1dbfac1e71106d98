// `tusk convert`: a Hugging Face checkpoint folder to one .tusk file, with progress.
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <string>
#include <vector>

#include "args.h"
#include "common.h"

namespace tusk_cli {
namespace {

const std::vector<FlagSpec> kFlags = {
    {"--from-hf", true},
    {"--out", true},
    {"--zstd-level", true},
    {"--experts", true},
    {"--dense", true},
    {"--group-size", true},
    {"--calibrate", true},
    {"--calibration-limit", true},
    {"--usage-out", true},
    {"--threads", true},
    {"--expert-usage", true},
};

// One --calibrate item, its lines read before converting so a bad path fails early.
struct CalibrationFile {
  std::string src, tgt, path;
  std::vector<std::string> lines;
};

std::vector<CalibrationFile> parse_calibration(const std::string& list, int64_t limit) {
  std::vector<CalibrationFile> files;
  size_t start = 0;
  while (start <= list.size()) {
    const size_t comma = list.find(',', start);
    const std::string item = list.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    const size_t eq = item.find('='), dash = item.find('-');
    if (eq == std::string::npos || dash == std::string::npos || dash > eq || dash == 0 || dash + 1 == eq ||
        eq + 1 == item.size())
      throw UsageError("invalid item '" + item + "' for --calibrate: expected SRC-TGT=FILE");
    CalibrationFile f{item.substr(0, dash), item.substr(dash + 1, eq - dash - 1), item.substr(eq + 1), {}};
    std::FILE* in = std::fopen(f.path.c_str(), "rb");
    if (!in) throw UsageError("--calibrate: cannot open " + f.path);
    std::string line;
    int c;
    while ((c = std::fgetc(in)) != EOF && (limit <= 0 || static_cast<int64_t>(f.lines.size()) < limit)) {
      if (c == '\n') {
        if (!line.empty() && line.back() == '\r') line.pop_back();
        f.lines.push_back(line);
        line.clear();
      } else {
        line += static_cast<char>(c);
      }
    }
    if (!line.empty() && (limit <= 0 || static_cast<int64_t>(f.lines.size()) < limit)) f.lines.push_back(line);
    std::fclose(in);
    if (f.lines.empty()) throw UsageError("--calibrate: " + f.path + " has no lines");
    files.push_back(std::move(f));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return files;
}

struct WeightTypeName {
  const char* name;
  tusk_weight_type_t type;
};
const WeightTypeName kWeightTypes[] = {{"fp32", TUSK_WEIGHTS_FP32},
                                       {"fp16", TUSK_WEIGHTS_FP16},
                                       {"int8", TUSK_WEIGHTS_INT8},
                                       {"int4", TUSK_WEIGHTS_INT4}};

// Parses a weight type among `allowed` (names separated by '|'), for `flag`.
tusk_weight_type_t parse_weight_type(const std::string& flag, const std::string& text,
                                     const std::string& allowed) {
  const std::string bounded = "|" + allowed + "|";
  for (const WeightTypeName& w : kWeightTypes) {
    if (text == w.name && bounded.find("|" + text + "|") != std::string::npos) return w.type;
  }
  throw UsageError("invalid value '" + text + "' for " + flag + ": expected " + allowed);
}

volatile std::sig_atomic_t g_interrupted = 0;

extern "C" void on_interrupt(int) { g_interrupted = 1; }

// Ctrl-C cancels through the progress callback, so the library removes its temporary file.
// A second Ctrl-C kills the process (SA_RESETHAND).
void install_interrupt_handler() {
  struct sigaction sa {};
  sa.sa_handler = on_interrupt;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESETHAND;
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
}

struct Progress {
  bool tty = false;
  size_t width = 80;       // terminal columns
  size_t shown = 0;        // length of the line now on screen (tty)
  int last_tenth = -1;     // last 10% step printed (not a tty)
  std::chrono::steady_clock::time_point last_draw{};
};

size_t terminal_width() {
  struct winsize ws {};
  if (ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col >= 20) return ws.ws_col;
  return 80;
}

std::string format_step(uint64_t done, uint64_t total, const char* what) {
  const int digits = static_cast<int>(std::to_string(total).size());
  char head[64];
  std::snprintf(head, sizeof head, "[%*llu/%llu] ", digits, static_cast<unsigned long long>(done),
                static_cast<unsigned long long>(total));
  return std::string(head) + (what != nullptr ? what : "");
}

extern "C" int32_t on_progress(uint64_t done, uint64_t total, const char* what, void* user) {
  auto* p = static_cast<Progress*>(user);
  if (g_interrupted) return 1;
  if (p->tty) {
    // Redraw at most ~20 times a second, but always show the first and the last step.
    const auto now = std::chrono::steady_clock::now();
    if (p->shown > 0 && done < total && now - p->last_draw < std::chrono::milliseconds(50)) {
      return 0;
    }
    p->last_draw = now;
    std::string text = format_step(done, total, what);
    // Never wrap: a wrapped line cannot be redrawn with \r.
    if (text.size() > p->width - 1) text.resize(p->width - 1);
    const size_t pad = p->shown > text.size() ? p->shown - text.size() : 0;
    std::fprintf(stderr, "\r%s%*s", text.c_str(), static_cast<int>(pad), "");
    std::fflush(stderr);
    p->shown = text.size();
  } else {
    const int tenth = total > 0 ? static_cast<int>(std::min<uint64_t>(done * 10 / total, 10)) : 0;
    if (tenth > p->last_tenth) {
      std::fprintf(stderr, "%3d%% %s\n", tenth * 10, format_step(done, total, what).c_str());
      p->last_tenth = tenth;
    }
  }
  return 0;
}

std::string human_bytes(unsigned long long n) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(n);
  int u = 0;
  while (v >= 1024.0 && u < 4) {
    v /= 1024.0;
    ++u;
  }
  char buf[64];
  if (u == 0) {
    std::snprintf(buf, sizeof buf, "%llu B", n);
  } else {
    std::snprintf(buf, sizeof buf, "%.1f %s", v, units[u]);
  }
  return buf;
}

}  // namespace

int cmd_convert(const std::vector<std::string>& argv) {
  const ParsedArgs args = parse_args(kFlags, argv);
  if (args.help) {
    std::fputs(kConvertUsage, stdout);
    return kExitOk;
  }
  if (!args.positional.empty()) {
    throw UsageError("unexpected argument '" + args.positional.front() + "'");
  }
  const std::string from = required_flag(args, "--from-hf");
  const std::string out = required_flag(args, "--out");
  Options options = make_options();
  if (args.has("--zstd-level")) {
    set_int_option(options.get(), TUSK_OPT_ZSTD_LEVEL, "--zstd-level",
                   parse_int_flag("--zstd-level", args.get("--zstd-level"), -131072, 22));
  }
  if (args.has("--experts")) {
    set_int_option(options.get(), TUSK_OPT_EXPERT_WEIGHTS, "--experts",
                   parse_weight_type("--experts", args.get("--experts"), "int4|int8|fp16|fp32"));
  }
  if (args.has("--dense")) {
    set_int_option(options.get(), TUSK_OPT_DENSE_WEIGHTS, "--dense",
                   parse_weight_type("--dense", args.get("--dense"), "int4|int8|fp16|fp32"));
  }
  if (args.has("--group-size")) {
    set_int_option(options.get(), TUSK_OPT_GROUP_SIZE, "--group-size",
                   parse_int_flag("--group-size", args.get("--group-size"), 0, 1 << 30));
  }

  if (args.has("--expert-usage") && args.has("--calibrate"))
    throw UsageError("--expert-usage and --calibrate exclude each other: a table is measured or given");
  for (const char* flag : {"--calibration-limit", "--usage-out", "--threads"})
    if (args.has(flag) && !args.has("--calibrate")) throw UsageError(std::string(flag) + " needs --calibrate");
  const int64_t limit = args.has("--calibration-limit")
                            ? parse_int_flag("--calibration-limit", args.get("--calibration-limit"), 1, INT64_MAX)
                            : 0;
  const std::vector<CalibrationFile> calibration =
      args.has("--calibrate") ? parse_calibration(required_flag(args, "--calibrate"), limit)
                              : std::vector<CalibrationFile>{};
  const std::string usage_in = args.has("--expert-usage") ? required_flag(args, "--expert-usage") : "";
  if (!usage_in.empty()) {  // fail before a conversion that would be thrown away
    std::FILE* f = std::fopen(usage_in.c_str(), "rb");
    if (!f) throw UsageError("--expert-usage: cannot open " + usage_in);
    std::fclose(f);
  }
  const std::string usage_out = args.has("--usage-out") ? required_flag(args, "--usage-out") : "";
  Options calibrate_options = make_options();
  if (args.has("--threads"))
    set_int_option(calibrate_options.get(), TUSK_OPT_THREADS, "--threads",
                   parse_int_flag("--threads", args.get("--threads"), 0, 4096));

  Progress progress;
  progress.tty = isatty(STDERR_FILENO) != 0;
  if (progress.tty) progress.width = terminal_width();
  install_interrupt_handler();

  const auto start = std::chrono::steady_clock::now();
  tusk_status_t st = tusk_convert_hf(from.c_str(), out.c_str(), options.get(), on_progress, &progress);
  // The table goes in after the weights; if that fails the half-made model is removed, so
  // the command either makes what was asked or nothing.
  bool table_failed = false;
  if (st == TUSK_OK && !usage_in.empty()) {
    st = tusk_model_import_expert_usage(out.c_str(), usage_in.c_str());
    table_failed = st != TUSK_OK;
  } else if (st == TUSK_OK && !calibration.empty()) {
    std::vector<std::vector<const char*>> sentences(calibration.size());
    std::vector<tusk_calibration_text_t> texts;
    for (size_t i = 0; i < calibration.size(); ++i) {
      for (const std::string& line : calibration[i].lines) sentences[i].push_back(line.c_str());
      texts.push_back({calibration[i].src.c_str(), calibration[i].tgt.c_str(), sentences[i].data(),
                       sentences[i].size()});
    }
    if (progress.tty && progress.shown > 0) std::fputc('\n', stderr);
    progress.shown = 0;
    progress.last_tenth = -1;
    st = tusk_model_calibrate(out.c_str(), texts.data(), texts.size(), calibrate_options.get(),
                              usage_out.empty() ? nullptr : usage_out.c_str(), on_progress, &progress);
    table_failed = st != TUSK_OK;
  }
  if (table_failed) {
    const std::string error = tusk_last_error();
    std::remove(out.c_str());
    if (progress.tty && progress.shown > 0) std::fputc('\n', stderr);
    if (st == TUSK_ERROR_CANCELLED && g_interrupted) {
      std::fprintf(stderr, "tusk: calibration interrupted; %s was removed\n", out.c_str());
      return kExitCancelled;
    }
    return report_error(error + " (" + out + " was removed)");
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (progress.tty && progress.shown > 0) std::fputc('\n', stderr);
  std::signal(SIGINT, SIG_DFL);
  std::signal(SIGTERM, SIG_DFL);

  if (st == TUSK_ERROR_CANCELLED && g_interrupted) {
    std::fprintf(stderr, "tusk: conversion interrupted; %s was not written\n", out.c_str());
    return kExitCancelled;
  }
  if (st != TUSK_OK) return report_status(st);

  struct stat info {};
  std::string size = "size unknown";
  if (::stat(out.c_str(), &info) == 0) {
    size = human_bytes(static_cast<unsigned long long>(info.st_size)) + ", " +
           std::to_string(static_cast<unsigned long long>(info.st_size)) + " bytes";
  }
  std::fprintf(stderr, "tusk: wrote %s (%s) in %.1f s\n", out.c_str(), size.c_str(), seconds);
  return kExitOk;
}

}  // namespace tusk_cli
