// The server's counters in Prometheus' text exposition format (version 0.0.4): requests by
// endpoint and status, /translate latency, batch sizes, queue depth, and the translators'
// expert-cache counters (read at scrape time from the library).
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "tusk/tusk.h"

namespace tusk_serve {

// A cumulative histogram with fixed upper bounds (the last bucket, +Inf, is implicit).
class Histogram {
 public:
  explicit Histogram(std::vector<double> bounds) : bounds_(std::move(bounds)), counts_(bounds_.size() + 1, 0) {}
  void observe(double value);
  // name_bucket{le=...}, name_sum and name_count lines.
  void render(std::string& out, const std::string& name) const;

 private:
  std::vector<double> bounds_;
  std::vector<uint64_t> counts_;  // per bucket, not cumulative
  double sum_ = 0.0;
  uint64_t count_ = 0;
};

class Metrics {
 public:
  Metrics();
  void request_done(const std::string& endpoint, int status, double seconds);  // seconds < 0: not timed
  void batch_done(size_t texts, size_t requests, double seconds);
  // Continuous batching: a request of `texts` texts done after `seconds` in the translator,
  // with texts_together / requests_together in its running batch (itself included).
  void request_done_continuously(size_t texts, size_t texts_together, size_t requests_together, double seconds);

  // The whole exposition; queue depth and cache counters are passed in as they are now.
  std::string render(size_t queued_texts, size_t queue_capacity,
                     const std::vector<tusk_stats_t>& translator_stats) const;

 private:
  mutable std::mutex mutex_;
  std::map<std::pair<std::string, int>, uint64_t> requests_;
  Histogram latency_;
  Histogram batch_texts_;
  Histogram batch_requests_;
  Histogram batch_seconds_;
  uint64_t texts_translated_ = 0;
};

}  // namespace tusk_serve
