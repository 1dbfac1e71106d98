// Translator::translate_continuous: continuous batching over a stream of requests pulled
// from the caller (sdk/continuous_search.h runs the decode).
#include <algorithm>
#include <deque>
#include <map>
#include <new>

#include "common/error.h"
#include "sdk/continuous_search.h"
#include "sdk/text_pieces.h"
#include "sdk/translator.h"

namespace tusk::sdk {

namespace {

// The ErrorCode a delivered failure carries.
int code_of(const std::exception& e) {
  if (const auto* error = dynamic_cast<const Error*>(&e)) return static_cast<int>(error->code());
  return static_cast<int>(dynamic_cast<const std::bad_alloc*>(&e) ? ErrorCode::OutOfMemory : ErrorCode::Internal);
}

}  // namespace

void Translator::translate_continuous(const PullRequest& pull, const DeliverRequest& deliver) {
  const uint64_t generation = cancel_generation_.load();  // a cancel while waiting for the lock counts
  const Model& model = *model_;  // (each request checks that the file is unchanged: take below)
  const auto& c = model.config();
  std::lock_guard<std::mutex> lock(mutex_);
  const SearchOptions o = base_search_options(generation);
  ContinuousSearch search(*encoder_, *decoder_, c.decoder_start_id, c.eos_id, o);

  // A request pulled and not yet delivered: its pieces, their translations as they finish.
  struct Request {
    uint64_t id;
    const format::Language* target;
    TextPieces pieces;
    std::vector<Translation> translated;
    size_t left = 0;  // pieces not yet translated
  };
  std::map<uint64_t, Request> requests;  // by the order pulled (keys are ours)
  uint64_t next_key = 0, next_tag = 0;
  std::map<uint64_t, std::pair<uint64_t, size_t>> owners;  // sentence tag -> (request key, piece)
  std::deque<StreamSentence> waiting;  // pieces pulled that the decoder has no room for yet
  const auto finish = [&](std::map<uint64_t, Request>::iterator it) {
    Request& r = it->second;
    std::vector<Translation> results = assemble_texts(r.pieces, r.translated, r.target->code);
    const uint64_t id = r.id;
    requests.erase(it);
    deliver(id, 0, std::string(), std::move(results));
  };
  // Takes one request: checked (the model file unchanged too), split and tokenized, then its
  // pieces queued all at once; a bad one is answered at once and leaves nothing behind.
  const auto take = [&](ContinuousRequest& in) {
    std::vector<StreamSentence> pieces;
    Request r{in.id, nullptr, {}, {}, 0};
    uint64_t key = 0;
    std::map<uint64_t, Request>::iterator it;
    try {
      if (in.texts.empty()) throw Error(ErrorCode::InvalidArgument, "a request has no texts: nothing to translate");
      model.file().check_unchanged();
      const auto& src_lang = language(model, in.src, "source");
      const auto& tgt_lang = language(model, in.tgt, "target");
      r.target = &tgt_lang;
      r.pieces = split_texts(model, src_lang.code, in.texts, options_.per_sentence_errors);
      r.translated.resize(r.pieces.pieces.size());
      for (size_t i = 0; i < r.pieces.pieces.size(); ++i) {
        const std::vector<int32_t> ids = model.tokenizer().encode(r.pieces.pieces[i]);
        if (ids.empty()) continue;  // blank translates to ""
        StreamSentence s;
        s.source = source_ids(src_lang, ids);
        cut_source(s.source);  // a piece longer than the model takes is cut
        s.target_language = tgt_lang.token_id;
        s.max_generated = generation_limit(s.source.size(), o);
        s.tag = i;  // the piece, until queued
        pieces.push_back(std::move(s));
      }
      r.left = pieces.size();
      key = next_key++;
      it = requests.emplace(key, std::move(r)).first;  // from here on the call's failure answers it
    } catch (const std::exception& e) {
      deliver(in.id, code_of(e), e.what(), {});
      return;
    }
    for (StreamSentence& s : pieces) {
      owners.emplace(next_tag, std::make_pair(key, static_cast<size_t>(s.tag)));
      s.tag = next_tag++;
      waiting.push_back(std::move(s));
    }
    if (it->second.left == 0) finish(it);
  };
  std::vector<std::pair<uint64_t, Hypothesis>> finished;
  try {
    for (;;) {
      // Admit while there is room: what waits first, then new requests (blocking only when
      // nothing is in flight; false then ends the call).
      for (;;) {
        const bool room = search.sentences() < static_cast<size_t>(std::max(1, options_.max_batch_size));
        if (!waiting.empty()) {
          const int64_t tokens = static_cast<int64_t>(waiting.front().source.size());
          if (!room || (search.sentences() > 0 && search.source_tokens() + tokens > options_.max_batch_tokens)) break;
          search.admit(std::move(waiting.front()));
          waiting.pop_front();
          continue;
        }
        if (!room) break;
        const bool idle = search.sentences() == 0 && requests.empty();
        ContinuousRequest in;
        if (!pull(idle, in)) {
          if (idle) return;
          break;
        }
        take(in);
      }
      if (search.sentences() == 0) continue;
      finished.clear();
      search.step(finished);
      for (auto& [tag, h] : finished) {
        const auto owner = owners.find(tag);
        const auto it = requests.find(owner->second.first);
        Translation& t = it->second.translated[owner->second.second];
        owners.erase(owner);
        Translation::Hypothesis best = translated(*it->second.target, std::move(h));
        t.ids = std::move(best.ids);
        t.logprobs = std::move(best.logprobs);
        t.score = best.score;
        t.text = std::move(best.text);
        if (--it->second.left == 0) finish(it);
      }
    }
  } catch (const std::exception& e) {  // every request in flight gets the error, then the caller
    for (auto& [key, r] : requests) deliver(r.id, code_of(e), e.what(), {});
    throw;
  }
}

}  // namespace tusk::sdk
