#include "sdk/batcher.h"

#include <algorithm>
#include <numeric>

namespace tusk::sdk {

std::vector<std::vector<int>> make_batches(const std::vector<int64_t>& lengths,
                                           int max_sentences, int64_t max_tokens) {
  std::vector<int> order(lengths.size());
  std::iota(order.begin(), order.end(), 0);
  // Stable, so equal lengths keep input order and results are reproducible.
  std::stable_sort(order.begin(), order.end(),
                   [&](int a, int b) { return lengths[a] > lengths[b]; });
  std::vector<std::vector<int>> batches;
  int64_t tokens = 0;
  for (int i : order) {
    if (batches.empty() || static_cast<int>(batches.back().size()) >= max_sentences ||
        (tokens + lengths[i] > max_tokens && !batches.back().empty())) {
      batches.emplace_back();
      tokens = 0;
    }
    batches.back().push_back(i);
    tokens += lengths[i];
  }
  return batches;
}

}  // namespace tusk::sdk
