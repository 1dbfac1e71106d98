#include "sdk/translator.h"

#include <algorithm>
#include <cmath>

#include "common/error.h"
#include "sdk/batcher.h"
#include "sdk/decoder.h"
#include "sdk/encoder.h"
#include "sdk/text_pieces.h"
#include "sdk/utf8.h"

namespace tusk::sdk {

namespace {

// The translator's own cache for a budget, or null for the model's resident experts.
std::unique_ptr<CachedExpertSource> make_cache(const Model& model, int64_t budget,
                                               TranslatorOptions::Eviction eviction, bool prefetch,
                                               bool direct_io) {
  // A dense model has nothing to page: the paging options are a no-op (tusk.h says so).
  if (budget == 0 || model.expert_bytes_total() == 0) return nullptr;
  const uint64_t largest = model.expert_bytes_largest();
  if (budget < 0 || static_cast<uint64_t>(budget) < largest)
    throw Error(ErrorCode::InvalidArgument,
                "expert budget (TUSK_OPT_EXPERT_BUDGET_BYTES) of " + std::to_string(budget) +
                    " bytes is below the largest expert: the minimum budget for this model is " +
                    std::to_string(largest) + " bytes");
  std::unique_ptr<EvictionPolicy> policy;
  if (eviction == TranslatorOptions::Eviction::Lru)
    policy = std::make_unique<LruPolicy>();
  else
    policy = std::make_unique<LayerDistancePolicy>();
  const bool keep = eviction != TranslatorOptions::Eviction::None;
  return std::make_unique<CachedExpertSource>(std::make_shared<FileExpertLoader>(model.shared_file(), direct_io),
                                              static_cast<uint64_t>(budget), std::move(policy),
                                              prefetch && keep, keep, largest);
}

}  // namespace

const format::Language& Translator::language(const Model& model, const std::string& code, const char* role) {
  const auto* lang = model.file().find_language(code);
  if (!lang) {
    std::string known;
    for (const auto& l : model.file().languages()) known += (known.empty() ? "" : ", ") + l.code;
    throw Error(ErrorCode::UnknownLanguage, std::string("unknown ") + role + " language '" + code +
                                                "'; this model knows: " + known);
  }
  return *lang;
}

Translator::Translator(std::shared_ptr<const Model> model, const TranslatorOptions& options)
    : model_(std::move(model)), options_(options),
      backend_(backends::make_backend(
          {options.device, options.threads, options.int8_activations, options.device_index, options.compute})),
      cache_(make_cache(*model_, options.expert_budget_bytes, options.eviction_policy, options.prefetch,
                            options.direct_io)) {
  if (options.num_hypotheses < 1 || options.num_hypotheses > std::max(1, options.beam_size))
    throw Error(ErrorCode::InvalidArgument, "TUSK_OPT_NUM_HYPOTHESES (" + std::to_string(options.num_hypotheses) +
                                                ") must be between 1 and the beam size (" +
                                                std::to_string(std::max(1, options.beam_size)) + ")");
  ExpertSource* host = cache_ ? static_cast<ExpertSource*>(cache_.get()) : &model_->resident_experts();
  device_tier_ = std::make_unique<DeviceExpertTier>(*host, *backend_, options.device_expert_budget_bytes);
  ExpertSource* experts = device_tier_.get();
  if (options.count_expert_usage) {
    counter_ = std::make_unique<UsageCounter>(*experts);
    experts = counter_.get();
  }
  encoder_ = std::make_unique<Encoder>(*model_, *backend_, *experts);
  decoder_ = std::make_unique<Decoder>(*model_, *backend_, *experts);
}

std::map<ExpertKey, uint64_t> Translator::take_expert_usage() {
  return counter_ ? counter_->take() : std::map<ExpertKey, uint64_t>{};
}

uint64_t Translator::warm_start(const std::string& src, const std::string& tgt) {
  // Usage is keyed by the table's codes; the caller may have used the long form.
  const std::string& source = language(*model_, src, "source").code;
  const std::string& target = language(*model_, tgt, "target").code;
  const format::PairUsage* usage = model_->file().find_expert_usage(source, target);
  if (!cache_ || !usage) return 0;
  const std::vector<format::ExpertId> ids = model_->file().expert_ids();
  std::vector<size_t> order;
  for (size_t i = 0; i < ids.size(); ++i)
    if (usage->counts[i] > 0) order.push_back(i);
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return usage->counts[a] > usage->counts[b]; });
  std::vector<ExpertKey> keys;
  uint64_t bytes = 0;
  const uint64_t half = cache_->budget_bytes() / 2;
  for (size_t i : order) {
    const ExpertKey key{ids[i].stack, ids[i].layer, ids[i].expert};
    const uint64_t b = model_->file().expert_raw_bytes(key.stack, key.layer, key.expert);
    if (bytes + b > half) continue;  // a smaller, less used one may still fit
    bytes += b;
    keys.push_back(key);
  }
  std::lock_guard<std::mutex> lock(mutex_);
  return cache_->preload(keys);
}

ExpertCacheStats Translator::stats() const {
  if (cache_) return cache_->stats();
  ExpertCacheStats s;
  s.peak_cache_bytes = s.cache_bytes = model_->expert_bytes_total();
  return s;
}

Translator::~Translator() = default;

std::vector<Translation> Translator::translate(const std::string& src, const std::string& tgt,
                                               const std::vector<std::string>& texts, const TokenCallback& on_token) {
  return translate_at(cancel_generation_.load(), src, tgt, texts, on_token);
}

std::vector<Translation> Translator::translate_prefixed(const std::string& src, const std::string& tgt,
                                                        const std::vector<std::string>& texts,
                                                        const std::vector<std::string>& target_prefixes) {
  if (target_prefixes.size() != texts.size())
    throw Error(ErrorCode::InvalidArgument, "one target prefix per text is needed");
  return translate_at(cancel_generation_.load(), src, tgt, texts, {}, &target_prefixes);
}

std::vector<Translation> Translator::translate_at(uint64_t generation, const std::string& src, const std::string& tgt,
                                                  const std::vector<std::string>& texts,
                                                  const TokenCallback& on_token,
                                                  const std::vector<std::string>* target_prefixes) {
  const Model& model = *model_;
  model.file().check_unchanged();  // a file changed in place since open is refused, never read
  const auto& c = model.config();
  const auto& src_lang = language(model, src, "source");
  const auto& tgt_lang = language(model, tgt, "target");

  // Validate and tokenize everything before any work, so a bad sentence fails the call early.
  std::vector<Translation> results(texts.size());
  std::vector<std::vector<int32_t>> sources(texts.size());
  std::vector<int> todo;
  const int64_t max_len = model.max_sequence_length();
  // A sentence's own error: thrown naming the sentence, or kept in its result
  // (per_sentence_errors), where the sentence is known.
  auto sentence_error = [&](size_t i, ErrorCode code, const std::string& what) {
    if (!options_.per_sentence_errors) throw Error(code, "sentence " + std::to_string(i) + " " + what);
    results[i].error_code = static_cast<int>(code);
    results[i].error = "the sentence " + what;
  };
  for (size_t i = 0; i < texts.size(); ++i) {
    size_t bad = 0;
    if (!is_valid_utf8(texts[i], &bad)) {
      sentence_error(i, ErrorCode::InvalidArgument,
                     "is not valid UTF-8 (bad byte at offset " + std::to_string(bad) + ")");
      continue;
    }
    const std::vector<int32_t> pieces = model.tokenizer().encode(texts[i]);
    if (pieces.empty()) continue;  // blank (whatever the whitespace) translates to ""
    auto& ids = sources[i];
    ids = source_ids(src_lang, pieces);
    if (static_cast<int64_t>(ids.size()) > max_len) {
      if (!options_.truncate_input) {
        sentence_error(i, ErrorCode::InputTooLong,
                       "has " + std::to_string(ids.size()) +
                           " tokens with its language code and end mark; the model takes at most " +
                           std::to_string(max_len) + " (enable truncation to cut it, or use text mode)");
        ids.clear();
        continue;
      }
      cut_source(ids);
      results[i].truncated = true;
    }
    todo.push_back(static_cast<int>(i));
  }

  std::lock_guard<std::mutex> lock(mutex_);
  SearchOptions search_options = base_search_options(generation);

  // Target prefixes as token ids (their pieces, no end mark).
  std::vector<std::vector<int32_t>> prefix_ids(target_prefixes ? texts.size() : 0);
  for (size_t i = 0; i < prefix_ids.size(); ++i) {
    size_t bad = 0;
    if (!is_valid_utf8((*target_prefixes)[i], &bad))
      throw Error(ErrorCode::InvalidArgument, "the target prefix of sentence " + std::to_string(i) +
                                                  " is not valid UTF-8 (bad byte at offset " + std::to_string(bad) + ")");
    prefix_ids[i] = model.tokenizer().encode((*target_prefixes)[i]);
  }
  std::vector<std::vector<int32_t>> batch_prefixes;

  std::vector<int64_t> lengths;
  for (int i : todo) lengths.push_back(static_cast<int64_t>(sources[i].size()));
  Encoder& encoder = *encoder_;
  Decoder& decoder = *decoder_;
  if (search_options.cancelled())
    throw Error(ErrorCode::Cancelled, "the translation was cancelled (tusk_translator_cancel)");
  for (const auto& batch_positions : make_batches(lengths, options_.max_batch_size,
                                                  options_.max_batch_tokens)) {
    SourceBatch batch;
    for (int p : batch_positions) batch.add(sources[todo[p]]);
    search_options.prefixes = nullptr;
    if (target_prefixes) {
      batch_prefixes.clear();
      for (int p : batch_positions) batch_prefixes.push_back(prefix_ids[todo[p]]);
      search_options.prefixes = &batch_prefixes;
    }
    search_options.sentence_max_generated.clear();
    if (options_.max_length_ratio > 0.0f)
      for (int p : batch_positions) {
        // Never short of a target prefix (search clips it to max_generated).
        const int prefix = target_prefixes ? static_cast<int>(prefix_ids[todo[p]].size()) + 1 : 0;
        search_options.sentence_max_generated.push_back(
            std::max(prefix, generation_limit(sources[todo[p]].size(), search_options)));
      }
    if (on_token)
      search_options.on_token = [&](int b, const Hypothesis& h, bool finished) {
        const std::string text = model.tokenizer().decode(h.ids);
        return on_token({static_cast<size_t>(todo[batch_positions[b]]), 0, h.ids.back(), h.logprobs.back(), text,
                         finished});
      };
    decoder.start(batch, encoder.forward(batch));
    auto best = search(decoder, batch.size(), c.decoder_start_id, tgt_lang.token_id, c.eos_id,
                       search_options);
    for (int b = 0; b < batch.size(); ++b) {
      Translation& r = results[todo[batch_positions[b]]];
      for (Hypothesis& h : best[b]) r.hypotheses.push_back(translated(tgt_lang, std::move(h)));
      const Translation::Hypothesis& top = r.hypotheses.front();
      r.ids = top.ids;
      r.logprobs = top.logprobs;
      r.score = top.score;
      r.text = top.text;
    }
  }
  return results;
}


std::vector<Translation> Translator::translate_text(const std::string& src, const std::string& tgt,
                                                    const std::vector<std::string>& texts,
                                                    const TokenCallback& on_token) {
  const uint64_t generation = cancel_generation_.load();  // a cancel while splitting counts
  const Model& model = *model_;
  const auto& src_lang = language(model, src, "source");
  const auto& tgt_lang = language(model, tgt, "target");
  const TextPieces p = split_texts(model, src_lang.code, texts, options_.per_sentence_errors);
  TokenCallback per_piece;  // events name the text and its sentence, not the piece
  if (on_token)
    per_piece = [&](const TokenEvent& e) {
      return on_token({p.owner[e.input].text, p.owner[e.input].sentence, e.token, e.logprob, e.text, e.finished});
    };
  return assemble_texts(p, translate_at(generation, src, tgt, p.pieces, per_piece), tgt_lang.code);
}

SearchOptions Translator::base_search_options(uint64_t generation) {
  const int64_t max_len = model_->max_sequence_length();
  SearchOptions o;
  o.beam_size = std::max(1, options_.beam_size);
  o.length_penalty = options_.length_penalty;
  // The decoder prefix [start, language] + generated tokens must fit the position table; the
  // last generated token is never fed back, hence max_len - 1.
  o.max_generated = static_cast<int>(
      std::min<int64_t>(options_.max_decoding_length > 0 ? options_.max_decoding_length : max_len, max_len - 1));
  o.min_generated = std::min(std::max(0, options_.min_decoding_length), o.max_generated);
  o.num_hypotheses = options_.num_hypotheses;
  o.no_repeat_ngram = options_.no_repeat_ngram_size;
  o.repetition_penalty = options_.repetition_penalty;
  o.cancelled = [this, generation] { return cancel_generation_.load() != generation; };
  return o;
}

std::vector<int32_t> Translator::source_ids(const format::Language& source, const std::vector<int32_t>& pieces) const {
  std::vector<int32_t> ids;
  ids.reserve(pieces.size() + 2);
  ids.push_back(source.token_id);
  ids.insert(ids.end(), pieces.begin(), pieces.end());
  ids.push_back(model_->config().eos_id);
  return ids;
}

void Translator::cut_source(std::vector<int32_t>& ids) const {
  const int64_t max_len = model_->max_sequence_length();
  if (static_cast<int64_t>(ids.size()) <= max_len) return;
  ids.resize(static_cast<size_t>(max_len - 1));
  ids.push_back(model_->config().eos_id);
}

Translation::Hypothesis Translator::translated(const format::Language& target, Hypothesis&& h) const {
  Translation::Hypothesis t;
  t.ids.reserve(h.ids.size() + 1);
  t.ids.push_back(target.token_id);
  t.ids.insert(t.ids.end(), h.ids.begin(), h.ids.end());
  t.logprobs = std::move(h.logprobs);
  t.score = h.logprob;
  t.text = model_->tokenizer().decode(h.ids);
  return t;
}

int Translator::generation_limit(size_t source_ids, const SearchOptions& o) const {
  if (options_.max_length_ratio <= 0.0f) return o.max_generated;
  const double source_tokens = static_cast<double>(source_ids - 2);  // less code and end
  // Never below the minimum length the caller asked for.
  return std::min(o.max_generated,
                  std::max(o.min_generated, options_.max_length_offset +
                                                static_cast<int>(std::ceil(options_.max_length_ratio * source_tokens))));
}

}  // namespace tusk::sdk
