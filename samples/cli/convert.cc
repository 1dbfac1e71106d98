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
};

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
                   parse_weight_type("--dense", args.get("--dense"), "int8|fp16|fp32"));
  }
  if (args.has("--group-size")) {
    set_int_option(options.get(), TUSK_OPT_GROUP_SIZE, "--group-size",
                   parse_int_flag("--group-size", args.get("--group-size"), 0, 1 << 30));
  }

  Progress progress;
  progress.tty = isatty(STDERR_FILENO) != 0;
  if (progress.tty) progress.width = terminal_width();
  install_interrupt_handler();

  const auto start = std::chrono::steady_clock::now();
  const tusk_status_t st =
      tusk_convert_hf(from.c_str(), out.c_str(), options.get(), on_progress, &progress);
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
