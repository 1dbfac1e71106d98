// argmax_log_softmax's first-maximum rule where the CPU backend's lanes make it subtle: every length
// around the lane count, ties among lanes and the tail.
#include <gtest/gtest.h>

#include <limits>
#include <random>
#include <vector>

#include "backends/backend.h"

namespace {

int32_t first_argmax(const float* row, int64_t n) {
  static const auto backend = tusk::backends::make_cpu_backend(1);
  int32_t id = -1;
  float logprob = 0.0f;
  backend->argmax_log_softmax({row, 1, n, n}, -1, &id, &logprob);
  return id;
}

int32_t reference(const std::vector<float>& row) {
  int32_t best = 0;
  for (size_t v = 1; v < row.size(); ++v)
    if (row[v] > row[best]) best = static_cast<int32_t>(v);
  return best;
}

}  // namespace

// Every length around the 16 lanes and a vocabulary's, values drawn from a few levels so the
// maximum repeats (the first must win, wherever the copies fall among lanes and the tail).
TEST(FirstArgmax, MatchesTheFirstMaximumWithTies) {
  std::mt19937 rng(3);
  std::vector<int64_t> lengths;
  for (int64_t n = 1; n <= 70; ++n) lengths.push_back(n);
  lengths.push_back(8000);
  lengths.push_back(8003);
  for (int64_t n : lengths)
    for (int levels : {2, 5, 1000}) {
      std::uniform_int_distribution<int> level(0, levels - 1);
      for (int rep = 0; rep < 20; ++rep) {
        std::vector<float> row(static_cast<size_t>(n));
        for (auto& x : row) x = -0.5f * static_cast<float>(level(rng));
        ASSERT_EQ(first_argmax(row.data(), n), reference(row)) << "n=" << n << " levels=" << levels;
      }
    }
}

TEST(FirstArgmax, EdgeRows) {
  const float inf = std::numeric_limits<float>::infinity();
  EXPECT_EQ(first_argmax(nullptr, 0), 0);
  std::vector<float> all_neg_inf(40, -inf);
  EXPECT_EQ(first_argmax(all_neg_inf.data(), 40), 0);
  all_neg_inf[37] = -1e30f;
  EXPECT_EQ(first_argmax(all_neg_inf.data(), 40), 37);
  std::vector<float> last(33, 1.0f);
  last[32] = 2.0f;  // in the tail, after 2 full lane rounds
  EXPECT_EQ(first_argmax(last.data(), 33), 32);
}
