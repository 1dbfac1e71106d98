// Dynamic batching for the server: requests wait here until a translator takes them, grouped
// by language pair into one library call of up to max_texts texts and max_chars bytes. A
// request alone (every translator idle, and the last batch a single request) starts at once:
// waiting would only add latency. Otherwise requests are evidently arriving together, and the
// oldest waits up to max_wait (from its arrival) for others to join it; under load that has
// passed by the time a translator is free, and each call takes what queued during the last
// one, shared evenly when several translators are free at once (8 requests and 2 idle
// translators: 4 each, not 8 on one and none on the other) (waiting longer for bigger batches was measured slower: bench/serve_load.py). The
// queue is bounded (in texts) so that a flood gets a quick "busy" instead of unbounded memory
// and latency.
//
// Continuous batching (BatchLimits::continuous): a pool translator takes a batch as above when
// idle, and while it translates, take_now() hands it one more queued request whenever its
// decode has room, so requests join a running batch instead of waiting for it to drain.
//
// Seats. Every translator of the pool takes batches from a Pool seat. A server may add one
// translator on the Lone seat (typically with every core as intra-op threads, the pool's
// translators one core each): it takes a request that arrives alone (nothing running, nothing
// else queued, the last batch a single request), and while it runs the pool waits, as it
// waits for the pool: a lone request gets every core, concurrent requests a translator per
// core, and the cores are never oversubscribed. No HTTP, no library: plain data and threads,
// so its rules are testable alone.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace tusk_serve {

using Clock = std::chrono::steady_clock;

// One request's texts, and what becomes of them.
struct Job {
  struct Outcome {
    bool ok = false;
    int http_status = 200;           // of a failure: 400 for the request's fault, 500 or 503 else
    std::string error;               // when !ok
    std::vector<std::string> texts;  // when ok: one translation per input text, in order
  };

  std::string source, target;  // canonical language codes
  std::vector<std::string> texts;
  size_t chars = 0;  // bytes of all texts, the batch limit's measure
  Clock::time_point enqueued{};
  std::function<void(Outcome)> on_done;  // from a translator's thread, through complete()

  // Delivers the outcome; only the first call counts, so a failure after some jobs of a batch
  // were answered cannot answer them twice.
  void complete(Outcome outcome) {
    if (!completed_.exchange(true)) on_done(std::move(outcome));
  }

 private:
  std::atomic<bool> completed_{false};
};

struct BatchLimits {
  bool batching = true;    // false: each call takes one request (the baseline for benchmarks)
  size_t max_texts = 32;   // texts per library call (a bigger request still goes whole)
  size_t max_chars = 16384;
  std::chrono::microseconds max_wait{5000};  // how long the oldest waits for company (see above)
  size_t capacity_texts = 1024;              // queued texts before push() answers Full
  bool lone_seat = false;  // a translator takes the Lone seat (see above): the pool leaves it lone requests
  // Pool translators batch continuously (tusk_translate_continuous): each takes a batch when
  // idle, then more requests with take_now() as its running decode has room.
  bool continuous = false;
};

enum class Seat { Pool, Lone };

class BatchQueue {
 public:
  enum class Push { Accepted, Full, Closed };

  explicit BatchQueue(BatchLimits limits) : limits_(limits) {}

  // Queues a job unless the queue is closed or would hold more than capacity_texts texts (a
  // job alone larger than the capacity is still taken when the queue is empty).
  Push push(std::shared_ptr<Job> job);

  // Blocks until a batch is due for this seat: jobs of the oldest job's language pair, oldest
  // first, within the limits. Pool: due when the oldest is alone (above; with a Lone seat that
  // request is the Lone seat's), the limits are reached, it has waited max_wait, or the queue
  // is closing, and never while the Lone seat runs. Lone: a request alone, only. Empty once
  // the queue is closed and drained. The caller is busy with the batch until it calls
  // batch_done() with the same seat.
  std::vector<std::shared_ptr<Job>> next_batch(Seat seat = Seat::Pool);
  void batch_done(Seat seat = Seat::Pool);

  // Continuous batching: a Pool seat between next_batch() and batch_done() (translating) takes
  // the oldest queued request of any pair at once, never waiting; none while the queue is
  // empty or another Pool seat is idle in next_batch() (that one takes it: a core would idle).
  std::shared_ptr<Job> take_now();

  // No more pushes; next_batch() hands out what is queued, then returns empty.
  void close();

  size_t queued_texts() const;
  const BatchLimits& limits() const { return limits_; }

 private:
  using Lock = std::unique_lock<std::mutex>;
  static bool same_pair(const Job& a, const Job& b) { return a.source == b.source && a.target == b.target; }
  bool limits_reached(const Job& oldest) const;  // with lock held
  bool lone_request() const;                      // with lock held: the Lone seat's turn
  // With lock held: jobs of oldest's pair, oldest first, up to max_texts (or max_texts /
  // `share`, rounded up, of the pair's queued texts).
  std::vector<std::shared_ptr<Job>> take(const Job& oldest, size_t share);

  const BatchLimits limits_;
  mutable std::mutex mutex_;
  std::condition_variable changed_;
  std::deque<std::shared_ptr<Job>> jobs_;
  size_t queued_texts_ = 0;
  size_t in_progress_ = 0;  // batches handed out and not yet done
  size_t idle_pool_ = 0;    // Pool seats waiting in next_batch
  size_t last_batch_jobs_ = 0;
  bool lone_running_ = false;
  bool closed_ = false;
};

}  // namespace tusk_serve
