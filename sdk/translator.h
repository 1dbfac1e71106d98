// Text in, text out: validation, tokenization, batching, encoding, search, detokenization.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "backends/backend.h"
#include "sdk/decoder.h"
#include "sdk/device_expert_tier.h"
#include "sdk/encoder.h"
#include "sdk/expert_cache.h"
#include "sdk/model.h"
#include "sdk/search.h"
#include "sdk/usage_counter.h"

namespace tusk::sdk {

struct TranslatorOptions {
  backends::Device device = backends::Device::Cpu;  // picks the backend (backends::make_backend)
  int device_index = 0;                             // which device of that kind
  backends::Compute compute = backends::Compute::F32;  // products with packed weights
  int threads = 0;                // 0 = all cores
  int beam_size = 1;
  float length_penalty = 0.0f;
  int max_decoding_length = 256;  // generated tokens; clipped to the model's positions
  int min_decoding_length = 0;    // no end of sentence before this many generated tokens
  // Runaway guards (sdk/search.h), off here; the C ABI's defaults turn some on. With ratio > 0
  // a sentence of n source tokens generates at most offset + ceil(ratio * n) tokens (within
  // max_decoding_length, and at least min_decoding_length).
  float max_length_ratio = 0.0f;
  int max_length_offset = 0;
  int no_repeat_ngram_size = 0;
  float repetition_penalty = 1.0f;
  // Beam search: hypotheses per sentence in the result (at most beam_size).
  int num_hypotheses = 1;
  int max_batch_size = 32;
  int64_t max_batch_tokens = 4096;
  bool truncate_input = false;    // cut over-long sentences instead of refusing them
  // A sentence that cannot be translated (invalid UTF-8, too long) gets its own error in its
  // Translation instead of failing the call.
  bool per_sentence_errors = false;
  // Off by default: an approximation that changes the output for speed
  // (backends::BackendOptions::int8_activations).
  bool int8_activations = false;
  // Decoded expert bytes this translator may hold; 0 = use the model's all-resident experts.
  // At least the model's largest expert, else the constructor throws InvalidArgument.
  int64_t expert_budget_bytes = 0;
  // Which cached expert to drop when the budget is full (see sdk/eviction_policy.h). Only hit
  // rate and speed depend on it, never the output.
  enum class Eviction { Lru, LayerDistance, None };  // None: keep nothing (a baseline)
  Eviction eviction_policy = Eviction::LayerDistance;
  // With a budget: load predicted experts on a background thread (sdk/expert_cache.h).
  bool prefetch = true;
  // With a budget: read expert frames with O_DIRECT, past the OS page cache.
  bool direct_io = false;
  // Count expert acquires for take_expert_usage (calibration).
  bool count_expert_usage = false;
  // Device bytes of prepared experts the device tier keeps (sdk/device_expert_tier.h); 0: no
  // limit. Counts nothing on the CPU, whose backend reads the host tier's bytes in place.
  uint64_t device_expert_budget_bytes = 0;
};

// A token chosen for a sentence while a call runs (streaming): which input (sentence, or text
// in text mode) and which sentence of it, the token, its log-probability, that sentence's
// translation so far, and whether this was its last token.
struct TokenEvent {
  size_t input, sentence;
  int32_t token;
  float logprob;
  const std::string& text;
  bool finished;
};
// Return false to cancel the call.
using TokenCallback = std::function<bool(const TokenEvent&)>;

struct Translation {
  std::string text;
  std::vector<int32_t> ids;       // target-language code, generated tokens (eos last if reached)
  std::vector<float> logprobs;    // one per generated token
  double score = 0.0;             // sum of logprobs
  bool truncated = false;
  // With per_sentence_errors: why this input was not translated (error code 0: it was).
  int error_code = 0;
  std::string error;
  // The best hypotheses, best first: [0] is the one above; more with num_hypotheses > 1.
  struct Hypothesis {
    std::string text;
    std::vector<int32_t> ids;
    std::vector<float> logprobs;
    double score = 0.0;
  };
  std::vector<Hypothesis> hypotheses;
};

// Continuous batching (Translator::translate_continuous): one request of texts in one
// language pair, in text mode, named by the caller's id.
struct ContinuousRequest {
  uint64_t id = 0;
  std::string src, tgt;
  std::vector<std::string> texts;
};
// Asked for the next request whenever the decoder has room: fills `request` and returns true,
// or returns false when none is ready. With idle (nothing in flight) it may wait for one, and
// false then ends translate_continuous.
using PullRequest = std::function<bool(bool idle, ContinuousRequest& request)>;
// Called once per request: its texts' translations (error_code 0), as translate_text returns
// them, or the error that failed it as a whole (error_code a tusk::ErrorCode, results empty).
using DeliverRequest =
    std::function<void(uint64_t id, int error_code, const std::string& error, std::vector<Translation> results)>;

class Translator {
 public:
  Translator(std::shared_ptr<const Model> model, const TranslatorOptions& options);
  ~Translator();

  // Throws tusk::Error for bad input (unknown language, invalid UTF-8, over-long sentence).
  // Calls on one translator are serialised.
  // on_token (optional) streams the tokens as they are chosen (greedy: every step; beam: a
  // sentence's tokens when its search ends); returning false cancels: Error Cancelled, no
  // results.
  std::vector<Translation> translate(const std::string& src, const std::string& tgt,
                                     const std::vector<std::string>& texts, const TokenCallback& on_token = {});

  // translate, with each translation beginning with target_prefixes[i] (text in the target
  // language; "" for none), forced token by token; the prefix's tokens are part of the result
  // with their log-probabilities.
  std::vector<Translation> translate_prefixed(const std::string& src, const std::string& tgt,
                                              const std::vector<std::string>& texts,
                                              const std::vector<std::string>& target_prefixes);

  // Text mode: each text (a paragraph, a document: any length) is split into sentences by the
  // source language's rules (sdk/sentence_splitter.h), all sentences of all texts are
  // translated as one call, and each text is put back together with its whitespace, line
  // and paragraph breaks. A sentence longer than the model takes is cut at word boundaries
  // (after punctuation where one is near) into pieces translated one by one: that text's
  // `truncated` says so, and nothing is dropped. A text's ids and logprobs are its
  // sentences' one after another (each starting with the target language code), its score
  // their sum. Throws as translate does, naming the text.
  std::vector<Translation> translate_text(const std::string& src, const std::string& tgt,
                                          const std::vector<std::string>& texts, const TokenCallback& on_token = {});

  // Continuous batching for a server: translates requests pulled from `pull` as they come,
  // each sentence joining the running decode at the next step and leaving it when it
  // finishes, so the batch stays as full as the work allows instead of draining to its
  // longest sentence; each request is delivered once all its texts are done. Greedy search
  // only (InvalidArgument for a beam size above 1); at most max_batch_size sentences and
  // max_batch_tokens source tokens at once (one sentence always). The results are
  // translate_text's for the same texts up to rounding (the same tokens but at near-ties, as
  // between two batch compositions). Language pairs may mix. Returns when pull, idle, returns
  // false; on an error (cancel() included) every request in flight is delivered that error
  // and it is thrown. Holds the translator for the whole call, idle waits included: other
  // calls on it wait. A cancel() is seen at the next step (after an idle pull returns).
  void translate_continuous(const PullRequest& pull, const DeliverRequest& deliver);

  // Cancels the calls running or waiting on this translator when it is called (they fail with
  // Error Cancelled within a decoding step); later calls run. Thread-safe.
  void cancel() { ++cancel_generation_; }

  // Expert cache counters since creation. Without a budget there is no cache: the counters
  // are 0 and peak_cache_bytes is the model's total expert bytes (all resident). Thread-safe;
  // waits for at most one expert load of a running translate, never for the whole call.
  ExpertCacheStats stats() const;

  // With a budget and a calibrated model: loads the pair's most used experts (the model's
  // expert usage table) that fit half the budget, most used first, so the first sentences
  // do not start cold. Returns the number of experts loaded: 0 without a budget, without a
  // table for the pair, or when they are in already. Throws UnknownLanguage for a code the
  // model lacks. Serialised with translate.
  uint64_t warm_start(const std::string& src, const std::string& tgt);

  // Acquires per expert since the last call (count_expert_usage only; else empty).
  std::map<ExpertKey, uint64_t> take_expert_usage();

 private:
  std::shared_ptr<const Model> model_;
  TranslatorOptions options_;
  std::unique_ptr<backends::Backend> backend_;
  // Set when paging (expert_budget_bytes > 0); declared before the encoder and decoder, which
  // hold a reference to the source in use, so it outlives them.
  std::unique_ptr<CachedExpertSource> cache_;
  std::unique_ptr<DeviceExpertTier> device_tier_;  // over cache_ or the resident experts
  std::unique_ptr<UsageCounter> counter_;  // count_expert_usage: wraps the source in use
  // Reused across calls (under mutex_) so their activation buffers keep their capacity.
  std::unique_ptr<Encoder> encoder_;
  std::unique_ptr<Decoder> decoder_;
  std::mutex mutex_;
  std::atomic<uint64_t> cancel_generation_{0};  // a call is cancelled once it moves on

  // The model's language for a code (or its token), else UnknownLanguage naming `role`.
  static const format::Language& language(const Model& model, const std::string& code, const char* role);
  // The search options of every call: beam, length limits, guards, cancellation from
  // `generation` on (per-call parts, prefixes and streaming, are the caller's).
  SearchOptions base_search_options(uint64_t generation);
  // Generated tokens a sentence of source_ids ids (code and end mark included) may take
  // under o's limits and the runaway guard's ratio.
  int generation_limit(size_t source_ids, const SearchOptions& o) const;
  // What the encoder reads of a sentence: [its language's token, its pieces..., end mark]
  // (may be longer than the model takes: see cut_source).
  std::vector<int32_t> source_ids(const format::Language& source, const std::vector<int32_t>& pieces) const;
  // ids cut to the model's longest sequence, the end mark kept.
  void cut_source(std::vector<int32_t>& ids) const;
  // A search result as the caller sees it: the target language's token first, the text decoded.
  Translation::Hypothesis translated(const format::Language& target, Hypothesis&& h) const;
  std::vector<Translation> translate_at(uint64_t generation, const std::string& src, const std::string& tgt,
                                        const std::vector<std::string>& texts, const TokenCallback& on_token,
                                        const std::vector<std::string>* target_prefixes = nullptr);
};

}  // namespace tusk::sdk
