// Several source sentences packed back to back without padding: position-wise ops run on all
// tokens at once, attention runs per sentence on its slice.
#pragma once

#include <cstdint>
#include <vector>

namespace tusk::sdk {

struct SourceBatch {
  std::vector<int32_t> ids;          // all sentences' ids concatenated
  std::vector<int64_t> offsets{0};   // sentence i is ids[offsets[i], offsets[i+1])

  void add(const std::vector<int32_t>& sentence) {
    ids.insert(ids.end(), sentence.begin(), sentence.end());
    offsets.push_back(static_cast<int64_t>(ids.size()));
  }
  int size() const { return static_cast<int>(offsets.size()) - 1; }
  int64_t tokens() const { return static_cast<int64_t>(ids.size()); }
  int64_t begin(int i) const { return offsets[i]; }
  int64_t length(int i) const { return offsets[i + 1] - offsets[i]; }
};

}  // namespace tusk::sdk
