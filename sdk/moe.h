// The sparse FFN: an fp32 top-2 router, tokens grouped per expert, each expert run once on its
// group, outputs combined with renormalised gates. The math is the backend's (route_top2,
// expert_ffn: every expert of the layer in one call, combine_top2); this layer decides which
// expert runs on which rows and pages experts in through the ExpertSource seam, pinning as
// many at once as the source allows (ExpertSource::max_pinned).
#pragma once

#include <array>
#include <vector>

#include "sdk/expert_source.h"
#include "sdk/layers.h"

namespace tusk::sdk {

struct ExpertChoice {
  int first, second;
};

// What the sparse layer after this one may need, for expert sources that prefetch
// (ExpertSource::hint). Predictions only: they never change a result.
struct MoeLookahead {
  int layer = -1;                            // that layer (same stack); -1: no lookahead
  const RouterWeights* router = nullptr;     // its router, applied to this layer's input
  const std::vector<int>* recent = nullptr;  // experts it ran at the previous decoder step
};

// The first sparse layer after position i of a stack's layers, or null.
template <class Layers>
auto next_sparse_layer(const Layers& layers, size_t i) -> decltype(&layers[0]) {
  for (size_t j = i + 1; j < layers.size(); ++j)
    if (layers[j].sparse) return &layers[j];
  return nullptr;
}

class MoeLayer {
 public:
  explicit MoeLayer(Backend& backend)
      : logits_(backend), gathered_(backend), hidden_(backend), slots_(backend), next_logits_(backend) {}

  // out = sum over each token's two experts of gate * expert(x). When choices is non-null it
  // receives each token's [first, second] expert.
  // Before running its experts it hints the source (when the source wants hints): this
  // layer's experts (Now), then next's predicted ones (Soon).
  void forward(Backend& backend, ExpertSource& experts, format::Stack stack, int layer,
               const RouterWeights& router, MatrixView x, MutableMatrixView out,
               const MoeLookahead& next = {}, std::vector<ExpertChoice>* choices = nullptr);

  // The experts the latest forward ran, in index order.
  const std::vector<int>& used_experts() const { return used_; }

 private:
  void route(Backend& backend, const RouterWeights& router, MatrixView x);
  // Experts next's router picks (top-2) for the rows of x, most picked first, then next.recent.
  const std::vector<int>& predict(Backend& backend, const MoeLookahead& next, MatrixView x);

  Activations logits_, gathered_, hidden_;  // gathered_ also takes the experts' outputs
  Activations slots_;  // [2 * tokens, d]: each token's first expert's output, then its second's
  std::vector<backends::ExpertRoute> routes_;
  // Per expert: the token rows it runs on (gather) and where each output goes in slots_.
  std::vector<std::vector<int64_t>> group_tokens_, group_slots_;
  // All positions of a forward (expert after expert), the groups and pins of one call.
  std::vector<int64_t> position_rows_, position_slots_;
  std::vector<backends::ExpertGroup> groups_;
  std::vector<PinnedExpert> pins_;
  std::vector<int> used_, predicted_;
  std::vector<std::pair<int, int>> votes_;  // (-count, expert), for predict
  std::vector<backends::ExpertRoute> next_routes_;
  Activations next_logits_;
};

}  // namespace tusk::sdk
