#include "sdk/continuous_search.h"

#include <algorithm>
#include <numeric>

#include "common/error.h"

namespace tusk::sdk {

ContinuousSearch::ContinuousSearch(Encoder& encoder, Decoder& decoder, int32_t decoder_start_id, int32_t eos_id,
                                   SearchOptions options)
    : encoder_(encoder), decoder_(decoder), start_id_(decoder_start_id), eos_id_(eos_id),
      options_(std::move(options)), logits_(decoder.backend()) {
  if (options_.beam_size > 1)
    throw Error(ErrorCode::InvalidArgument, "continuous batching runs greedy search only; the beam size is " +
                                                std::to_string(options_.beam_size));
}

void ContinuousSearch::admit(StreamSentence sentence) {
  sentence.max_generated = std::min(sentence.max_generated, options_.max_generated);
  ++active_;
  source_tokens_ += static_cast<int64_t>(sentence.source.size());
  if (joining_.empty()) first_waiting_step_ = steps_;
  joining_.push_back(std::move(sentence));
}

// Admissions are batched: each encodes its sentences in one call, and one sentence at a time
// made that a step's worth of work each (the encoder on 15 tokens costs most of a 16-row
// decoder step). Sentences wait for kJoinBatch companions, or at most kJoinWaitSteps steps,
// or until nothing else runs. Finished sentences leave at once (their slots and cross rows
// are freed without copies): an idle row would cost a step as much as a live one.
bool ContinuousSearch::admission_due() const {
  if (joining_.empty()) return false;
  size_t running = 0;
  for (const Live& l : live_) running += !l.done;
  return running == 0 || joining_.size() >= kJoinBatch || steps_ - first_waiting_step_ >= kJoinWaitSteps;
}

// Drops the finished sentences and, when due, admits the joining ones: their sources encoded
// in one batch, their cross-attention rows appended, their hypotheses started with no steps.
void ContinuousSearch::join() {
  const bool admit = admission_due();
  const bool drop = std::any_of(live_.begin(), live_.end(), [](const Live& l) { return l.done; });
  if (started_ && !admit && !drop) return;
  parents_.clear();
  std::vector<Live> next;
  next.reserve(live_.size() + (admit ? joining_.size() : 0));
  for (size_t j = 0; j < live_.size(); ++j) {
    if (live_[j].done) continue;
    parents_.push_back(static_cast<int32_t>(j));
    next.push_back(std::move(live_[j]));
  }
  keep_ = parents_;  // one hypothesis per sentence: the sentence index is the row
  SourceBatch batch;
  for (StreamSentence& s : joining_) {
    if (!admit) break;
    batch.add(s.source);
    parents_.push_back(-1);
    Live l;
    l.tag = s.tag;
    l.target_language = s.target_language;
    l.max_generated = s.max_generated;
    l.source_tokens = static_cast<int64_t>(s.source.size());
    next.push_back(std::move(l));
  }
  if (!started_) {  // the decoder may hold another call's batch: start from nothing
    decoder_.clear();
    started_ = true;
  }
  if (batch.size() > 0)
    decoder_.admit(keep_, batch, encoder_.forward(batch));
  else
    decoder_.keep(keep_);
  decoder_.reorder(parents_);
  if (admit) joining_.clear();
  live_.swap(next);
}

void ContinuousSearch::step(std::vector<std::pair<uint64_t, Hypothesis>>& finished) {
  check_cancelled(options_);
  join();
  ++steps_;
  if (live_.empty()) return;
  tokens_.clear();
  positions_.clear();
  for (Live& l : live_) {
    tokens_.push_back(l.fed == 0 ? start_id_ : l.fed == 1 ? l.target_language : l.hyp.ids.back());
    positions_.push_back(l.fed);
    ++l.fed;
  }
  all_rows_.resize(live_.size());
  std::iota(all_rows_.begin(), all_rows_.end(), 0);
  decoder_.step_at(tokens_, all_rows_, positions_, &logits_, Decoder::Output::Logits);

  // Rows that choose a token: those fed their language code or a generated token.
  rows_.clear();
  for (size_t j = 0; j < live_.size(); ++j)
    if (live_[j].fed >= 2) rows_.push_back(static_cast<int32_t>(j));
  if (rows_.empty()) return;
  Backend& backend = decoder_.backend();
  if (guarded(options_)) {
    edits_.clear();
    for (int32_t j : rows_) add_guard_edits(live_[j].hyp.ids, j, options_, edits_, banned_, seen_);
    backend.edit_scores(logits_.view(), edits_.data(), static_cast<int64_t>(edits_.size()));
  }
  // The step's only download: each row's best token and its log-probability. Rows short of
  // the minimum length take theirs from a second pass with end of sentence excluded (batch
  // greedy search excludes it for every row of such a step: row by row the same values).
  best_.resize(live_.size());
  best_logprob_.resize(live_.size());
  backend.argmax_log_softmax(logits_.cview(), -1, best_.data(), best_logprob_.data());
  const auto short_of_minimum = [&](int32_t j) {
    return static_cast<int>(live_[j].hyp.ids.size()) < options_.min_generated;
  };
  if (std::any_of(rows_.begin(), rows_.end(), short_of_minimum)) {
    excluded_best_.resize(live_.size());
    excluded_logprob_.resize(live_.size());
    backend.argmax_log_softmax(logits_.cview(), eos_id_, excluded_best_.data(), excluded_logprob_.data());
    for (int32_t j : rows_)
      if (short_of_minimum(j)) {
        best_[j] = excluded_best_[j];
        best_logprob_[j] = excluded_logprob_[j];
      }
  }
  for (int32_t j : rows_) {
    Live& l = live_[j];
    l.hyp.ids.push_back(best_[j]);
    l.hyp.logprobs.push_back(best_logprob_[j]);
    l.hyp.logprob += best_logprob_[j];
    if (best_[j] == eos_id_ || static_cast<int>(l.hyp.ids.size()) >= l.max_generated) {
      l.done = true;
      --active_;
      source_tokens_ -= l.source_tokens;
      finished.emplace_back(l.tag, std::move(l.hyp));
    }
  }
}

}  // namespace tusk::sdk
