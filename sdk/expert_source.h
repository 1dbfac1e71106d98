// The seam between MoE layers and expert storage. A layer asks for an expert, uses the pinned
// weights, and releases the pin with the backend's fence for the work that read them
// (release_after), or when the handle goes out of scope. A cache reuses an expert's memory
// only once that fence is done, so asynchronous backends never read freed or reloaded bytes. Two sources: every
// expert resident (ResidentExpertSource, below, shared by a model's translators) and a cache
// bounded by a byte budget (CachedExpertSource, sdk/expert_cache.h, one per translator).
#pragma once

#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <vector>

#include "backends/fence.h"
#include "model_format/model_file.h"
#include "sdk/expert_key.h"
#include "sdk/weights.h"

namespace tusk::sdk {

// fc1 [ffn, d_model] and fc2 [d_model, ffn]; fc2 already carries (1 - moe_token_dropout).
struct ExpertFfn {
  LinearWeights fc1, fc2;
};

// One expert decoded from its frame: the bytes, and the views of them the MoE layer runs on.
// Moving it keeps the views valid (the bytes stay where they are).
struct LoadedExpert {
  format::ExpertWeights weights;
  ExpertFfn ffn;
};

// Decodes one expert frame (checksum, zstd) and resolves fc1/fc2 against the model's shapes.
// Throws InvalidModel naming the expert if it is missing or damaged. Thread-safe. The second
// form decodes into `into`, reusing its bytes when the sizes match (see ModelFile::load_expert).
LoadedExpert decode_expert(const format::ModelFile& file, const ExpertKey& key);
// direct: read with O_DIRECT (format::ModelFile::load_expert).
void decode_expert(const format::ModelFile& file, const ExpertKey& key, LoadedExpert& into,
                   bool direct = false);

class ExpertSource;

// Keeps one expert pinned while alive.
class PinnedExpert {
 public:
  PinnedExpert(ExpertSource* source, const ExpertFfn* ffn, void* token)
      : source_(source), ffn_(ffn), token_(token) {}
  PinnedExpert(PinnedExpert&& o) noexcept : source_(o.source_), ffn_(o.ffn_), token_(o.token_) {
    o.source_ = nullptr;
  }
  PinnedExpert(const PinnedExpert&) = delete;
  PinnedExpert& operator=(const PinnedExpert&) = delete;
  PinnedExpert& operator=(PinnedExpert&&) = delete;
  ~PinnedExpert();  // releases with no outstanding work (the work is known to be done)
  // Ends the pin now; the expert's memory stays untouched until `work_done` completes.
  void release_after(backends::FencePtr work_done);
  const ExpertFfn& operator*() const { return *ffn_; }
  const ExpertFfn* operator->() const { return ffn_; }

 private:
  ExpertSource* source_;
  const ExpertFfn* ffn_;
  void* token_;
};

// What a hint says about the experts it names (ExpertSource::hint).
enum class ExpertHint {
  Now,   // the layer about to run acquires exactly these, in this order; replaces older hints
  Soon,  // predicted for a later layer (its router on the current hidden state, or the
         // experts the previous decoder step used there); adds to the latest Now
};

class ExpertSource {
 public:
  virtual ~ExpertSource() = default;
  // Thread-safe.
  virtual PinnedExpert acquire(format::Stack stack, int layer, int expert) = 0;

  // A pin only when the expert is in memory already: no load, no waiting, and no effect on
  // what the source keeps or counts (hits, misses, eviction order). For a tier above that
  // copies ahead of need (DeviceExpertTier's prefetch). Default: never.
  virtual std::optional<PinnedExpert> try_acquire(format::Stack, int, int) { return std::nullopt; }

  // How many experts may be pinned at once without a miss running out of room (at least 1):
  // the MoE layer runs at most this many per backend call.
  virtual int max_pinned() const = 0;

  // Sources that load ahead of need take hints; a hint never changes what acquire returns.
  // Callers skip the work of predicting when wants_hints() is false.
  virtual bool wants_hints() const { return false; }
  virtual void hint(format::Stack /*stack*/, int /*layer*/, const std::vector<int>& /*experts*/,
                    ExpertHint /*kind*/) {}

 protected:
  friend class PinnedExpert;
  // work_done: null, or the fence of the last work that read the expert.
  virtual void release(void* token, backends::FencePtr work_done) = 0;
};

// Every expert of every sparse layer decoded at construction and kept. Read-only afterwards, so
// any number of translators may share it.
class ResidentExpertSource final : public ExpertSource {
 public:
  explicit ResidentExpertSource(const format::ModelFile& file);
  PinnedExpert acquire(format::Stack stack, int layer, int expert) override;
  int max_pinned() const override { return std::numeric_limits<int>::max(); }  // all resident
  std::optional<PinnedExpert> try_acquire(format::Stack stack, int layer, int expert) override {
    return acquire(stack, layer, expert);
  }

 protected:
  void release(void*, backends::FencePtr) override {}  // nothing is ever evicted

 private:
  std::map<ExpertKey, LoadedExpert> experts_;
};

// Every expert of the model's sparse layers, encoder first, in (stack, layer, expert) order.
std::vector<ExpertKey> all_experts(const format::ModelConfig& config);

}  // namespace tusk::sdk
