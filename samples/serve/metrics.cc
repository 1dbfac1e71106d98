#include "metrics.h"

#include <cstdio>

namespace tusk_serve {

namespace {

std::string number(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.9g", v);
  return buf;
}

void header(std::string& out, const char* name, const char* type, const char* help) {
  out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
}

}  // namespace

void Histogram::observe(double value) {
  size_t i = 0;
  while (i < bounds_.size() && value > bounds_[i]) ++i;
  ++counts_[i];
  sum_ += value;
  ++count_;
}

void Histogram::render(std::string& out, const std::string& name) const {
  uint64_t cumulative = 0;
  for (size_t i = 0; i < bounds_.size(); ++i) {
    cumulative += counts_[i];
    out += name + "_bucket{le=\"" + number(bounds_[i]) + "\"} " + std::to_string(cumulative) + "\n";
  }
  out += name + "_bucket{le=\"+Inf\"} " + std::to_string(count_) + "\n";
  out += name + "_sum " + number(sum_) + "\n";
  out += name + "_count " + std::to_string(count_) + "\n";
}

Metrics::Metrics()
    : latency_({0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30}),
      batch_texts_({1, 2, 4, 8, 16, 32, 64, 128, 256}),
      batch_requests_({1, 2, 4, 8, 16, 32, 64}),
      batch_seconds_({0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}) {}

void Metrics::request_done(const std::string& endpoint, int status, double seconds) {
  const std::lock_guard<std::mutex> lock(mutex_);
  ++requests_[{endpoint, status}];
  if (seconds >= 0) latency_.observe(seconds);
}

void Metrics::batch_done(size_t texts, size_t requests, double seconds) {
  const std::lock_guard<std::mutex> lock(mutex_);
  batch_texts_.observe(static_cast<double>(texts));
  batch_requests_.observe(static_cast<double>(requests));
  batch_seconds_.observe(seconds);
  texts_translated_ += texts;
}

void Metrics::request_done_continuously(size_t texts, size_t texts_together, size_t requests_together,
                                        double seconds) {
  const std::lock_guard<std::mutex> lock(mutex_);
  batch_texts_.observe(static_cast<double>(texts_together));
  batch_requests_.observe(static_cast<double>(requests_together));
  batch_seconds_.observe(seconds);
  texts_translated_ += texts;
}

std::string Metrics::render(size_t queued_texts, size_t queue_capacity,
                            const std::vector<tusk_stats_t>& translator_stats) const {
  std::string out;
  {
    const std::lock_guard<std::mutex> lock(mutex_);
    header(out, "tusk_http_requests_total", "counter", "HTTP requests answered, by endpoint and status code.");
    for (const auto& [key, count] : requests_)
      out += "tusk_http_requests_total{endpoint=\"" + key.first + "\",code=\"" + std::to_string(key.second) +
             "\"} " + std::to_string(count) + "\n";
    header(out, "tusk_translate_request_seconds", "histogram",
           "Time from receiving a /translate request to answering it, queueing included.");
    latency_.render(out, "tusk_translate_request_seconds");
    header(out, "tusk_batch_texts", "histogram", "Texts per library call (one batch of grouped requests); with continuous batching, texts in the translator's running batch as each request finished.");
    batch_texts_.render(out, "tusk_batch_texts");
    header(out, "tusk_batch_requests", "histogram", "Requests grouped into one library call; with continuous batching, requests in the running batch as each finished.");
    batch_requests_.render(out, "tusk_batch_requests");
    header(out, "tusk_batch_seconds", "histogram", "Duration of one library call; with continuous batching, of one request in the translator.");
    batch_seconds_.render(out, "tusk_batch_seconds");
    header(out, "tusk_texts_translated_total", "counter", "Texts translated.");
    out += "tusk_texts_translated_total " + std::to_string(texts_translated_) + "\n";
  }
  header(out, "tusk_queue_texts", "gauge", "Texts waiting for a translator.");
  out += "tusk_queue_texts " + std::to_string(queued_texts) + "\n";
  header(out, "tusk_queue_capacity_texts", "gauge", "Texts the queue holds before answering 503.");
  out += "tusk_queue_capacity_texts " + std::to_string(queue_capacity) + "\n";

  tusk_stats_t sum{};
  for (const tusk_stats_t& s : translator_stats) {
    sum.hits += s.hits;
    sum.misses += s.misses;
    sum.evictions += s.evictions;
    sum.bytes_loaded += s.bytes_loaded;
    sum.prefetch_issued += s.prefetch_issued;
    sum.prefetch_used += s.prefetch_used;
    sum.stall_ms += s.stall_ms;
  }
  const std::pair<const char*, uint64_t> counters[] = {
      {"tusk_expert_cache_hits_total", sum.hits},
      {"tusk_expert_cache_misses_total", sum.misses},
      {"tusk_expert_cache_evictions_total", sum.evictions},
      {"tusk_expert_cache_loaded_bytes_total", sum.bytes_loaded},
      {"tusk_expert_prefetch_issued_total", sum.prefetch_issued},
      {"tusk_expert_prefetch_used_total", sum.prefetch_used},
  };
  for (const auto& [name, value] : counters) {
    header(out, name, "counter", "Expert cache counter summed over the translators (tusk_stats_t).");
    out += std::string(name) + " " + std::to_string(value) + "\n";
  }
  header(out, "tusk_expert_stall_seconds_total", "counter", "Time translation waited for experts to load.");
  out += "tusk_expert_stall_seconds_total " + number(sum.stall_ms / 1000.0) + "\n";
  header(out, "tusk_translators", "gauge", "Translators serving the queue.");
  out += "tusk_translators " + std::to_string(translator_stats.size()) + "\n";
  return out;
}

}  // namespace tusk_serve
