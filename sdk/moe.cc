#include "sdk/moe.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

namespace tusk::sdk {

namespace {

constexpr int64_t kDirectPredictRows = 8;

// The router's two picks from one row of E logits: the first maximum (like torch.argmax), then
// the maximum of the others. second is -1 when E == 1.
void top2(const float* l, int E, int* first, int* second) {
  int e1 = 0;
  for (int e = 1; e < E; ++e)
    if (l[e] > l[e1]) e1 = e;
  int e2 = -1;
  for (int e = 0; e < E; ++e)
    if (e != e1 && (e2 < 0 || l[e] > l[e2])) e2 = e;
  *first = e1;
  *second = e2;
}

}  // namespace

// Router semantics of NLLB-MoE at eval: p = softmax(logits) in fp32; first expert = argmax p;
// second = argmax of the logits with the first masked; gates renormalised over the pair.
void MoeLayer::route(Backend& backend, const RouterWeights& router, MatrixView x) {
  const int E = router.experts;
  auto logits = logits_.shape(x.rows, E);
  backend.linear(x, router.weight, E, nullptr, backends::Activation::None, logits);
  routes_.resize(x.rows);
  for (int64_t t = 0; t < x.rows; ++t) {
    const float* l = logits.data + t * logits.ld;
    int e1, e2;
    top2(l, E, &e1, &e2);
    float sum = 0.0f;
    for (int e = 0; e < E; ++e) sum += std::exp(l[e] - l[e1]);
    const float p1 = 1.0f / sum, p2 = std::exp(l[e2] - l[e1]) / sum;
    const float den = std::max(p1 + p2, std::numeric_limits<float>::epsilon());
    routes_[t] = {{e1, e2}, {p1 / den, p2 / den}};
  }
}

const std::vector<int>& MoeLayer::predict(Backend& backend, const MoeLookahead& next, MatrixView x) {
  predicted_.clear();
  if (next.router) {
    const int E = next.router->experts;
    auto logits = next_logits_.shape(x.rows, E);
    if (x.rows <= kDirectPredictRows) {
      // A few decode rows: a plain loop beats a library call's dispatch. Only a prediction,
      // so its rounding may differ from the backend's.
      for (int64_t t = 0; t < x.rows; ++t)
        for (int e = 0; e < E; ++e) {
          const float* w = next.router->weight + static_cast<int64_t>(e) * x.cols;
          const float* xr = x.data + t * x.ld;
          float sum = 0.0f;
          for (int64_t j = 0; j < x.cols; ++j) sum += xr[j] * w[j];
          logits.data[t * logits.ld + e] = sum;
        }
    } else {
      backend.linear(x, next.router->weight, E, nullptr, backends::Activation::None, logits);
    }
    votes_.assign(E, {0, 0});
    for (int e = 0; e < E; ++e) votes_[e].second = e;
    for (int64_t t = 0; t < x.rows; ++t) {
      int e1, e2;
      top2(logits.data + t * logits.ld, E, &e1, &e2);
      --votes_[e1].first;
      if (e2 >= 0) --votes_[e2].first;
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

  groups_.resize(router.experts);
  for (auto& g : groups_) g.clear();
  for (int64_t t = 0; t < T; ++t)
    for (int slot = 0; slot < 2; ++slot) groups_[routes_[t].expert[slot]].push_back({t, slot});
  used_.clear();
  for (int e = 0; e < router.experts; ++e)
    if (!groups_[e].empty()) used_.push_back(e);
  if (experts.wants_hints()) {
    experts.hint(stack, layer, used_, ExpertHint::Now);
    if (next.layer >= 0) experts.hint(stack, next.layer, predict(backend, next, x), ExpertHint::Soon);
  }

  // Each token's two expert outputs land in separate slots so they combine in the reference's
  // order (first expert, then second) whatever order the experts run in.
  auto slot0 = slot_out_[0].shape(T, d), slot1 = slot_out_[1].shape(T, d);
  for (int e = 0; e < router.experts; ++e) {
    const auto& group = groups_[e];
    if (group.empty()) continue;
    const int64_t n = static_cast<int64_t>(group.size());
    auto in = gathered_.shape(n, d);
    for (int64_t i = 0; i < n; ++i)
      std::memcpy(in.data + i * d, x.data + group[i].first * x.ld, d * sizeof(float));

    PinnedExpert expert = experts.acquire(stack, layer, e);
    auto h = hidden_.shape(n, expert->fc1.out);
    linear(backend, expert->fc1, as_const(in), h, backends::Activation::Relu);
    auto y = expert_out_.shape(n, d);
    linear(backend, expert->fc2, as_const(h), y);
    expert.release_after(backend.fence());  // its bytes stay until the backend is done with them

    for (int64_t i = 0; i < n; ++i) {
      auto& slot = group[i].second == 0 ? slot0 : slot1;
      std::memcpy(slot.data + group[i].first * d, y.data + i * d, d * sizeof(float));
    }
  }

  for (int64_t t = 0; t < T; ++t) {
    const float g1 = routes_[t].gate[0], g2 = routes_[t].gate[1];
    const float* a = slot0.data + t * d;
    const float* b = slot1.data + t * d;
    float* o = out.data + t * out.ld;
    for (int64_t j = 0; j < d; ++j) o[j] = g1 * a[j] + g2 * b[j];
  }
}

}  // namespace tusk::sdk
