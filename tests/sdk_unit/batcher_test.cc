#include "sdk/batcher.h"

#include <gtest/gtest.h>

#include <algorithm>

using tusk::sdk::make_batches;

TEST(Batcher, SortsLongestFirstAndCoversEverySentenceOnce) {
  const std::vector<int64_t> lengths = {3, 9, 1, 9, 5};
  const auto batches = make_batches(lengths, 2, 1000);
  ASSERT_EQ(batches.size(), 3u);
  EXPECT_EQ(batches[0], (std::vector<int>{1, 3}));  // equal lengths keep input order
  EXPECT_EQ(batches[1], (std::vector<int>{4, 0}));
  EXPECT_EQ(batches[2], (std::vector<int>{2}));
}

TEST(Batcher, RespectsTokenBudgetButNeverDropsALongSentence) {
  const std::vector<int64_t> lengths = {50, 4, 4, 4};
  const auto batches = make_batches(lengths, 32, 10);
  ASSERT_EQ(batches.size(), 3u);
  EXPECT_EQ(batches[0], (std::vector<int>{0}));  // over budget alone: still translated
  EXPECT_EQ(batches[1], (std::vector<int>{1, 2}));
  EXPECT_EQ(batches[2], (std::vector<int>{3}));  // 4 + 4 + 4 = 12 > 10
}

TEST(Batcher, EmptyInputGivesNoBatches) {
  EXPECT_TRUE(make_batches({}, 4, 100).empty());
}
