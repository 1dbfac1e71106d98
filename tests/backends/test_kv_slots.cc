// KvSlots, the KV caches' host bookkeeping (backends/kv_slots.h), alone: what a change copies
// and how large the layout grows. The caches' contents are checked per backend in
// test_kv_cache.cc.
#include <gtest/gtest.h>

#include <vector>

#include "backends/kv_slots.h"

namespace tusk::backends {
namespace {

int64_t copied_rows(const KvSlots::Moves& m) {
  int64_t rows = 0;
  for (const KvSlots::Copy& c : m.within) rows += c.rows;
  return rows;
}

TEST(KvSlots, DroppingAndAdmittingCopiesNothing) {
  KvSlots slots;
  for (int step = 0; step < 5; ++step) slots.append(4);
  const KvSlots::Moves m = slots.reorder({3, 1, -1, -1});  // two dropped, two admitted
  EXPECT_FALSE(m.relayout);
  EXPECT_EQ(copied_rows(m), 0);
  EXPECT_EQ(slots.range(0).count, 5);
  EXPECT_EQ(slots.range(2).count, 0);
  EXPECT_EQ(slots.range(0).stride, 1);
}

TEST(KvSlots, ADuplicateCopiesItsParentsRowsOnce) {
  KvSlots slots;
  for (int step = 0; step < 3; ++step) slots.append(2);
  const KvSlots::Moves m = slots.reorder({0, 0, 0, 1});
  EXPECT_EQ(copied_rows(m), 2 * 3);  // two duplicates of hypothesis 0, 3 rows each
  const KeyRange a = slots.range(0), b = slots.range(1), c = slots.range(2);
  EXPECT_NE(a.begin, b.begin);
  EXPECT_NE(b.begin, c.begin);
  EXPECT_EQ(b.count, 3);
}

TEST(KvSlots, RangesNeverOverlap) {
  KvSlots slots;
  for (int step = 0; step < 40; ++step) {
    std::vector<int32_t> parents;
    for (int64_t j = 0; j < slots.hyps(); ++j)
      if ((j + step) % 5 != 0) parents.push_back(static_cast<int32_t>(j));
    while (parents.size() < 7) parents.push_back(-1);
    slots.reorder(parents);
    slots.append(static_cast<int64_t>(parents.size()));
    for (int64_t i = 0; i < slots.hyps(); ++i)
      for (int64_t j = i + 1; j < slots.hyps(); ++j) {
        const KeyRange a = slots.range(i), b = slots.range(j);
        EXPECT_TRUE(a.begin + a.count <= b.begin || b.begin + b.count <= a.begin);
      }
    for (int64_t j = 0; j < slots.hyps(); ++j) EXPECT_LE(slots.range(j).begin + slots.range(j).count, slots.rows());
  }
}

// One long sentence must not make every later batch's layout that long: clear() lets a layout
// four times larger than the batch needed go.
TEST(KvSlots, ClearLetsAnOversizedLayoutGo) {
  KvSlots slots;
  for (int step = 0; step < 300; ++step) slots.append(1);
  slots.clear();
  slots.clear();  // a second clear (a batch with no steps) keeps the decision
  for (int step = 0; step < 20; ++step) slots.append(128);
  EXPECT_LE(slots.rows(), 2 * 128 * 32);
  // A batch that used its layout keeps it: no relayout for the next one of the same size.
  slots.clear();
  const KvSlots::Moves m = slots.append(128);
  EXPECT_FALSE(m.relayout);
}

}  // namespace
}  // namespace tusk::backends
