// Translators that serve the batch queue: one thread each, all sharing one model. A thread
// takes the next due batch for its seat (batch_queue.h: the pool's, or the lone request's),
// translates its texts in one tusk_translate_text call (per-text errors on, so one bad text
// fails only its own request), and hands each request its own results. With continuous
// batching a pool thread instead runs tusk_translate_continuous: the batch it takes when idle,
// then requests taken as the decode has room, each answered as soon as its texts are done.
// Only tusk.h.
#pragma once

#include <thread>
#include <vector>

#include "batch_queue.h"
#include "metrics.h"
#include "tusk/tusk.h"

namespace tusk_serve {

class TranslatorPool {
 public:
  // Takes ownership of the translators (the pool's, and the Lone seat's or null); they must
  // have TUSK_OPT_PER_SENTENCE_ERRORS set. A lone translator needs a queue with lone_seat set.
  TranslatorPool(std::vector<tusk_translator_t*> translators, tusk_translator_t* lone, BatchQueue& queue,
                 Metrics& metrics);
  // Closes the queue, lets the threads finish what is queued, and frees the translators.
  ~TranslatorPool();
  TranslatorPool(const TranslatorPool&) = delete;
  TranslatorPool& operator=(const TranslatorPool&) = delete;

  // Each translator's expert-cache counters now (thread-safe while they translate).
  std::vector<tusk_stats_t> stats() const;

 private:
  void stop();
  void serve(tusk_translator_t* translator, Seat seat);
  void translate(tusk_translator_t* translator, const std::vector<std::shared_ptr<Job>>& batch);
  void serve_continuously(tusk_translator_t* translator);

  std::vector<tusk_translator_t*> translators_;  // the pool's, then the lone one if any
  BatchQueue& queue_;
  Metrics& metrics_;
  std::vector<std::thread> threads_;
};

// The HTTP status for one text's failure: the request's fault (400) or the server's (500).
int http_status_of(tusk_status_t status);

}  // namespace tusk_serve
