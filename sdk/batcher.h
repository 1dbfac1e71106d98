// Groups sentences into batches: longest first (so padding-free packing also balances decode
// lengths), at most max_sentences per batch and at most max_tokens source tokens per batch
// (a single longer sentence still gets a batch of its own).
#pragma once

#include <cstdint>
#include <vector>

namespace tusk::sdk {

std::vector<std::vector<int>> make_batches(const std::vector<int64_t>& lengths,
                                           int max_sentences, int64_t max_tokens);

}  // namespace tusk::sdk
