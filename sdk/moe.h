// The sparse FFN: an fp32 top-2 router, tokens grouped per expert, each expert run once on its
// group, outputs combined with renormalised gates. Expert weights come only through the
// ExpertSource seam.
#pragma once

#include <array>
#include <vector>

#include "sdk/expert_source.h"
#include "sdk/layers.h"

namespace tusk::sdk {

struct ExpertChoice {
  int first, second;
};

class MoeLayer {
 public:
  // out = sum over each token's two experts of gate * expert(x). When choices is non-null it
  // receives each token's [first, second] expert.
  void forward(Backend& backend, ExpertSource& experts, format::Stack stack, int layer,
               const RouterWeights& router, MatrixView x, MutableMatrixView out,
               std::vector<ExpertChoice>* choices = nullptr);

 private:
  struct Route {
    int expert[2];
    float gate[2];
  };
  void route(Backend& backend, const RouterWeights& router, MatrixView x);

  Activations logits_, gathered_, hidden_, expert_out_, slot_out_[2];
  std::vector<Route> routes_;
  std::vector<std::vector<std::pair<int64_t, int>>> groups_;  // per expert: (token, slot)
};

}  // namespace tusk::sdk
