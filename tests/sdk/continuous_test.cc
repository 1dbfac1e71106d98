// tusk_translate_continuous (continuous batching): requests arriving at different decoding
// steps, mixed language pairs and multi-sentence texts get tusk_translate_text's translations
// (texts and tokens equal); room limits, per-request errors, beam refusal and cancellation.
#include <gtest/gtest.h>

#include <map>
#include <random>
#include <string>
#include <vector>

#include "tusk_test_util.h"

namespace {

using namespace tusk_test;

struct Request {
  std::string src, tgt;
  std::vector<std::string> texts;
  int arrival = 0;  // the pull call from which it is ready
};

struct Delivered {
  tusk_status_t status = TUSK_OK;
  std::string error;
  std::vector<Hyp> results;
  int count = 0;  // deliveries (must end as 1)
};

// Hands out requests as their arrival comes (counted in pull calls, about one a decoding
// step), and records what is delivered.
struct Feeder {
  std::vector<Request> requests;
  std::vector<const char*> ptrs;  // the current request's texts
  size_t next = 0;
  int pulls = 0;
  int idle_pulls = 0;
  std::map<uint64_t, Delivered> delivered;
  tusk_translator_t* cancel_after_first = nullptr;  // cancels on the first delivery

  static int32_t pull(void* user, int32_t idle, tusk_request_t* out) {
    auto* f = static_cast<Feeder*>(user);
    ++f->pulls;
    f->idle_pulls += idle != 0;
    if (f->next == f->requests.size()) return 0;
    Request& r = f->requests[f->next];
    if (!idle && r.arrival > f->pulls) return 0;  // not yet (idle: a blocking pull would wait)
    EXPECT_EQ(out->struct_size, sizeof(tusk_request_t));
    f->ptrs.clear();
    for (const std::string& t : r.texts) f->ptrs.push_back(t.c_str());
    out->id = 1000 + f->next;
    out->src = r.src.c_str();
    out->tgt = r.tgt.c_str();
    out->texts = f->ptrs.data();
    out->count = f->ptrs.size();
    ++f->next;
    return 1;
  }

  static void deliver(void* user, uint64_t id, tusk_status_t status, const char* error, tusk_result_t* result) {
    auto* f = static_cast<Feeder*>(user);
    Delivered& d = f->delivered[id];
    ++d.count;
    d.status = status;
    d.error = error ? error : "";
    if (result != nullptr) {
      d.results = copy_result(result);
      tusk_result_free(result);
    }
    if (f->cancel_after_first) tusk_translator_cancel(f->cancel_after_first);
  }

  tusk_status_t run(tusk_translator_t* tr) { return tusk_translate_continuous(tr, pull, deliver, this); }
};

std::vector<Hyp> translate_text(tusk_translator_t* tr, const Request& r) {
  std::vector<const char*> ptrs;
  for (const std::string& t : r.texts) ptrs.push_back(t.c_str());
  tusk_result_t* raw = nullptr;
  check(tusk_translate_text(tr, r.src.c_str(), r.tgt.c_str(), ptrs.data(), ptrs.size(), &raw), "tusk_translate_text");
  Result res(raw);
  return copy_result(raw);
}

// Requests of one or two golden sentences (and a two-sentence text now and then) from every
// direction, arriving a few steps apart.
std::vector<Request> golden_requests(size_t per_direction, unsigned seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> gap(0, 4);
  std::vector<Request> out;
  int arrival = 0;
  for (size_t i = 0; i < per_direction; ++i)
    for (const std::string& direction : directions()) {
      const std::vector<Golden> goldens = load_golden(direction);
      const auto [src, tgt] = split_direction(direction);
      Request r{src, tgt, {goldens[i % goldens.size()].source}, arrival += gap(rng)};
      if (i % 3 == 1) r.texts.push_back(goldens[(i + 7) % goldens.size()].source);
      if (i % 4 == 2) r.texts.back() += " " + goldens[(i + 11) % goldens.size()].source;  // two sentences
      out.push_back(std::move(r));
    }
  return out;
}

void expect_same_as_translate_text(std::initializer_list<IntOption> ints,
                                   std::initializer_list<std::pair<tusk_option_t, double>> floats,
                                   size_t per_direction) {
  Model model = open_model();
  Options options = make_options(ints, floats);
  Translator tr = make_translator(model.get(), options.get());
  Feeder feeder;
  feeder.requests = golden_requests(per_direction, 7);
  ASSERT_EQ(feeder.run(tr.get()), TUSK_OK) << tusk_last_error();
  ASSERT_EQ(feeder.delivered.size(), feeder.requests.size());
  for (size_t i = 0; i < feeder.requests.size(); ++i) {
    const Delivered& d = feeder.delivered[1000 + i];
    EXPECT_EQ(d.count, 1);
    ASSERT_EQ(d.status, TUSK_OK) << d.error;
    const std::vector<Hyp> expected = translate_text(tr.get(), feeder.requests[i]);
    ASSERT_EQ(d.results.size(), expected.size());
    for (size_t t = 0; t < expected.size(); ++t) {
      EXPECT_EQ(d.results[t].text, expected[t].text) << "request " << i << " text " << t;
      EXPECT_EQ(d.results[t].ids, expected[t].ids) << "request " << i << " text " << t;
      // Products of another batch shape round differently: the same tokens, log-probabilities
      // to float rounding (as between any two batch compositions).
      ASSERT_EQ(d.results[t].logprobs.size(), expected[t].logprobs.size());
      for (size_t k = 0; k < expected[t].logprobs.size(); ++k)
        EXPECT_NEAR(d.results[t].logprobs[k], expected[t].logprobs[k], 1e-3) << "request " << i << " text " << t;
    }
  }
}

TEST(Continuous, SameAsTranslateTextWithTheDefaults) {
  expect_same_as_translate_text({{TUSK_OPT_THREADS, test_threads()}, {TUSK_OPT_MAX_BATCH_SIZE, 8}}, {}, 8);
}

// The guards and a minimum length act per row (each sentence at its own length).
TEST(Continuous, SameAsTranslateTextWithGuardsAndMinimumLength) {
  expect_same_as_translate_text({{TUSK_OPT_THREADS, 2},
                                 {TUSK_OPT_MAX_BATCH_SIZE, 16},
                                 {TUSK_OPT_NO_REPEAT_NGRAM_SIZE, 2},
                                 {TUSK_OPT_MIN_DECODING_LENGTH, 6},
                                 {TUSK_OPT_MAX_LENGTH_OFFSET, 3}},
                                {{TUSK_OPT_REPETITION_PENALTY, 1.3}, {TUSK_OPT_MAX_LENGTH_RATIO, 1.0}}, 4);
}

// One sentence at a time (a batch of one): still everything, in arrival order.
TEST(Continuous, OneSentenceOfRoom) {
  expect_same_as_translate_text({{TUSK_OPT_THREADS, test_threads()}, {TUSK_OPT_MAX_BATCH_SIZE, 1}}, {}, 2);
}

// Few source tokens of room: sentences wait for it, one always goes.
TEST(Continuous, SourceTokenRoom) {
  expect_same_as_translate_text({{TUSK_OPT_THREADS, test_threads()}, {TUSK_OPT_MAX_BATCH_TOKENS, 20}}, {}, 2);
}

TEST(Continuous, BadRequestsAreAnsweredAloneAndTheRestTranslated) {
  Model model = open_model();
  Options options = make_options({{TUSK_OPT_THREADS, test_threads()}});
  Translator tr = make_translator(model.get(), options.get());
  Feeder feeder;
  feeder.requests = {{"en", "de", {"A dog runs."}, 0},
                     {"en", "xx", {"A dog runs."}, 0},
                     {"en", "de", {}, 1},
                     {"en", "de", {"Two men talk.", ""}, 2},
                     {"en", "de", {"bad \xC3\x28 byte"}, 2}};
  ASSERT_EQ(feeder.run(tr.get()), TUSK_OK) << tusk_last_error();
  ASSERT_EQ(feeder.delivered.size(), 5u);
  EXPECT_EQ(feeder.delivered[1000].status, TUSK_OK);
  EXPECT_EQ(feeder.delivered[1001].status, TUSK_ERROR_UNKNOWN_LANGUAGE);
  EXPECT_NE(feeder.delivered[1001].error.find("xx"), std::string::npos) << feeder.delivered[1001].error;
  EXPECT_EQ(feeder.delivered[1002].status, TUSK_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(feeder.delivered[1003].status, TUSK_OK);
  ASSERT_EQ(feeder.delivered[1003].results.size(), 2u);
  EXPECT_EQ(feeder.delivered[1003].results[1].text, "");
  EXPECT_EQ(feeder.delivered[1004].status, TUSK_ERROR_INVALID_ARGUMENT);  // per-sentence errors off
  for (const auto& [id, d] : feeder.delivered) EXPECT_EQ(d.count, 1) << id;
}

TEST(Continuous, RefusesBeamSearchAndNullArguments) {
  Model model = open_model();
  Options options = make_options({{TUSK_OPT_THREADS, test_threads()}, {TUSK_OPT_BEAM_SIZE, 2}});
  Translator tr = make_translator(model.get(), options.get());
  Feeder feeder;
  feeder.requests = {{"en", "de", {"A dog runs."}, 0}};
  EXPECT_EQ(feeder.run(tr.get()), TUSK_ERROR_INVALID_ARGUMENT);
  EXPECT_NE(std::string(tusk_last_error()).find("greedy"), std::string::npos) << tusk_last_error();
  EXPECT_TRUE(feeder.delivered.empty());  // nothing was pulled
  EXPECT_EQ(tusk_translate_continuous(nullptr, Feeder::pull, Feeder::deliver, &feeder), TUSK_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(tusk_translate_continuous(tr.get(), nullptr, Feeder::deliver, &feeder), TUSK_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(tusk_translate_continuous(tr.get(), Feeder::pull, nullptr, &feeder), TUSK_ERROR_INVALID_ARGUMENT);
}

// A request with NULLs is answered by the C layer, and the next one still comes.
TEST(Continuous, ARequestWithNullsIsAnsweredAlone) {
  Model model = open_model();
  Options options = make_options({{TUSK_OPT_THREADS, test_threads()}});
  Translator tr = make_translator(model.get(), options.get());
  struct Pulls {
    int calls = 0;
    const char* texts[1] = {nullptr};
    const char* good[1] = {"A dog runs."};
    std::map<uint64_t, tusk_status_t> delivered;
  } pulls;
  const auto pull = [](void* user, int32_t, tusk_request_t* request) -> int32_t {
    auto* p = static_cast<Pulls*>(user);
    switch (p->calls++) {
      case 0: *request = {request->struct_size, 1, "en", "de", p->texts, 1}; return 1;  // a NULL text
      case 1: *request = {request->struct_size, 2, nullptr, "de", p->good, 1}; return 1;  // a NULL src
      case 2: *request = {request->struct_size, 3, "en", "de", p->good, 1}; return 1;
      default: return 0;
    }
  };
  const auto deliver = [](void* user, uint64_t id, tusk_status_t status, const char*, tusk_result_t* result) {
    static_cast<Pulls*>(user)->delivered[id] = status;
    tusk_result_free(result);
  };
  ASSERT_EQ(tusk_translate_continuous(tr.get(), pull, deliver, &pulls), TUSK_OK) << tusk_last_error();
  EXPECT_EQ(pulls.delivered[1], TUSK_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(pulls.delivered[2], TUSK_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(pulls.delivered[3], TUSK_OK);
}

// A cancel fails every request in flight (each told once) and the call; the translator works on.
TEST(Continuous, CancelDeliversTheErrorToEveryRequestInFlight) {
  Model model = open_model();
  Options options = make_options({{TUSK_OPT_THREADS, test_threads()}});
  Translator tr = make_translator(model.get(), options.get());
  Feeder feeder;
  feeder.requests = golden_requests(3, 11);
  feeder.cancel_after_first = tr.get();
  EXPECT_EQ(feeder.run(tr.get()), TUSK_ERROR_CANCELLED);
  size_t cancelled = 0;
  for (const auto& [id, d] : feeder.delivered) {
    EXPECT_EQ(d.count, 1) << id;
    cancelled += d.status == TUSK_ERROR_CANCELLED;
  }
  EXPECT_EQ(feeder.delivered.size(), feeder.next);  // every request pulled was answered
  EXPECT_GT(cancelled, 0u);
  Feeder again;
  again.requests = {{"en", "de", {"A dog runs."}, 0}};
  ASSERT_EQ(again.run(tr.get()), TUSK_OK) << tusk_last_error();
  EXPECT_EQ(again.delivered[1000].status, TUSK_OK);
}

}  // namespace
