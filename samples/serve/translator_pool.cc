#include "translator_pool.h"

#include <atomic>
#include <deque>
#include <exception>
#include <map>
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
  pool_size_ = pool;
  loads_ = std::make_unique<std::atomic<size_t>[]>(pool);
  for (size_t i = 0; i < pool; ++i) loads_[i] = 0;
  if (lone != nullptr) translators_.push_back(lone);
  try {
    for (size_t i = 0; i < translators_.size(); ++i) {
      tusk_translator_t* t = translators_[i];
      const Seat seat = i < pool ? Seat::Pool : Seat::Lone;
      threads_.emplace_back([this, t, seat, i] { serve(t, seat, i); });
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

void TranslatorPool::serve(tusk_translator_t* translator, Seat seat, size_t index) {
  if (seat == Seat::Pool && queue_.limits().continuous) return serve_continuously(translator, index);
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

namespace {

// One pool thread's side of tusk_translate_continuous: its requests in flight by id, and the
// batch it took when it last went idle (handed to the library one request a pull).
struct ContinuousSession {
  BatchQueue& queue;
  Metrics& metrics;
  std::atomic<size_t>* loads;  // every pool translator's texts in flight
  size_t pool, index;          // how many, and which is this one
  std::deque<std::shared_ptr<Job>> taken;
  struct InFlight {
    std::shared_ptr<Job> job;
    std::vector<const char*> texts;
    Clock::time_point started;
  };
  std::map<uint64_t, InFlight> in_flight;
  uint64_t next_id = 0;
  size_t texts_in_flight = 0;
  bool busy = false;  // between next_batch() and batch_done()

  // No other pool translator has fewer texts in flight (an idle one has none).
  bool least_loaded() const {
    for (size_t i = 0; i < pool; ++i)
      if (loads[i] < texts_in_flight) return false;
    return true;
  }

  static int32_t pull(void* user, int32_t idle, tusk_request_t* request) {
    auto* s = static_cast<ContinuousSession*>(user);
    if (s->taken.empty()) {
      if (idle) {  // nothing in flight: done with the batch, wait for the next
        if (s->busy) s->queue.batch_done(Seat::Pool);
        s->busy = false;
        const std::vector<std::shared_ptr<Job>> batch = s->queue.next_batch(Seat::Pool);
        if (batch.empty()) return 0;  // closed and drained: tusk_translate_continuous returns
        s->busy = true;
        s->taken.assign(batch.begin(), batch.end());
      } else if (!s->least_loaded()) {
        return 0;  // a less loaded translator takes it (each asks every decoding step)
      } else if (std::shared_ptr<Job> job = s->queue.take_now()) {
        s->taken.push_back(std::move(job));
      } else {
        return 0;
      }
    }
    InFlight& f = s->in_flight[s->next_id];
    f.job = std::move(s->taken.front());
    s->taken.pop_front();
    for (const std::string& text : f.job->texts) f.texts.push_back(text.c_str());
    f.started = Clock::now();
    s->texts_in_flight += f.texts.size();
    s->loads[s->index] = s->texts_in_flight;
    request->id = s->next_id++;
    request->src = f.job->source.c_str();
    request->tgt = f.job->target.c_str();
    request->texts = f.texts.data();
    request->count = f.texts.size();
    return 1;
  }

  static void deliver(void* user, uint64_t id, tusk_status_t status, const char* error, tusk_result_t* raw) {
    auto* s = static_cast<ContinuousSession*>(user);
    const std::unique_ptr<tusk_result_t, void (*)(tusk_result_t*)> result(raw, tusk_result_free);
    const auto it = s->in_flight.find(id);
    if (it == s->in_flight.end()) return;
    const std::shared_ptr<Job> job = std::move(it->second.job);
    // Batch sizes as the texts translated together when this request finished.
    s->metrics.request_done_continuously(job->texts.size(), s->texts_in_flight, s->in_flight.size(),
                                         std::chrono::duration<double>(Clock::now() - it->second.started).count());
    s->texts_in_flight -= job->texts.size();
    s->loads[s->index] = s->texts_in_flight;
    s->in_flight.erase(it);
    Job::Outcome outcome;
    if (status != TUSK_OK) {
      outcome.http_status = http_status_of(status);
      outcome.error = error != nullptr && error[0] != '\0' ? error : tusk_status_name(status);
      job->complete(std::move(outcome));
      return;
    }
    outcome.ok = true;
    const size_t count = tusk_result_count(raw);
    for (size_t i = 0; i < job->texts.size(); ++i) {
      const tusk_status_t text_status = i < count ? tusk_result_status(raw, i) : TUSK_ERROR_INTERNAL;
      if (text_status != TUSK_OK) {
        outcome.ok = false;
        outcome.http_status = http_status_of(text_status);
        const char* text_error = i < count ? tusk_result_error(raw, i) : "missing from the library's result";
        outcome.error = "text " + std::to_string(i + 1) + ": " + (text_error != nullptr ? text_error : tusk_status_name(text_status));
        outcome.texts.clear();
        break;
      }
      outcome.texts.emplace_back(tusk_result_text(raw, i));
    }
    job->complete(std::move(outcome));
  }
};

}  // namespace

// Runs tusk_translate_continuous until the queue is closed and drained; after a failed call
// (its requests were answered with the error) it starts again.
void TranslatorPool::serve_continuously(tusk_translator_t* translator, size_t index) {
  ContinuousSession session{queue_, metrics_, loads_.get(), pool_size_, index, {}, {}, 0, 0, false};
  for (;;) {
    tusk_status_t status = TUSK_ERROR_INTERNAL;
    try {
      status = tusk_translate_continuous(translator, ContinuousSession::pull, ContinuousSession::deliver, &session);
    } catch (const std::exception& e) {  // out of memory in a callback: fail what is in flight
      for (auto& [id, f] : session.in_flight) fail_all({f.job}, 500, std::string("server error: ") + e.what());
    }
    // Anything the library did not answer (it answers every request it pulled) and the rest
    // of the batch taken fail with the call's error.
    for (auto& [id, f] : session.in_flight) fail_all({f.job}, status == TUSK_ERROR_CANCELLED ? 503 : 500, last_error(status));
    session.in_flight.clear();
    session.texts_in_flight = 0;
    loads_[index] = 0;
    if (status == TUSK_OK && session.taken.empty()) break;  // closed and drained
    if (status == TUSK_OK) continue;
    fail_all({session.taken.begin(), session.taken.end()}, status == TUSK_ERROR_CANCELLED ? 503 : 500,
             last_error(status));
    session.taken.clear();
  }
  if (session.busy) queue_.batch_done(Seat::Pool);
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
