// Streaming and cancellation through the C ABI: the streamed tokens are the result's, in
// order, ending with a finished event whose text is the result's; a callback that returns
// non-zero and tusk_translator_cancel from another thread both end the call promptly with
// TUSK_ERROR_CANCELLED and no result, and leave the translator usable.
#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "tusk_test_util.h"

namespace {

using namespace tusk_test;

struct Streamed {
  std::map<std::pair<size_t, size_t>, std::vector<int32_t>> tokens;  // (input, sentence) -> tokens
  std::map<std::pair<size_t, size_t>, std::string> final_text;
  int events = 0, cancel_at = -1;
  std::function<void()> on_first;
};

int32_t record(const tusk_token_event_t* e, void* user) {
  auto* s = static_cast<Streamed*>(user);
  EXPECT_GE(e->struct_size, sizeof(tusk_token_event_t));
  const auto key = std::make_pair(e->input, e->sentence);
  EXPECT_TRUE(s->final_text.count(key) == 0) << "an event after the sentence finished";
  s->tokens[key].push_back(e->token);
  if (e->finished) s->final_text[key] = e->text;
  if (s->events++ == 0 && s->on_first) s->on_first();
  return s->events == s->cancel_at ? 1 : 0;
}

std::vector<const char*> pointers(const std::vector<std::string>& texts) {
  std::vector<const char*> p;
  for (const auto& t : texts) p.push_back(t.c_str());
  return p;
}

class Stream : public ::testing::TestWithParam<int> {  // beam size
 protected:
  void SetUp() override {
    model_ = open_model();
    tr_ = make_translator(model_.get(), make_options({{TUSK_OPT_THREADS, test_threads()}, {TUSK_OPT_BEAM_SIZE, GetParam()}}).get());
    texts_ = sources(load_golden("en-de"));
    texts_.resize(12);
  }
  Model model_;
  Translator tr_;
  std::vector<std::string> texts_;
};

TEST_P(Stream, TheStreamedTokensAreTheResult) {
  Streamed s;
  const auto p = pointers(texts_);
  tusk_result_t* raw = nullptr;
  ASSERT_EQ(tusk_translate_stream(tr_.get(), "en", "de", p.data(), p.size(), 0, record, &s, &raw), TUSK_OK)
      << tusk_last_error();
  Result res(raw);
  const std::vector<Hyp> got = copy_result(raw);
  const std::vector<Hyp> plain = translate(tr_.get(), "en", "de", texts_);
  for (size_t i = 0; i < texts_.size(); ++i) {
    EXPECT_EQ(got[i].ids, plain[i].ids) << "streaming changed the translation of " << texts_[i];
    const std::vector<int32_t> generated(got[i].ids.begin() + 1, got[i].ids.end());
    EXPECT_EQ((s.tokens[{i, 0}]), generated) << texts_[i];
    EXPECT_EQ((s.final_text[{i, 0}]), got[i].text);
  }
}

TEST_P(Stream, ACallbackCancels) {
  Streamed s;
  s.cancel_at = 3;
  const auto p = pointers(texts_);
  tusk_result_t* raw = nullptr;
  EXPECT_EQ(tusk_translate_stream(tr_.get(), "en", "de", p.data(), p.size(), 0, record, &s, &raw),
            TUSK_ERROR_CANCELLED);
  EXPECT_EQ(raw, nullptr);
  EXPECT_EQ(s.events, 3);  // nothing after the cancel
  EXPECT_EQ(translate(tr_.get(), "en", "de", texts_).size(), texts_.size());  // still usable
}

TEST_P(Stream, AnotherThreadCancels) {
  std::vector<std::string> many;
  for (int r = 0; r < 20; ++r) many.insert(many.end(), texts_.begin(), texts_.end());
  const auto p = pointers(many);
  std::mutex m;
  std::condition_variable cv;
  bool started = false;
  Streamed s;
  s.on_first = [&] {
    std::lock_guard<std::mutex> lock(m);
    started = true;
    cv.notify_all();
  };
  tusk_status_t status = TUSK_OK;
  tusk_result_t* raw = nullptr;
  std::thread worker([&] { status = tusk_translate_stream(tr_.get(), "en", "de", p.data(), p.size(), 0, record, &s, &raw); });
  {
    std::unique_lock<std::mutex> lock(m);
    cv.wait(lock, [&] { return started; });
  }
  EXPECT_EQ(tusk_translator_cancel(tr_.get()), TUSK_OK);
  worker.join();
  EXPECT_EQ(status, TUSK_ERROR_CANCELLED);
  EXPECT_EQ(raw, nullptr);
  EXPECT_EQ(translate(tr_.get(), "en", "de", texts_).size(), texts_.size());  // later calls run
  EXPECT_EQ(tusk_translator_cancel(nullptr), TUSK_ERROR_INVALID_ARGUMENT);
}

INSTANTIATE_TEST_SUITE_P(Search, Stream, ::testing::Values(1, 4),
                         [](const ::testing::TestParamInfo<int>& info) { return "beam" + std::to_string(info.param); });

TEST(StreamText, EventsNameTheTextAndItsSentence) {
  Model model = open_model();
  Translator tr = make_translator(model.get(), make_options({{TUSK_OPT_THREADS, test_threads()}}).get());
  const std::vector<std::string> texts{"A dog runs. A cat sleeps.", "Two men play soccer."};
  const auto p = pointers(texts);
  Streamed s;
  tusk_result_t* raw = nullptr;
  ASSERT_EQ(tusk_translate_stream(tr.get(), "en", "de", p.data(), p.size(), 1, record, &s, &raw), TUSK_OK);
  Result res(raw);
  const std::vector<Hyp> got = copy_result(raw);
  const std::vector<Hyp> sentences = translate(tr.get(), "en", "de", {"A dog runs.", "A cat sleeps.", "Two men play soccer."});
  EXPECT_EQ(s.final_text.size(), 3u);
  EXPECT_EQ((s.final_text[{0, 0}]), sentences[0].text);
  EXPECT_EQ((s.final_text[{0, 1}]), sentences[1].text);
  EXPECT_EQ((s.final_text[{1, 0}]), sentences[2].text);
  EXPECT_EQ(got[0].text, sentences[0].text + " " + sentences[1].text);
  EXPECT_EQ(tusk_translate_stream(tr.get(), "en", "de", p.data(), p.size(), 1, nullptr, nullptr, &raw),
            TUSK_ERROR_INVALID_ARGUMENT);
}

}  // namespace
