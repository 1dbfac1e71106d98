// The seam between MoE layers and expert storage. A layer asks for an expert, uses the pinned
// weights, and the pin is released when the handle goes out of scope. This first source keeps
// every expert resident (decoded once at load); the paging work replaces it with a cache
// bounded by a byte budget without touching the layer code.
#pragma once

#include <map>
#include <memory>
#include <tuple>

#include "model_format/model_file.h"
#include "sdk/weights.h"

namespace tusk::sdk {

// fc1 [ffn, d_model] and fc2 [d_model, ffn]; fc2 already carries (1 - moe_token_dropout).
struct ExpertFfn {
  LinearWeights fc1, fc2;
};

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
  ~PinnedExpert();
  const ExpertFfn& operator*() const { return *ffn_; }
  const ExpertFfn* operator->() const { return ffn_; }

 private:
  ExpertSource* source_;
  const ExpertFfn* ffn_;
  void* token_;
};

class ExpertSource {
 public:
  virtual ~ExpertSource() = default;
  // Thread-safe.
  virtual PinnedExpert acquire(format::Stack stack, int layer, int expert) = 0;

 protected:
  friend class PinnedExpert;
  virtual void release(void* token) = 0;
};

// Every expert of every sparse layer decoded at construction and kept.
class ResidentExpertSource final : public ExpertSource {
 public:
  explicit ResidentExpertSource(const format::ModelFile& file);
  PinnedExpert acquire(format::Stack stack, int layer, int expert) override;

 protected:
  void release(void*) override {}

 private:
  struct Entry {
    format::ExpertWeights weights;
    ExpertFfn ffn;
  };
  std::map<std::tuple<int, int, int>, Entry> experts_;
};

}  // namespace tusk::sdk
