#include "sdk/moe.h"

#include <algorithm>

namespace tusk::sdk {

void MoeLayer::route(Backend& backend, const RouterWeights& router, MatrixView x) {
  auto logits = logits_.shape(x.rows, router.experts);
  backend.linear(x, router.weight, router.experts, nullptr, backends::Activation::None, logits);
  routes_.resize(static_cast<size_t>(x.rows));
  backend.route_top2(as_const(logits), routes_.data());  // the layer's one download
}

const std::vector<int>& MoeLayer::predict(Backend& backend, const MoeLookahead& next, MatrixView x) {
  predicted_.clear();
  if (next.router) {
    const int E = next.router->experts;
    auto logits = next_logits_.shape(x.rows, E);
    backend.linear(x, next.router->weight, E, nullptr, backends::Activation::None, logits);
    next_routes_.resize(static_cast<size_t>(x.rows));
    backend.route_top2(as_const(logits), next_routes_.data());
    votes_.assign(E, {0, 0});
    for (int e = 0; e < E; ++e) votes_[e].second = e;
    for (const auto& r : next_routes_) {
      --votes_[r.expert[0]].first;
      --votes_[r.expert[1]].first;
    }
    std::sort(votes_.begin(), votes_.end());
    for (const auto& [count, e] : votes_)
      if (count < 0) predicted_.push_back(e);
  }
  if (next.recent)
    for (int e : *next.recent)
      if (std::find(predicted_.begin(), predicted_.end(), e) == predicted_.end()) predicted_.push_back(e);
  return predicted_;
}

void MoeLayer::forward(Backend& backend, ExpertSource& experts, format::Stack stack, int layer,
                       const RouterWeights& router, MatrixView x, MutableMatrixView out,
                       const MoeLookahead& next, std::vector<ExpertChoice>* choices) {
  const int64_t T = x.rows, d = x.cols;
  route(backend, router, x);
  if (choices) {
    choices->resize(T);
    for (int64_t t = 0; t < T; ++t) (*choices)[t] = {routes_[t].expert[0], routes_[t].expert[1]};
  }

  group_tokens_.resize(router.experts);
  group_slots_.resize(router.experts);
  for (int e = 0; e < router.experts; ++e) {
    group_tokens_[e].clear();
    group_slots_[e].clear();
  }
  // Each token's two expert outputs land in separate slots so they combine in the reference's
  // order (first expert, then second) whatever order the experts run in.
  for (int64_t t = 0; t < T; ++t)
    for (int slot = 0; slot < 2; ++slot) {
      const int e = routes_[t].expert[slot];
      group_tokens_[e].push_back(t);
      group_slots_[e].push_back(slot * T + t);
    }
  used_.clear();
  for (int e = 0; e < router.experts; ++e)
    if (!group_tokens_[e].empty()) used_.push_back(e);
  if (experts.wants_hints()) {
    experts.hint(stack, layer, used_, ExpertHint::Now);
    if (next.layer >= 0) experts.hint(stack, next.layer, predict(backend, next, x), ExpertHint::Soon);
  }

  // Positions: the used experts' tokens, expert after expert; the backend runs a chunk of
  // experts per call (all of them unless the source can pin fewer at once).
  position_rows_.clear();
  position_slots_.clear();
  for (int e : used_) {
    position_rows_.insert(position_rows_.end(), group_tokens_[e].begin(), group_tokens_[e].end());
    position_slots_.insert(position_slots_.end(), group_slots_[e].begin(), group_slots_[e].end());
  }
  auto slots = slots_.shape(2 * T, d);
  const size_t per_call = static_cast<size_t>(std::max(1, experts.max_pinned()));
  int64_t offset = 0;
  for (size_t first = 0; first < used_.size(); first += per_call) {
    const size_t last = std::min(used_.size(), first + per_call);
    groups_.clear();
    int64_t positions = 0, ffn = 0;
    for (size_t i = first; i < last; ++i) {
      pins_.push_back(experts.acquire(stack, layer, used_[i]));
      const ExpertFfn& expert = *pins_.back();
      const int64_t count = static_cast<int64_t>(group_tokens_[used_[i]].size());
      groups_.push_back({operand(expert.fc1), operand(expert.fc2), positions, count});
      positions += count;
      ffn = std::max(ffn, expert.fc1.out);
    }
    auto gathered = gathered_.shape(positions, d);
    auto hidden = hidden_.shape(positions, ffn);
    backend.expert_ffn(x, groups_.data(), static_cast<int64_t>(groups_.size()), position_rows_.data() + offset,
                       position_slots_.data() + offset, gathered, hidden, slots);
    const backends::FencePtr done = backend.fence();  // their bytes stay until the backend is done
    for (PinnedExpert& pin : pins_) pin.release_after(done);
    pins_.clear();
    offset += positions;
  }
  backend.combine_top2(slots_.rows(0, T), slots_.rows(T, T), routes_.data(), out);
}

}  // namespace tusk::sdk
