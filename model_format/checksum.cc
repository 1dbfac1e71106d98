// checksum64: four independent 64-bit lanes eat one 8-byte word each per 32-byte stripe, so
// the multiplies of different lanes overlap in the CPU; a finalizer then folds the lanes, the
// tail and the length together.
//
// Every step is a bijection of a lane's state for a fixed input word, and of the input word for
// a fixed state (odd multipliers, rotations and additions), and the fold is a bijection of each
// lane. So changing any single 8-byte word of the input always changes the result, not merely
// with high probability; the final avalanche spreads the difference over all 64 bits.
#include "model_format/checksum.h"

#include <cstring>

namespace tusk::format {
namespace {

// Odd "nothing up my sleeve" constants: fractional bits of the square roots of 2, 3, 5, 7
// (the first forced odd).
constexpr uint64_t kPrime1 = 0x6A09E667F3BCC909ULL;
constexpr uint64_t kPrime2 = 0xBB67AE8584CAA73BULL;
constexpr uint64_t kPrime3 = 0x3C6EF372FE94F82BULL;
constexpr uint64_t kPrime4 = 0xA54FF53A5F1D36F1ULL;

inline uint64_t rotate_left(uint64_t x, int bits) { return (x << bits) | (x >> (64 - bits)); }

inline uint64_t load_word(const unsigned char* p) {
  uint64_t word;
  std::memcpy(&word, p, sizeof(word));
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
  word = __builtin_bswap64(word);
#endif
  return word;
}

// One lane step. The word's multiply does not depend on the lane state, so only the add,
// rotate and multiply sit on the lane's dependency chain.
inline uint64_t absorb(uint64_t lane, uint64_t word) {
  return rotate_left(lane + word * kPrime2, 29) * kPrime1;
}

// xorshift-multiply avalanche: every input bit affects every output bit.
inline uint64_t avalanche(uint64_t h) {
  h ^= h >> 32;
  h *= kPrime3;
  h ^= h >> 29;
  h *= kPrime4;
  h ^= h >> 32;
  return h;
}

}  // namespace

uint64_t checksum64(const void* data, size_t size) {
  const auto* p = static_cast<const unsigned char*>(data);
  uint64_t lanes[4] = {kPrime1, kPrime2, kPrime3, kPrime4};

  size_t remaining = size;
  while (remaining >= 32) {
    lanes[0] = absorb(lanes[0], load_word(p));
    lanes[1] = absorb(lanes[1], load_word(p + 8));
    lanes[2] = absorb(lanes[2], load_word(p + 16));
    lanes[3] = absorb(lanes[3], load_word(p + 24));
    p += 32;
    remaining -= 32;
  }
  // Whole words of the tail go to the lanes in order, then the last partial word (zero padded;
  // the length folded in below tells "ab" from "ab\0").
  int lane = 0;
  while (remaining >= 8) {
    lanes[lane] = absorb(lanes[lane], load_word(p));
    ++lane;
    p += 8;
    remaining -= 8;
  }
  if (remaining > 0) {
    unsigned char last[8] = {};
    std::memcpy(last, p, remaining);
    lanes[lane] = absorb(lanes[lane], load_word(last));
  }

  uint64_t h = static_cast<uint64_t>(size) * kPrime4;
  for (uint64_t value : lanes) h = rotate_left(h ^ value, 23) * kPrime3 + kPrime2;
  return avalanche(h);
}

}  // namespace tusk::format
