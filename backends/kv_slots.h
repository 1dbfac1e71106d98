// The host-side bookkeeping of a KvCache (CPU and CUDA alike). Its memory is `slots` slots of
// `capacity` steps of one [width] row each: a hypothesis owns a slot and its keys are that
// slot's first `length` rows, one contiguous range. A step's rows arrive together ([hyps,
// width], the decoder's product) and are copied into the slots (commit). So search changes the
// hypotheses without moving the others' keys: a dropped hypothesis frees its slot, an admitted
// one (continuous batching, parent -1) takes a free slot, a kept one keeps its slot, and only a
// duplicate (beam search) copies its parent's rows. The slots and their capacity grow by
// doubling (one relayout into a new buffer); clear() lets a layout far larger than the last
// batch needed go, so one long sentence does not make every later batch's cache that long.
//
// A cache computes a change on a copy of its KvSlots and adopts it only once the buffers are
// in place, so a failed allocation leaves the books and the buffers as they were.
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

#include "backends/backend.h"
#include "backends/op_checks.h"

namespace tusk::backends {

class KvSlots {
 public:
  // Rows to copy: `rows` rows from src_row on to dst_row on.
  struct Copy {
    int64_t src_row, dst_row, rows;
  };
  // What a change needs done, in order: with relayout, a new buffer of rows() rows receives
  // relayout_copies from the old one (which is then dropped); then `within` copies inside
  // the (new) buffer.
  struct Moves {
    bool relayout = false;
    std::vector<Copy> relayout_copies, within;
  };

  void clear() {
    if (peak_rows_ > 0 && rows() > 4 * peak_rows_) slots_ = capacity_ = 0;  // the next append relays out
    peak_rows_ = 0;
    free_all();
  }

  // One more step for `hyps` hypotheses (as many as held, unless none has a step: then the
  // cache starts over with `hyps` new ones). Afterwards hypothesis j's new row is row_of(j).
  Moves append(int64_t hyps) {
    Moves m;
    if (steps() == 0 && hyps != this->hyps()) {
      checks::kv_append(hyps, 0, 0);
      free_all();
      m = claim_slots(hyps);
      for (int64_t j = 0; j < hyps; ++j) {
        slot_.push_back(free_.back());
        free_.pop_back();
        length_.push_back(0);
      }
    }
    checks::kv_append(hyps, steps(), this->hyps());
    const int64_t need = steps() + 1;
    if (need > capacity_) {
      // (After a fresh start m holds no copies yet: its hypotheses had no rows to keep.)
      const int64_t grown = std::max(need, std::max<int64_t>(2 * capacity_, 16));
      m.relayout = true;
      for (size_t j = 0; j < slot_.size(); ++j)
        if (length_[j] > 0) m.relayout_copies.push_back({slot_[j] * capacity_, slot_[j] * grown, length_[j]});
      capacity_ = grown;
    }
    for (int64_t& n : length_) ++n;
    peak_rows_ = std::max(peak_rows_, hyps * steps());
    return m;
  }

  // Keeps hypotheses: new j continues old parents[j] (its slot, or a copy of its rows when an
  // earlier j took the slot), or starts empty where parents[j] is -1. Slots of the others are
  // freed.
  Moves reorder(const std::vector<int32_t>& parents) {
    const int64_t old_hyps = hyps();
    if (checks::kv_reorder(parents, old_hyps)) return {};
    std::vector<char> claimed(static_cast<size_t>(old_hyps), 0);
    std::vector<int64_t> slot(parents.size(), -1), length(parents.size(), 0);
    for (size_t j = 0; j < parents.size(); ++j) {
      const int32_t p = parents[j];
      if (p < 0 || claimed[static_cast<size_t>(p)]) continue;
      claimed[static_cast<size_t>(p)] = 1;
      slot[j] = slot_[static_cast<size_t>(p)];
      length[j] = length_[static_cast<size_t>(p)];
    }
    for (int64_t p = 0; p < old_hyps; ++p)
      if (!claimed[static_cast<size_t>(p)]) free_.push_back(slot_[static_cast<size_t>(p)]);
    int64_t wanted = 0;
    for (int64_t s : slot) wanted += s < 0;
    Moves m = claim_slots(wanted);
    for (size_t j = 0; j < parents.size(); ++j) {
      if (slot[j] >= 0) continue;
      slot[j] = free_.back();
      free_.pop_back();
      const int32_t p = parents[j];
      if (p < 0) continue;
      length[j] = length_[static_cast<size_t>(p)];  // a duplicate: its parent's rows copied
      if (length[j] > 0) m.within.push_back({slot_[static_cast<size_t>(p)] * capacity_, slot[j] * capacity_, length[j]});
    }
    slot_.swap(slot);
    length_.swap(length);
    return m;
  }

  int64_t hyps() const { return static_cast<int64_t>(slot_.size()); }
  // The longest hypothesis's steps.
  int64_t steps() const { return length_.empty() ? 0 : *std::max_element(length_.begin(), length_.end()); }
  int64_t rows() const { return slots_ * capacity_; }  // of the buffer
  int64_t row_of(int64_t j) const { return slot_[static_cast<size_t>(j)] * capacity_ + length_[static_cast<size_t>(j)] - 1; }
  KeyRange range(int64_t j) const { return {slot_[static_cast<size_t>(j)] * capacity_, length_[static_cast<size_t>(j)], 1}; }

 private:
  void free_all() {
    slot_.clear();
    length_.clear();
    free_.clear();
    for (int64_t s = slots_ - 1; s >= 0; --s) free_.push_back(s);
  }

  // Makes `count` slots free, growing the buffer's slots (a relayout that keeps every slot at
  // its index) when there are fewer.
  Moves claim_slots(int64_t count) {
    Moves m;
    if (static_cast<int64_t>(free_.size()) >= count) return m;
    const int64_t grown = std::max(slots_ + count - static_cast<int64_t>(free_.size()), std::max<int64_t>(2 * slots_, 4));
    if (capacity_ > 0)
      for (size_t j = 0; j < slot_.size(); ++j)
        if (length_[j] > 0) m.relayout_copies.push_back({slot_[j] * capacity_, slot_[j] * capacity_, length_[j]});
    m.relayout = true;
    std::vector<int64_t> added;  // in front: taken (from the back) after the free ones
    for (int64_t s = slots_; s < grown; ++s) added.push_back(s);
    free_.insert(free_.begin(), added.begin(), added.end());
    slots_ = grown;
    return m;
  }

  int64_t capacity_ = 0, slots_ = 0;        // steps a slot holds; slots in the buffer
  int64_t peak_rows_ = 0;                   // the most rows in use since clear()
  std::vector<int64_t> slot_, length_;      // per hypothesis
  std::vector<int64_t> free_;               // free slots (the next taken from the back)
};

}  // namespace tusk::backends
