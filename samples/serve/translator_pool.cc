#include "translator_pool.h"

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
  if (seat == Seat::Pool && queue_.limits().continuous) return serve_continuously(translator);
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
// batch it took when it last went idle (handed to the library one request a pull). The
// callbacks never throw (they run inside the library): a failure answers the request it
// concerns with a 500.
struct ContinuousSession {
  BatchQueue& queue;
  Metrics& metrics;
  std::deque<std::shared_ptr<Job>> taken;
  struct InFlight {
    std::shared_ptr<Job> job;
    std::vector<const char*> texts;
    Clock::time_point started;
  };
  std::map<uint64_t, InFlight> in_flight;
  uint64_t next_id = 0;
  size_t texts_in_flight = 0;
  size_t pulled = 0;  // requests handed to the library by the current call
  bool busy = false;  // between next_batch() and batch_done()

  // The next job: what is left of the batch taken, else (idle) the next batch, waiting for
  // it, or (busy) a queued request if any. Null: none now, or (idle) closed and drained.
  std::shared_ptr<Job> next_job(bool idle) {
    if (taken.empty()) {
      if (idle) {  // nothing in flight: done with the batch, wait for the next
        if (busy) queue.batch_done(Seat::Pool);
        busy = false;
        const std::vector<std::shared_ptr<Job>> batch = queue.next_batch(Seat::Pool);
        if (batch.empty()) return nullptr;
        busy = true;
        taken.assign(batch.begin(), batch.end());
      } else {
        return queue.take_now();
      }
    }
    std::shared_ptr<Job> job = std::move(taken.front());
    taken.pop_front();
    return job;
  }

  static int32_t pull(void* user, int32_t idle, tusk_request_t* request) noexcept {
    auto* s = static_cast<ContinuousSession*>(user);
    for (;;) {
      std::shared_ptr<Job> job;
      try {
        job = s->next_job(idle != 0);
        if (!job) return 0;  // (idle: closed and drained, tusk_translate_continuous returns)
        InFlight& f = s->in_flight[s->next_id];
        f.job = job;
        for (const std::string& text : job->texts) f.texts.push_back(text.c_str());
        f.started = Clock::now();
        s->texts_in_flight += f.texts.size();
        ++s->pulled;
        request->id = s->next_id++;
        request->src = job->source.c_str();
        request->tgt = job->target.c_str();
        request->texts = f.texts.data();
        request->count = f.texts.size();
        return 1;
      } catch (const std::exception& e) {  // out of memory: this request fails, the next is taken
        s->in_flight.erase(s->next_id);
        if (job) fail_all({job}, 500, std::string("server error: ") + e.what());
      }
    }
  }

  static void deliver(void* user, uint64_t id, tusk_status_t status, const char* error, tusk_result_t* raw) noexcept {
    auto* s = static_cast<ContinuousSession*>(user);
    const std::unique_ptr<tusk_result_t, void (*)(tusk_result_t*)> result(raw, tusk_result_free);
    const auto it = s->in_flight.find(id);
    if (it == s->in_flight.end()) return;
    const std::shared_ptr<Job> job = it->second.job;
    try {
      // Batch sizes as the texts translated together when this request finished.
      s->metrics.request_done_continuously(job->texts.size(), s->texts_in_flight, s->in_flight.size(),
                                           std::chrono::duration<double>(Clock::now() - it->second.started).count());
      job->complete(outcome_of(*job, status, error, raw));
    } catch (const std::exception& e) {
      fail_all({job}, 500, std::string("server error: ") + e.what());
    }
    s->texts_in_flight -= job->texts.size();
    s->in_flight.erase(it);
  }

  static Job::Outcome outcome_of(const Job& job, tusk_status_t status, const char* error, const tusk_result_t* raw) {
    Job::Outcome outcome;
    if (status != TUSK_OK) {
      outcome.http_status = http_status_of(status);
      outcome.error = error != nullptr && error[0] != '\0' ? error : tusk_status_name(status);
      return outcome;
    }
    outcome.ok = true;
    const size_t count = tusk_result_count(raw);
    for (size_t i = 0; i < job.texts.size(); ++i) {
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
    return outcome;
  }
};

}  // namespace

// Runs tusk_translate_continuous until the queue is closed and drained. A failed call has
// answered the requests it pulled with its error; the rest of the batch taken gets it too.
// A call that failed before pulling anything would fail the same way again: the next batch is
// answered with its error instead, so the thread never spins and shutdown still drains the
// queue. (A model file changed on disk fails each request inside the library, not the call.)
void TranslatorPool::serve_continuously(tusk_translator_t* translator) {
  ContinuousSession session{queue_, metrics_, {}, {}, 0, 0, 0, false};
  for (;;) {
    session.pulled = 0;
    const tusk_status_t status =
        tusk_translate_continuous(translator, ContinuousSession::pull, ContinuousSession::deliver, &session);
    if (status == TUSK_OK) break;  // closed and drained
    const int http = status == TUSK_ERROR_CANCELLED ? 503 : 500;
    const std::string error = last_error(status);
    for (auto& [id, f] : session.in_flight) fail_all({f.job}, http, error);  // the library answers them; never twice
    session.in_flight.clear();
    session.texts_in_flight = 0;
    fail_all({session.taken.begin(), session.taken.end()}, http, error);
    session.taken.clear();
    if (session.pulled > 0) continue;
    if (session.busy) queue_.batch_done(Seat::Pool);
    session.busy = false;
    const std::vector<std::shared_ptr<Job>> batch = queue_.next_batch(Seat::Pool);
    if (batch.empty()) return;
    fail_all(batch, http, error);
    queue_.batch_done(Seat::Pool);
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
