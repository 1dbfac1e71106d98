// Multithreading smoke test through the C ABI: one model shared by two translators on two
// threads, and two threads sharing one translator (tusk.h: concurrent tusk_translate calls on
// one translator are serialised). Every thread's results must equal a single-threaded run.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "tusk_test_util.h"

namespace {

using namespace tusk_test;

constexpr int kRounds = 3;
constexpr size_t kSentences = 10;

struct Work {
  std::string src, tgt;
  std::vector<std::string> texts;
  std::vector<Hyp> expected;  // single-threaded, one sentence per call
};

Options thread_options() {
  // One intra-op thread per translator: the test is about callers' threads, and keeps the
  // machine from being oversubscribed.
  return make_options({{TUSK_OPT_THREADS, 1}, {TUSK_OPT_MAX_DECODING_LENGTH, 128}});
}

std::vector<Hyp> translate_one_by_one(tusk_translator_t* tr, const Work& w) {
  std::vector<Hyp> out;
  for (const auto& text : w.texts) out.push_back(translate(tr, w.src, w.tgt, {text}).at(0));
  return out;
}

Work make_work(const std::string& direction, tusk_translator_t* tr) {
  Work w;
  std::tie(w.src, w.tgt) = split_direction(direction);
  const auto goldens = load_golden(direction);
  for (size_t i = 0; i < kSentences && i < goldens.size(); ++i) w.texts.push_back(goldens[i].source);
  w.expected = translate_one_by_one(tr, w);
  return w;
}

// Runs each work item on its own thread with its translator, kRounds times, alternating
// one-sentence calls and one batched call; returns a description of every difference.
std::string run_threads(const std::vector<Work>& works, const std::vector<tusk_translator_t*>& trs) {
  std::vector<std::string> errors(works.size());
  std::atomic<int> ready{0};
  std::vector<std::thread> threads;
  for (size_t t = 0; t < works.size(); ++t) {
    threads.emplace_back([&, t] {
      const Work& w = works[t];
      ready.fetch_add(1);
      while (ready.load() < static_cast<int>(works.size())) std::this_thread::yield();
      try {
        for (int round = 0; round < kRounds; ++round) {
          const std::vector<Hyp> got =
              round % 2 == 0 ? translate_one_by_one(trs[t], w) : translate(trs[t], w.src, w.tgt, w.texts);
          for (size_t i = 0; i < w.texts.size(); ++i) {
            if (got[i].ids != w.expected[i].ids || got[i].text != w.expected[i].text) {
              errors[t] += "thread " + std::to_string(t) + " (" + w.src + "->" + w.tgt +
                           ") round " + std::to_string(round) + " sentence " + std::to_string(i) +
                           ": \"" + got[i].text + "\" != \"" + w.expected[i].text + "\"\n";
            }
          }
        }
      } catch (const std::exception& e) {
        errors[t] += "thread " + std::to_string(t) + ": " + e.what() + "\n";
      }
    });
  }
  for (auto& th : threads) th.join();
  std::string all;
  for (const auto& e : errors) all += e;
  return all;
}

TEST(Threads, TwoTranslatorsShareOneModel) {
  const Options opt = thread_options();
  const Model model = open_model(opt.get());
  const Translator a = make_translator(model.get(), opt.get());
  const Translator b = make_translator(model.get(), opt.get());
  const std::vector<Work> works = {make_work("en-de", a.get()), make_work("fr-en", a.get())};
  const std::string errors = run_threads(works, {a.get(), b.get()});
  EXPECT_TRUE(errors.empty()) << errors;
}

TEST(Threads, TwoThreadsShareOneTranslator) {
  const Options opt = thread_options();
  const Model model = open_model(opt.get());
  const Translator a = make_translator(model.get(), opt.get());
  // Different directions on the two threads: per-call state must not leak between calls.
  const std::vector<Work> works = {make_work("en-de", a.get()), make_work("cs-en", a.get())};
  const std::string errors = run_threads(works, {a.get(), a.get()});
  EXPECT_TRUE(errors.empty()) << errors;
}

// Eight threads on one translator, all six directions among them (tusk.h: calls on one
// translator are serialised), resident and paged through a 25% expert cache with prefetch.
TEST(Threads, EightThreadsShareOneTranslator) {
  const Options opt = thread_options();
  const Model model = open_model(opt.get());
  uint64_t total = 0;
  check(tusk_model_expert_bytes(model.get(), &total, nullptr), "tusk_model_expert_bytes");
  const Options paged = make_options({{TUSK_OPT_THREADS, 1},
                                      {TUSK_OPT_MAX_DECODING_LENGTH, 128},
                                      {TUSK_OPT_EXPERT_BUDGET_BYTES, static_cast<int64_t>(total / 4)}});
  for (const tusk_options_t* o : {opt.get(), paged.get()}) {
    const Translator tr = make_translator(model.get(), o);
    std::vector<Work> works;
    for (int t = 0; t < 8; ++t) works.push_back(make_work(directions()[t % directions().size()], tr.get()));
    const std::string errors = run_threads(works, std::vector<tusk_translator_t*>(8, tr.get()));
    EXPECT_TRUE(errors.empty()) << (o == paged.get() ? "paged: " : "resident: ") << errors;
  }
}

TEST(Threads, TranslatorsCreatedConcurrently) {
  const Options opt = thread_options();
  const Model model = open_model(opt.get());
  std::vector<std::string> errors(2);
  std::vector<std::thread> threads;
  for (size_t t = 0; t < 2; ++t) {
    threads.emplace_back([&, t] {
      try {
        // Options objects belong to one thread at a time (tusk.h), so each thread has its own.
        const Options mine = thread_options();
        for (int i = 0; i < 3; ++i) {
          const Translator tr = make_translator(model.get(), mine.get());
          const auto res = translate(tr.get(), "en", "fr", {"Two dogs play in the snow."});
          if (res.at(0).text.empty()) errors[t] += "empty translation\n";
        }
      } catch (const std::exception& e) {
        errors[t] += e.what();
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(errors[0] + errors[1], "");
}

// The stress run scripts/tsan.sh relies on: 8 threads on 2 translators with expert paging on
// (the smallest budget, so experts load, evict and prefetch while other threads translate),
// $TUSK_STRESS_TRANSLATIONS one-sentence calls in all (default 1000), every output equal to a
// single-threaded run's.
TEST(Threads, StressEightThreadsTwoPagingTranslators) {
  const char* env = std::getenv("TUSK_STRESS_TRANSLATIONS");
  const int total = env != nullptr && *env != '\0' ? std::atoi(env) : 1000;
  constexpr int kThreads = 8;
  const Model model = open_model();
  uint64_t all = 0, largest = 0;
  check(tusk_model_expert_bytes(model.get(), &all, &largest), "tusk_model_expert_bytes");
  const Options opt = make_options({{TUSK_OPT_THREADS, 1}, {TUSK_OPT_MAX_DECODING_LENGTH, 128},
                                    {TUSK_OPT_EXPERT_BUDGET_BYTES, static_cast<int64_t>(largest)}});
  const Translator trs[2] = {make_translator(model.get(), opt.get()), make_translator(model.get(), opt.get())};
  std::vector<Work> works;
  for (const char* d : {"en-de", "de-en", "en-fr", "fr-en"}) works.push_back(make_work(d, trs[0].get()));

  std::atomic<int> next{0};
  std::vector<std::string> errors(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      try {
        for (int i; (i = next.fetch_add(1)) < total;) {
          const Work& w = works[static_cast<size_t>(i) % works.size()];
          const size_t k = static_cast<size_t>(i / static_cast<int>(works.size())) % w.texts.size();
          const Hyp got = translate(trs[t % 2].get(), w.src, w.tgt, {w.texts[k]}).at(0);
          if (got.ids != w.expected[k].ids)
            errors[t] += "call " + std::to_string(i) + " (" + w.src + "->" + w.tgt + "): \"" + got.text +
                         "\" != \"" + w.expected[k].text + "\"\n";
        }
      } catch (const std::exception& e) {
        errors[t] += "thread " + std::to_string(t) + ": " + e.what() + "\n";
      }
    });
  }
  for (auto& th : threads) th.join();
  std::string joined;
  for (const auto& e : errors) joined += e;
  EXPECT_EQ(joined, "");
}

}  // namespace
