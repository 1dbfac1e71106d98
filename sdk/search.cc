#include "sdk/search.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <numeric>

#include "common/error.h"

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
                 Activations& scores, Decoder::Output what) {
  std::vector<int32_t> hyp_sentence(sentences);
  std::iota(hyp_sentence.begin(), hyp_sentence.end(), 0);
  decoder.step(std::vector<int32_t>(sentences, start_id), hyp_sentence, 0, nullptr);
  decoder.step(std::vector<int32_t>(sentences, lang_id), hyp_sentence, 1, &scores, what);
}

int max_generated(const SearchOptions& o, int sentence) {
  return o.sentence_max_generated.empty() ? o.max_generated
                                          : std::min(o.max_generated, o.sentence_max_generated[sentence]);
}

}  // namespace

bool guarded(const SearchOptions& o) { return o.no_repeat_ngram > 0 || o.repetition_penalty != 1.0f; }

void check_cancelled(const SearchOptions& o) {
  if (o.cancelled && o.cancelled())
    throw Error(ErrorCode::Cancelled, "the translation was cancelled (tusk_translator_cancel)");
}

void add_guard_edits(const std::vector<int32_t>& ids, int64_t row, const SearchOptions& o,
                     std::vector<backends::ScoreEdit>& edits, std::vector<int32_t>& banned,
                     std::vector<int32_t>& seen) {
  banned.clear();
  const size_t n = static_cast<size_t>(std::max(0, o.no_repeat_ngram));
  if (n > 0 && ids.size() + 1 >= n) {
    const auto suffix = ids.end() - static_cast<std::ptrdiff_t>(n - 1);  // the last n - 1 tokens
    for (size_t i = 0; i + n <= ids.size(); ++i)
      if (std::equal(ids.begin() + static_cast<std::ptrdiff_t>(i), ids.begin() + static_cast<std::ptrdiff_t>(i + n - 1),
                     suffix))
        banned.push_back(ids[i + n - 1]);
    std::sort(banned.begin(), banned.end());
    banned.erase(std::unique(banned.begin(), banned.end()), banned.end());
    for (int32_t t : banned) edits.push_back({row, t, 0.0f});
  }
  if (o.repetition_penalty != 1.0f) {
    seen.assign(ids.begin(), ids.end());
    std::sort(seen.begin(), seen.end());
    seen.erase(std::unique(seen.begin(), seen.end()), seen.end());
    for (int32_t t : seen)
      if (!std::binary_search(banned.begin(), banned.end(), t)) edits.push_back({row, t, o.repetition_penalty});
  }
}

namespace {

// The token a target prefix forces as the sentence's (generated + 1)-th, or -1.
int32_t forced_token(const SearchOptions& o, int sentence, size_t generated) {
  if (o.prefixes == nullptr) return -1;
  const std::vector<int32_t>& prefix = (*o.prefixes)[sentence];
  return generated < prefix.size() ? prefix[generated] : -1;
}


void stream(const SearchOptions& o, int sentence, const Hypothesis& h, bool finished) {
  if (o.on_token && !o.on_token(sentence, h, finished))
    throw Error(ErrorCode::Cancelled, "the translation was cancelled by its token callback");
}

// Every live hypothesis has step - 2 tokens when the step's distribution is read.
bool eos_allowed(int step, const SearchOptions& o) { return step - 2 >= o.min_generated; }

void suppress_early_eos(Decoder& decoder, Activations& logprobs, int step, int32_t eos_id,
                        const SearchOptions& o) {
  if (!eos_allowed(step, o))
    decoder.backend().fill_column(logprobs.view(), eos_id, -std::numeric_limits<float>::infinity());
}

std::vector<Hypothesis> greedy(Decoder& decoder, int sentences, int32_t start_id,
                               int32_t lang_id, int32_t eos_id, const SearchOptions& o) {
  std::vector<Hypothesis> done(sentences);
  Activations logits(decoder.backend());
  feed_prefix(decoder, sentences, start_id, lang_id, logits, Decoder::Output::Logits);
  std::vector<int32_t> alive(sentences);  // sentence of each live hypothesis
  std::iota(alive.begin(), alive.end(), 0);
  std::vector<int32_t> best(sentences);
  std::vector<float> best_logprob(sentences);
  std::vector<int32_t> parents, next_tokens, next_alive;  // per step, capacity reused
  std::vector<backends::ScoreEdit> edits;
  std::vector<int32_t> banned, seen;
  std::vector<backends::ScoreIndex> forced_entries;  // (row, best) then (row, forced) per forced row
  std::vector<float> forced_scores;
  for (int step = 2;; ++step) {
    check_cancelled(o);
    if (guarded(o)) {
      edits.clear();
      for (size_t j = 0; j < alive.size(); ++j)
        if (forced_token(o, alive[j], done[alive[j]].ids.size()) < 0)  // a forced token is never banned
          add_guard_edits(done[alive[j]].ids, static_cast<int64_t>(j), o, edits, banned, seen);
      decoder.backend().edit_scores(logits.view(), edits.data(), static_cast<int64_t>(edits.size()));
    }
    // The step's only download: each row's best token and its log-probability.
    decoder.backend().argmax_log_softmax(logits.cview(), eos_allowed(step, o) ? -1 : eos_id, best.data(),
                                         best_logprob.data());
    // Rows a target prefix forces take its token; its log-probability is the best one's plus
    // the difference of their logits (both read back).
    forced_entries.clear();
    for (size_t j = 0; j < alive.size(); ++j) {
      const int32_t forced = forced_token(o, alive[j], done[alive[j]].ids.size());
      if (forced < 0) continue;
      forced_entries.push_back({static_cast<int64_t>(j), best[j]});
      forced_entries.push_back({static_cast<int64_t>(j), forced});
    }
    if (!forced_entries.empty()) {
      forced_scores.resize(forced_entries.size());
      decoder.backend().read_scores(logits.cview(), forced_entries.data(), static_cast<int64_t>(forced_entries.size()),
                                    forced_scores.data());
      for (size_t e = 0; e < forced_entries.size(); e += 2) {
        const size_t j = static_cast<size_t>(forced_entries[e].row);
        best_logprob[j] += forced_scores[e + 1] - forced_scores[e];
        best[j] = static_cast<int32_t>(forced_entries[e + 1].column);
      }
    }
    parents.clear();
    next_tokens.clear();
    next_alive.clear();
    for (size_t j = 0; j < alive.size(); ++j) {
      const int32_t tok = best[j];
      Hypothesis& h = done[alive[j]];
      h.ids.push_back(tok);
      h.logprobs.push_back(best_logprob[j]);
      h.logprob += best_logprob[j];
      const bool finished = tok == eos_id || static_cast<int>(h.ids.size()) >= max_generated(o, alive[j]);
      stream(o, alive[j], h, finished);
      if (finished) continue;
      parents.push_back(static_cast<int32_t>(j));
      next_tokens.push_back(tok);
      next_alive.push_back(alive[j]);
    }
    if (parents.empty()) break;
    if (parents.size() != alive.size()) decoder.reorder(parents);
    alive.swap(next_alive);
    decoder.step(next_tokens, alive, step, &logits, Decoder::Output::Logits);
  }
  return done;
}

std::vector<std::vector<Hypothesis>> beam(Decoder& decoder, int sentences, int32_t start_id, int32_t lang_id,
                             int32_t eos_id, const SearchOptions& o) {
  const int K = o.beam_size;
  Activations logprobs(decoder.backend());
  feed_prefix(decoder, sentences, start_id, lang_id, logprobs, Decoder::Output::LogProbs);

  std::vector<Alive> alive;
  for (int s = 0; s < sentences; ++s) alive.push_back({s, {}});
  std::vector<std::vector<Hypothesis>> finished(sentences);

  // Per sentence, the 2K best extensions of its live hypotheses: with K kept alive and up to
  // K finishing, 2K always leave K to keep.
  std::vector<double> base;
  std::vector<int64_t> group_begin, counts;
  std::vector<backends::BeamCandidate> cands;
  std::vector<backends::ScoreEdit> edits;
  std::vector<int32_t> banned, seen;
  std::vector<double> scores;  // a sentence's finished scores (n-best's bar)
  for (int step = 2;; ++step) {
    check_cancelled(o);
    std::vector<Alive> next;
    std::vector<int32_t> parents, next_tokens, hyp_sentence;
    // alive is grouped by sentence, in sentence order: one group of rows per sentence.
    base.clear();
    group_begin.clear();
    for (size_t j = 0; j < alive.size(); ++j) {
      if (j == 0 || alive[j].sentence != alive[j - 1].sentence)
        group_begin.push_back(static_cast<int64_t>(j));
      base.push_back(alive[j].hyp.logprob);
    }
    group_begin.push_back(static_cast<int64_t>(alive.size()));
    const int64_t groups = static_cast<int64_t>(group_begin.size()) - 1;
    counts.resize(static_cast<size_t>(groups));
    suppress_early_eos(decoder, logprobs, step, eos_id, o);
    if (guarded(o)) {
      edits.clear();
      for (size_t j = 0; j < alive.size(); ++j)
        if (forced_token(o, alive[j].sentence, alive[j].hyp.ids.size()) < 0)  // a forced token is never banned
          add_guard_edits(alive[j].hyp.ids, static_cast<int64_t>(j), o, edits, banned, seen);
      decoder.backend().edit_scores(logprobs.view(), edits.data(), static_cast<int64_t>(edits.size()));
    }
    cands.resize(static_cast<size_t>(groups * 2 * K));
    // The step's only download: the candidates.
    decoder.backend().top_k(logprobs.cview(), base.data(), group_begin.data(), groups, 2 * K,
                            cands.data(), counts.data());
    // A sentence whose target prefix forces this token: its candidates are its rows extended
    // by that token (log-probabilities read back), best first.
    if (o.prefixes != nullptr) {
      for (int64_t g = 0; g < groups; ++g) {
        const size_t first = static_cast<size_t>(group_begin[g]);
        const int32_t forced = forced_token(o, alive[first].sentence, alive[first].hyp.ids.size());
        if (forced < 0) continue;
        std::vector<backends::ScoreIndex> entries;
        for (int64_t r = group_begin[g]; r < group_begin[g + 1]; ++r) entries.push_back({r, forced});
        std::vector<float> lp(entries.size());
        decoder.backend().read_scores(logprobs.cview(), entries.data(), static_cast<int64_t>(entries.size()), lp.data());
        backends::BeamCandidate* group_cands = cands.data() + g * 2 * K;
        int64_t n = 0;
        for (size_t e = 0; e < entries.size() && n < 2 * K; ++e, ++n)
          group_cands[n] = {base[static_cast<size_t>(entries[e].row)] + lp[e], static_cast<int32_t>(entries[e].row),
                            forced, lp[e]};
        std::sort(group_cands, group_cands + n,
                  [](const backends::BeamCandidate& a, const backends::BeamCandidate& b) { return a.score > b.score; });
        counts[static_cast<size_t>(g)] = n;
      }
    }
    for (int64_t g = 0; g < groups; ++g) {
      const size_t first = static_cast<size_t>(group_begin[g]);
      const int32_t s = alive[first].sentence;
      const backends::BeamCandidate* group_cands = cands.data() + g * 2 * K;
      const size_t keep = static_cast<size_t>(counts[g]);

      int kept = 0;
      double best_alive = -std::numeric_limits<double>::infinity();
      for (size_t c = 0; c < keep && kept < K; ++c) {
        const backends::BeamCandidate& cand = group_cands[c];
        Hypothesis h = alive[cand.row].hyp;
        h.ids.push_back(cand.token);
        h.logprobs.push_back(cand.logprob);
        h.logprob = cand.score;
        if (cand.token == eos_id || static_cast<int>(h.ids.size()) >= max_generated(o, s)) {
          finished[s].push_back(std::move(h));
          continue;
        }
        best_alive = std::max(best_alive, h.logprob);
        parents.push_back(cand.row);
        next_tokens.push_back(cand.token);
        hyp_sentence.push_back(s);
        next.push_back({s, std::move(h)});
        ++kept;
      }
      // Done when no live hypothesis can still beat the best finished one. Without a length
      // penalty this is exact: log-probs only fall as hypotheses grow. With a penalty the
      // exact bound (normalising at the maximum length) would almost never stop early, so,
      // like common practice, the live score is normalised at its current length: an estimate.
      // With n-best, against the n-th best finished one: until n have finished, go on.
      bool done = kept == 0;
      const size_t wanted = static_cast<size_t>(std::max(1, o.num_hypotheses));
      if (!done && finished[s].size() >= wanted) {
        scores.clear();
        for (const auto& f : finished[s]) scores.push_back(normalised(f.logprob, f.ids.size(), o.length_penalty));
        std::nth_element(scores.begin(), scores.begin() + static_cast<std::ptrdiff_t>(wanted - 1), scores.end(),
                         std::greater<double>());
        const double bar = scores[wanted - 1];
        const size_t live_length = static_cast<size_t>(step);  // generated tokens so far
        done = normalised(best_alive, live_length, o.length_penalty) <= bar;
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
    }
    if (next.empty()) break;
    decoder.reorder(parents);
    alive.swap(next);
    decoder.step(next_tokens, hyp_sentence, step, &logprobs);
  }

  // Each sentence's finished hypotheses by normalised score, best first (stable: ties keep
  // the order they finished in); the best num_hypotheses of them.
  std::vector<std::vector<Hypothesis>> best(sentences);
  for (int s = 0; s < sentences; ++s) {
    auto& f = finished[s];
    std::stable_sort(f.begin(), f.end(), [&](const Hypothesis& a, const Hypothesis& b) {
      return normalised(a.logprob, a.ids.size(), o.length_penalty) >
             normalised(b.logprob, b.ids.size(), o.length_penalty);
    });
    const size_t n = std::min(f.size(), static_cast<size_t>(std::max(1, o.num_hypotheses)));
    best[s].assign(std::make_move_iterator(f.begin()), std::make_move_iterator(f.begin() + n));
    if (best[s].empty()) best[s].emplace_back();
  }
  if (o.on_token)  // a beam's tokens are known once its search ends: each as a prefix
    for (int s = 0; s < sentences; ++s) {
      const Hypothesis& top = best[s][0];
      Hypothesis prefix;
      for (size_t i = 0; i < top.ids.size(); ++i) {
        prefix.ids.push_back(top.ids[i]);
        prefix.logprobs.push_back(top.logprobs[i]);
        prefix.logprob += top.logprobs[i];
        stream(o, s, prefix, i + 1 == top.ids.size());
      }
    }
  return best;
}

}  // namespace

std::vector<std::vector<Hypothesis>> search(Decoder& decoder, int sentences, int32_t decoder_start_id,
                                            int32_t target_language_id, int32_t eos_id,
                                            const SearchOptions& options) {
  if (options.beam_size > 1) return beam(decoder, sentences, decoder_start_id, target_language_id, eos_id, options);
  std::vector<std::vector<Hypothesis>> best;
  for (Hypothesis& h : greedy(decoder, sentences, decoder_start_id, target_language_id, eos_id, options))
    best.push_back({std::move(h)});
  return best;
}

}  // namespace tusk::sdk
