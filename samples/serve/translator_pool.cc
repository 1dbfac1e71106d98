#include "translator_pool.h"

#include <exception>
#include <memory>
#include <string>
#include <utility>

namespace tusk_serve {

namespace {

std::string last_error(tusk_status_t status) {
  const char* message = tusk_last_error();
  if (message != nullptr && message[0] != '\0') return message;
  return std::string("translation failed with ") + tusk_status_name(status);
}

void fail_all(const std::vector<std::shared_ptr<Job>>& batch, int http_status, const std::string& error) {
  for (const auto& job : batch) {
    Job::Outcome outcome;
    outcome.http_status = http_status;
    outcome.error = error;
    job->complete(std::move(outcome));
  }
}

}  // namespace

int http_status_of(tusk_status_t status) {
  switch (status) {
    case TUSK_ERROR_INVALID_ARGUMENT:
    case TUSK_ERROR_UNKNOWN_LANGUAGE:
    case TUSK_ERROR_INPUT_TOO_LONG:
      return 400;
    case TUSK_ERROR_CANCELLED:
      return 503;
    default:
      return 500;
  }
}

TranslatorPool::TranslatorPool(std::vector<tusk_translator_t*> translators, tusk_translator_t* lone, BatchQueue& queue,
                               Metrics& metrics)
    : translators_(std::move(translators)), queue_(queue), metrics_(metrics) {
  const size_t pool = translators_.size();
  if (lone != nullptr) translators_.push_back(lone);
  try {
    for (size_t i = 0; i < translators_.size(); ++i) {
      tusk_translator_t* t = translators_[i];
      const Seat seat = i < pool ? Seat::Pool : Seat::Lone;
      threads_.emplace_back([this, t, seat] { serve(t, seat); });
    }
  } catch (...) {  // out of threads: stop the ones started, free everything, report
    stop();
    throw;
  }
}

TranslatorPool::~TranslatorPool() { stop(); }

void TranslatorPool::stop() {
  queue_.close();
  for (std::thread& t : threads_) t.join();
  threads_.clear();
  for (tusk_translator_t* t : translators_) tusk_translator_destroy(t);
  translators_.clear();
}

std::vector<tusk_stats_t> TranslatorPool::stats() const {
  std::vector<tusk_stats_t> out;
  for (const tusk_translator_t* t : translators_) {
    tusk_stats_t s{};
    s.struct_size = sizeof s;
    if (tusk_translator_stats(t, &s) == TUSK_OK) out.push_back(s);
  }
  return out;
}

void TranslatorPool::serve(tusk_translator_t* translator, Seat seat) {
  for (;;) {
    const std::vector<std::shared_ptr<Job>> batch = queue_.next_batch(seat);
    if (batch.empty()) return;  // closed and drained
    try {
      translate(translator, batch);
    } catch (const std::exception& e) {  // out of memory: these requests fail, the server goes on
      fail_all(batch, 500, std::string("server error: ") + e.what());
    }
    queue_.batch_done(seat);
  }
}

void TranslatorPool::translate(tusk_translator_t* translator, const std::vector<std::shared_ptr<Job>>& batch) {
  std::vector<const char*> texts;
  for (const auto& job : batch)
    for (const std::string& text : job->texts) texts.push_back(text.c_str());
  const Job& first = *batch.front();
  const Clock::time_point start = Clock::now();
  tusk_result_t* raw = nullptr;
  const tusk_status_t status =
      tusk_translate_text(translator, first.source.c_str(), first.target.c_str(), texts.data(), texts.size(), &raw);
  metrics_.batch_done(texts.size(), batch.size(), std::chrono::duration<double>(Clock::now() - start).count());
  // The server checked each request's languages and text before queueing it, and per-text
  // errors are on: a failure of the whole call is the server's (503 when cancelled).
  if (status != TUSK_OK) {
    fail_all(batch, status == TUSK_ERROR_CANCELLED ? 503 : 500, last_error(status));
    return;
  }
  const std::unique_ptr<tusk_result_t, void (*)(tusk_result_t*)> result(raw, tusk_result_free);
  if (tusk_result_count(raw) != texts.size()) {
    fail_all(batch, 500, "the library returned " + std::to_string(tusk_result_count(raw)) + " results for " +
                             std::to_string(texts.size()) + " texts");
    return;
  }
  size_t next = 0;
  for (const auto& job : batch) {
    Job::Outcome outcome;
    outcome.ok = true;
    for (size_t i = 0; i < job->texts.size(); ++i, ++next) {
      const tusk_status_t text_status = tusk_result_status(raw, next);
      if (text_status != TUSK_OK && outcome.ok) {
        outcome.ok = false;
        outcome.http_status = http_status_of(text_status);
        const char* error = tusk_result_error(raw, next);
        outcome.error = "text " + std::to_string(i + 1) + ": " + (error != nullptr ? error : tusk_status_name(text_status));
        outcome.texts.clear();
      }
      if (outcome.ok) outcome.texts.emplace_back(tusk_result_text(raw, next));
    }
    job->complete(std::move(outcome));
  }
}

}  // namespace tusk_serve
