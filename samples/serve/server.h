// `tusk serve`'s HTTP server (cpp-httplib): the LibreTranslate-compatible routes in front of
// the batch queue and its translators, /health, /metrics, request limits, backpressure, and
// graceful shutdown on SIGTERM or SIGINT: the listener closes, every request already read
// (in the queue or being translated) is answered, and the process exits. A connection that
// was accepted but whose request no HTTP thread had read yet (more than --http-threads at
// once) is closed unanswered, as a refused connection would be. Only tusk.h.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "batch_queue.h"
#include "libretranslate_api.h"
#include "tusk/tusk.h"

namespace tusk_serve {

struct ServerConfig {
  std::string host = "127.0.0.1";
  int port = 5000;             // 0: any free port (the one chosen is printed)
  size_t http_threads = 128;   // connections served at once (each waiting request holds one;
                               // more wait in the listener's queue, unbounded)
  size_t max_body_bytes = 1 << 20;  // larger bodies get 413
  int retry_after_seconds = 1;      // in 503 answers when the queue is full
  RequestLimits request;
  BatchLimits batch;
  std::vector<std::string> startup_notes;  // logged after the "listening on" line
};

// Blocks SIGTERM and SIGINT in the calling thread and every thread it starts afterwards, so
// that only the server's watcher thread receives them. Call first, before any thread exists.
void block_shutdown_signals();

// Serves with these translators, the pool's and optionally one for lone requests (null for
// none; batch_queue.h's seats), owned from here on, each with TUSK_OPT_PER_SENTENCE_ERRORS
// set, until SIGTERM or SIGINT. Logs to stderr, the first line being "tusk serve: listening
// on http://HOST:PORT". Returns a process exit code.
int serve(const tusk_model_t* model, std::vector<tusk_translator_t*> translators, tusk_translator_t* lone,
          const ServerConfig& config);

}  // namespace tusk_serve
