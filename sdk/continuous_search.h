// Continuous batching with greedy search: sentences join a running decode between steps and
// leave it as they finish, so the decoder keeps as many rows as there is work instead of
// draining to the longest sentence of a batch (a server's requests arrive while others are
// being translated). Each sentence gets the tokens greedy search (sdk/search.h) gives it in
// a batch, up to rounding (as between any two batch compositions: products of another row
// count may round differently): every op is row by row, and a joining sentence is fed its
// prefix [decoder start, target language] at positions 0 and 1 in the same steps as the
// others' tokens.
#pragma once

#include <cstdint>
#include <utility>
#include <vector>

#include "sdk/decoder.h"
#include "sdk/encoder.h"
#include "sdk/search.h"

namespace tusk::sdk {

struct StreamSentence {
  std::vector<int32_t> source;  // token ids with the language code and end mark
  int32_t target_language;      // its code's token: the forced second token
  int max_generated;            // tokens it may generate, end of sentence included
  uint64_t tag;                 // the caller's, handed back with its hypothesis
};

class ContinuousSearch {
 public:
  // options: max_generated, min_generated, the runaway guards and cancelled are used
  // (sentence_max_generated comes with each sentence); beam_size must be 1.
  ContinuousSearch(Encoder& encoder, Decoder& decoder, int32_t decoder_start_id, int32_t eos_id,
                   SearchOptions options);

  // Sentences to join at the next step (encoded then).
  void admit(StreamSentence sentence);

  // One decoding step for every sentence held: the joining ones are encoded and admitted
  // first. Appends the sentences that finished, with their hypotheses, to `finished`.
  void step(std::vector<std::pair<uint64_t, Hypothesis>>& finished);

  // Sentences held (unfinished) or joining, and their source tokens.
  size_t sentences() const { return active_; }
  int64_t source_tokens() const { return source_tokens_; }

 private:
  struct Live {
    uint64_t tag = 0;
    int32_t target_language = 0;
    int max_generated = 0;
    int64_t source_tokens = 0;
    int fed = 0;  // tokens fed to the decoder: the prefix's two, then the generated ones
    bool done = false;
    Hypothesis hyp;
  };
  static constexpr size_t kJoinBatch = 4;
  static constexpr int64_t kJoinWaitSteps = 3;
  bool admission_due() const;
  void join();

  Encoder& encoder_;
  Decoder& decoder_;
  const int32_t start_id_, eos_id_;
  const SearchOptions options_;
  std::vector<Live> live_;  // in the decoder's hypothesis (and sentence) order
  std::vector<StreamSentence> joining_;
  size_t active_ = 0;
  int64_t steps_ = 0, first_waiting_step_ = 0;
  int64_t source_tokens_ = 0;
  bool started_ = false;  // the decoder holds this search's state
  Activations logits_;
  // Per step, capacity reused.
  std::vector<int32_t> tokens_, positions_, all_rows_, rows_, best_, parents_, keep_, excluded_best_;
  std::vector<float> best_logprob_, excluded_logprob_;
  std::vector<backends::ScoreEdit> edits_;
  std::vector<int32_t> banned_, seen_;
};

}  // namespace tusk::sdk
