// Continuous batching against batches, in one process on one translator: N clients' worth of
// sentences in flight. Batched: the sentences in chunks of N, one tusk_translate_text call
// each (a chunk waits for its longest sentence). Continuous: tusk_translate_continuous with
// room for N sentences, a new one pulled as soon as one finishes (what N clients that each
// send their next request on an answer give a server). Same sentences, same results; rounds
// interleave and each mode keeps its best (the machine is shared and noisy).
//
//   build/bin/bench_continuous [--model FILE] [--input FILE] [--clients 1,8,16,32]
//                              [--threads 1] [--rounds 3] [--limit 512] [--only batched|continuous]
// (--only: one mode alone, e.g. under perf).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "bench/bench_args.h"
#include "tusk/tusk.h"

namespace {

using Clock = std::chrono::steady_clock;

void check(tusk_status_t status, const char* what) {
  if (status != TUSK_OK) throw std::runtime_error(std::string(what) + ": " + tusk_last_error());
}

struct Feed {
  const std::vector<std::string>* sentences = nullptr;
  size_t next = 0, delivered = 0;
  const char* text = nullptr;
  static int32_t pull(void* user, int32_t, tusk_request_t* request) {
    auto* f = static_cast<Feed*>(user);
    if (f->next == f->sentences->size()) return 0;
    f->text = (*f->sentences)[f->next].c_str();
    request->id = f->next++;
    request->src = "en";
    request->tgt = "de";
    request->texts = &f->text;
    request->count = 1;
    return 1;
  }
  // Callbacks must not throw through the library: a failure is counted and reported after.
  static void deliver(void* user, uint64_t, tusk_status_t status, const char* error, tusk_result_t* result) {
    auto* f = static_cast<Feed*>(user);
    if (status != TUSK_OK && f->error.empty()) f->error = error;
    tusk_result_free(result);
    ++f->delivered;
  }
  std::string error;
};

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

}  // namespace

int main(int argc, char** argv) try {
  std::string model_path = TUSK_DEFAULT_MODEL_PATH, input;
  std::vector<int> clients = {1, 8, 16, 32};
  int threads = 1, rounds = 3;
  size_t limit = 512;
  std::string only;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    if (flag == "--model") model_path = argv[i + 1];
    else if (flag == "--input") input = argv[i + 1];
    else if (flag == "--clients") clients = tusk::bench::parse_int_list(argv[i + 1]);
    else if (flag == "--threads") threads = std::atoi(argv[i + 1]);
    else if (flag == "--rounds") rounds = std::max(1, std::atoi(argv[i + 1]));
    else if (flag == "--limit") limit = static_cast<size_t>(std::atol(argv[i + 1]));
    else if (flag == "--only") only = argv[i + 1];
    else throw std::runtime_error("unknown flag " + flag);
  }
  if (input.empty()) throw std::runtime_error("--input FILE (one English sentence a line) is needed");
  std::vector<std::string> sentences;
  std::ifstream in(input);
  for (std::string line; sentences.size() < limit && std::getline(in, line);)
    if (!line.empty()) sentences.push_back(line);

  tusk_model_t* model = nullptr;
  check(tusk_model_open(model_path.c_str(), nullptr, &model), "tusk_model_open");
  std::printf("bench_continuous: %zu sentences en->de, %d thread(s), best of %d rounds\n", sentences.size(), threads,
              rounds);
  std::printf("%8s %14s %14s %8s\n", "clients", "batched sent/s", "continuous", "ratio");
  for (int n : clients) {
    tusk_options_t* options = nullptr;
    check(tusk_options_create(&options), "tusk_options_create");
    check(tusk_options_set_int(options, TUSK_OPT_THREADS, threads), "threads");
    check(tusk_options_set_int(options, TUSK_OPT_MAX_BATCH_SIZE, n), "max batch size");
    tusk_translator_t* translator = nullptr;
    check(tusk_translator_create(model, options, &translator), "tusk_translator_create");
    double batched = 1e30, continuous = 1e30;
    for (int r = 0; r < rounds; ++r) {
      Clock::time_point t = Clock::now();
      for (size_t b = 0; only != "continuous" && b < sentences.size(); b += static_cast<size_t>(n)) {
        std::vector<const char*> texts;
        for (size_t i = b; i < std::min(sentences.size(), b + static_cast<size_t>(n)); ++i)
          texts.push_back(sentences[i].c_str());
        tusk_result_t* result = nullptr;
        check(tusk_translate_text(translator, "en", "de", texts.data(), texts.size(), &result), "translate");
        tusk_result_free(result);
      }
      batched = std::min(batched, seconds_since(t));
      if (only == "batched") continue;
      Feed feed;
      feed.sentences = &sentences;
      t = Clock::now();
      check(tusk_translate_continuous(translator, Feed::pull, Feed::deliver, &feed), "continuous");
      continuous = std::min(continuous, seconds_since(t));
      if (!feed.error.empty()) throw std::runtime_error("continuous: " + feed.error);
      if (feed.delivered != sentences.size()) throw std::runtime_error("continuous: sentences lost");
    }
    const double count = static_cast<double>(sentences.size());
    if (only.empty())
      std::printf("%8d %14.1f %14.1f %7.2fx\n", n, count / batched, count / continuous, batched / continuous);
    else if (only == "batched")
      std::printf("%8d %14.1f %14s %8s\n", n, count / batched, "-", "-");
    else
      std::printf("%8d %14s %14.1f %8s\n", n, "-", count / continuous, "-");
    tusk_translator_destroy(translator);
    tusk_options_destroy(options);
  }
  tusk_model_close(model);
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "bench_continuous: %s\n", e.what());
  return 1;
}
