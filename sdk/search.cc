#include "sdk/search.h"

#include "sdk/argmax.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

namespace tusk::sdk {

namespace {

struct Alive {
  int32_t sentence;
  Hypothesis hyp;
};

double normalised(double logprob, size_t length, float penalty) {
  return penalty == 0.0f ? logprob : logprob / std::pow(static_cast<double>(length), penalty);
}

// Feeds the forced prefix [decoder_start, target_language]; the second step's output is the
// distribution of the first generated token.
void feed_prefix(Decoder& decoder, int sentences, int32_t start_id, int32_t lang_id,
                 Activations& logprobs) {
  std::vector<int32_t> hyp_sentence(sentences);
  std::iota(hyp_sentence.begin(), hyp_sentence.end(), 0);
  decoder.step(std::vector<int32_t>(sentences, start_id), hyp_sentence, 0, nullptr);
  decoder.step(std::vector<int32_t>(sentences, lang_id), hyp_sentence, 1, &logprobs);
}

std::vector<Hypothesis> greedy(Decoder& decoder, int sentences, int32_t start_id,
                               int32_t lang_id, int32_t eos_id, const SearchOptions& o) {
  std::vector<Hypothesis> done(sentences);
  Activations logprobs;
  feed_prefix(decoder, sentences, start_id, lang_id, logprobs);
  std::vector<int32_t> alive(sentences);  // sentence of each live hypothesis
  std::iota(alive.begin(), alive.end(), 0);
  for (int step = 2;; ++step) {
    std::vector<int32_t> parents, next_tokens, next_alive;
    for (size_t j = 0; j < alive.size(); ++j) {
      const float* row = logprobs.row(static_cast<int64_t>(j));
      const int32_t tok = first_argmax(row, logprobs.cols());
      Hypothesis& h = done[alive[j]];
      h.ids.push_back(tok);
      h.logprobs.push_back(row[tok]);
      h.logprob += row[tok];
      if (tok == eos_id || static_cast<int>(h.ids.size()) >= o.max_generated) continue;
      parents.push_back(static_cast<int32_t>(j));
      next_tokens.push_back(tok);
      next_alive.push_back(alive[j]);
    }
    if (parents.empty()) break;
    if (parents.size() != alive.size()) decoder.reorder(parents);
    alive.swap(next_alive);
    decoder.step(next_tokens, alive, step, &logprobs);
  }
  return done;
}

std::vector<Hypothesis> beam(Decoder& decoder, int sentences, int32_t start_id, int32_t lang_id,
                             int32_t eos_id, const SearchOptions& o) {
  const int K = o.beam_size;
  Activations logprobs;
  feed_prefix(decoder, sentences, start_id, lang_id, logprobs);

  std::vector<Alive> alive;
  for (int s = 0; s < sentences; ++s) alive.push_back({s, {}});
  std::vector<std::vector<Hypothesis>> finished(sentences);

  struct Candidate {
    double score;
    int32_t parent, token;
  };
  std::vector<Candidate> cands;
  for (int step = 2;; ++step) {
    const int64_t V = logprobs.cols();
    std::vector<Alive> next;
    std::vector<int32_t> parents, next_tokens, hyp_sentence;
    // alive is grouped by sentence, in sentence order.
    for (size_t first = 0; first < alive.size();) {
      const int32_t s = alive[first].sentence;
      size_t last = first;
      while (last < alive.size() && alive[last].sentence == s) ++last;

      cands.clear();
      for (size_t j = first; j < last; ++j) {
        const float* row = logprobs.row(static_cast<int64_t>(j));
        for (int64_t v = 0; v < V; ++v)
          cands.push_back({alive[j].hyp.logprob + row[v], static_cast<int32_t>(j),
                           static_cast<int32_t>(v)});
      }
      const size_t keep = std::min(cands.size(), static_cast<size_t>(2 * K));
      std::partial_sort(cands.begin(), cands.begin() + keep, cands.end(),
                        [](const Candidate& a, const Candidate& b) { return a.score > b.score; });

      int kept = 0;
      double best_alive = -std::numeric_limits<double>::infinity();
      for (size_t c = 0; c < keep && kept < K; ++c) {
        const Candidate& cand = cands[c];
        Hypothesis h = alive[cand.parent].hyp;
        const float lp = logprobs.row(cand.parent)[cand.token];
        h.ids.push_back(cand.token);
        h.logprobs.push_back(lp);
        h.logprob = cand.score;
        if (cand.token == eos_id || static_cast<int>(h.ids.size()) >= o.max_generated) {
          finished[s].push_back(std::move(h));
          continue;
        }
        best_alive = std::max(best_alive, h.logprob);
        parents.push_back(cand.parent);
        next_tokens.push_back(cand.token);
        hyp_sentence.push_back(s);
        next.push_back({s, std::move(h)});
        ++kept;
      }
      // Done when no live hypothesis can still beat the best finished one. Without a length
      // penalty this is exact: log-probs only fall as hypotheses grow. With a penalty the
      // exact bound (normalising at the maximum length) would almost never stop early, so,
      // like common practice, the live score is normalised at its current length: an estimate.
      bool done = kept == 0;
      if (!done && !finished[s].empty()) {
        double best_finished = -std::numeric_limits<double>::infinity();
        for (const auto& f : finished[s])
          best_finished = std::max(best_finished, normalised(f.logprob, f.ids.size(), o.length_penalty));
        const size_t live_length = static_cast<size_t>(step);  // generated tokens so far
        done = normalised(best_alive, live_length, o.length_penalty) <= best_finished;
      }
      if (done) {
        // Drop this sentence's live hypotheses.
        while (!next.empty() && next.back().sentence == s) {
          next.pop_back();
          parents.pop_back();
          next_tokens.pop_back();
          hyp_sentence.pop_back();
        }
      }
      first = last;
    }
    if (next.empty()) break;
    decoder.reorder(parents);
    alive.swap(next);
    decoder.step(next_tokens, hyp_sentence, step, &logprobs);
  }

  std::vector<Hypothesis> best(sentences);
  for (int s = 0; s < sentences; ++s) {
    double best_score = -std::numeric_limits<double>::infinity();
    for (auto& h : finished[s]) {
      const double score = normalised(h.logprob, h.ids.size(), o.length_penalty);
      if (score > best_score) {
        best_score = score;
        best[s] = h;
      }
    }
  }
  return best;
}

}  // namespace

std::vector<Hypothesis> search(Decoder& decoder, int sentences, int32_t decoder_start_id,
                               int32_t target_language_id, int32_t eos_id,
                               const SearchOptions& options) {
  if (options.beam_size <= 1)
    return greedy(decoder, sentences, decoder_start_id, target_language_id, eos_id, options);
  return beam(decoder, sentences, decoder_start_id, target_language_id, eos_id, options);
}

}  // namespace tusk::sdk
