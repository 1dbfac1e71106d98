// Greedy and beam search over a batch of source sentences, driving the Decoder.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <vector>

#include "sdk/decoder.h"

namespace tusk::sdk {

struct Hypothesis {
  std::vector<int32_t> ids;       // generated tokens (eos last if it finished)
  std::vector<float> logprobs;    // one per generated token
  double logprob = 0.0;           // sum of logprobs
};

struct SearchOptions {
  int beam_size = 1;
  float length_penalty = 0.0f;  // score = logprob / generated_length ^ length_penalty
  int max_generated = 256;      // tokens after the language code, eos included
  // End of sentence is not chosen before this many tokens (clipped to max_generated); the
  // chosen tokens' log-probabilities stay those of the full distribution.
  int min_generated = 0;
  // Runaway guards. Per sentence, the most tokens it may generate (clipped to max_generated;
  // empty: max_generated for all): the translator's limit relative to the source's length.
  std::vector<int> sentence_max_generated;
  // n > 0: a token that would repeat an n-gram of the hypothesis's generated tokens is banned.
  int no_repeat_ngram = 0;
  // > 1: scores of tokens generated already get the CTRL penalty (backends::ScoreEdit).
  float repetition_penalty = 1.0f;
  // Streaming: called as tokens are chosen (greedy: after every step for each sentence that
  // got one; beam: a sentence's tokens once its search ends), `finished` on its last token.
  // Returning false cancels the search (Error Cancelled).
  std::function<bool(int sentence, const Hypothesis& h, bool finished)> on_token;
  // Asked every step: true stops the search with Error Cancelled (another thread's cancel).
  std::function<bool()> cancelled;
  // Beam search: how many of each sentence's best finished hypotheses to return (<= beam_size).
  int num_hypotheses = 1;
  // Per sentence: tokens its translation must begin with (forced, their log-probabilities
  // read from the model); empty: none. Null: no sentence has one.
  const std::vector<std::vector<int32_t>>* prefixes = nullptr;
};


// Whether options turn a runaway guard on.
bool guarded(const SearchOptions& o);

// Throws ErrorCode::Cancelled once o.cancelled says so (checked between decoding steps).
void check_cancelled(const SearchOptions& o);

// The runaway guards' edits for the hypothesis in `row` with generated tokens `ids`: bans of
// the tokens that would repeat an n-gram, then the repetition penalty on the other tokens it
// generated (each entry edited once). banned and seen are scratch.
void add_guard_edits(const std::vector<int32_t>& ids, int64_t row, const SearchOptions& o,
                     std::vector<backends::ScoreEdit>& edits, std::vector<int32_t>& banned,
                     std::vector<int32_t>& seen);

// Per sentence of the batch, its best hypotheses, best first: one for greedy search, up to
// num_hypotheses for beam search. The decoder must have been start()ed on the batch.
std::vector<std::vector<Hypothesis>> search(Decoder& decoder, int sentences, int32_t decoder_start_id,
                                            int32_t target_language_id, int32_t eos_id,
                                            const SearchOptions& options);

}  // namespace tusk::sdk
