#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <random>
#include <set>
#include <vector>

#include "model_format/checksum.h"

namespace tusk::format {
namespace {

std::vector<unsigned char> random_bytes(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<unsigned char> v(n);
  for (auto& b : v) b = static_cast<unsigned char>(rng());
  return v;
}

// The value is part of the file format: changing the algorithm must fail this test.
TEST(Checksum, PinnedValues) {
  EXPECT_EQ(checksum64("", 0), 0x53a80cf584dfd2c4ULL) << std::hex << checksum64("", 0);
  EXPECT_EQ(checksum64("TUSK", 4), 0x762cafc321d8de28ULL) << std::hex << checksum64("TUSK", 4);
  const char text[] = "A man rides a bike down the street, past 64 bytes of text here.";
  EXPECT_EQ(checksum64(text, sizeof(text) - 1), 0x14545919433063f3ULL) << std::hex << checksum64(text, sizeof(text) - 1);
}

TEST(Checksum, EverySingleByteChangeChangesTheHash) {
  for (size_t size : {1u, 7u, 8u, 31u, 32u, 33u, 100u, 257u}) {
    std::vector<unsigned char> data = random_bytes(size, 1);
    const uint64_t original = checksum64(data.data(), data.size());
    for (size_t i = 0; i < size; ++i) {
      for (unsigned char flip : {0x01, 0x80, 0xff}) {
        data[i] ^= flip;
        EXPECT_NE(checksum64(data.data(), data.size()), original) << "size " << size << " byte " << i;
        data[i] ^= flip;
      }
    }
  }
}

TEST(Checksum, LengthMattersEvenForZeroBytes) {
  const std::vector<unsigned char> zeros(200, 0);
  std::set<uint64_t> seen;
  for (size_t n = 0; n <= zeros.size(); ++n) seen.insert(checksum64(zeros.data(), n));
  EXPECT_EQ(seen.size(), zeros.size() + 1);
}

TEST(Checksum, SwappedWordsDiffer) {
  std::vector<unsigned char> data = random_bytes(64, 2);
  const uint64_t original = checksum64(data.data(), data.size());
  std::swap_ranges(data.begin(), data.begin() + 8, data.begin() + 8);  // words 0 and 1: two lanes
  EXPECT_NE(checksum64(data.data(), data.size()), original);
  std::swap_ranges(data.begin(), data.begin() + 8, data.begin() + 8);
  std::swap_ranges(data.begin(), data.begin() + 8, data.begin() + 32);  // words 0 and 4: one lane
  EXPECT_NE(checksum64(data.data(), data.size()), original);
}

TEST(Checksum, IndependentOfAddressAlignment) {
  const std::vector<unsigned char> data = random_bytes(1000, 3);
  const uint64_t expected = checksum64(data.data(), data.size());
  std::vector<unsigned char> shifted(data.size() + 16);
  for (size_t shift = 1; shift < 16; ++shift) {
    std::memcpy(shifted.data() + shift, data.data(), data.size());
    EXPECT_EQ(checksum64(shifted.data() + shift, data.size()), expected) << shift;
  }
}

TEST(Checksum, FewCollisionsOnSimilarInputs) {
  std::set<uint64_t> seen;
  std::vector<unsigned char> data(48, 0);
  for (uint32_t i = 0; i < 100000; ++i) {
    std::memcpy(data.data() + 20, &i, sizeof(i));
    seen.insert(checksum64(data.data(), data.size()));
  }
  EXPECT_EQ(seen.size(), 100000u);
}

}  // namespace
}  // namespace tusk::format
