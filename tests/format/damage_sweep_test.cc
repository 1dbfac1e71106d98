// A small brute-force sweep (fixed seeds, a few hundred cases each): truncations and random
// byte flips, some resealed so they get past the checksums. open() must succeed or throw
// tusk::Error; whatever opens must hand out only memory it owns (see touch_everything).
#include <gtest/gtest.h>

#include <random>

#include "tests/format/format_test_util.h"

namespace tusk::format::testing {
namespace {

enum class Outcome { Opened, Rejected };

// Opens `path`; any exception other than tusk::Error fails the test.
Outcome open_and_touch(const std::string& path, bool verify) {
  try {
    auto file = ModelFile::open(path, ModelFile::OpenOptions{verify});
    touch_everything(*file);
    return Outcome::Opened;
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
    return Outcome::Rejected;
  }
}

class DamageSweep : public ::testing::Test {
 protected:
  void SetUp() override {
    write_tiny_model(dir_.path("good.tusk"), make_tiny_model());
    good_ = read_bytes(dir_.path("good.tusk"));
  }
  ScratchDir dir_;
  Bytes good_;
  std::string path_ = dir_.path("damaged.tusk");
};

TEST_F(DamageSweep, EveryTruncationIsRejected) {
  int cases = 0;
  for (size_t size = 0; size < good_.size(); size += (size < 128 ? 1 : 29), ++cases) {
    write_bytes(path_, Bytes(good_.begin(), good_.begin() + size));
    EXPECT_EQ(open_and_touch(path_, true), Outcome::Rejected) << "size " << size;
  }
  EXPECT_GT(cases, 200);
}

TEST_F(DamageSweep, RandomFlipsAnywhere) {
  std::mt19937 rng(12345);
  int rejected = 0;
  for (int i = 0; i < 400; ++i) {
    Bytes bytes = good_;
    const int flips = 1 + static_cast<int>(rng() % 3);
    for (int f = 0; f < flips; ++f) {
      bytes[rng() % bytes.size()] ^= static_cast<unsigned char>(1 + rng() % 255);
    }
    write_bytes(path_, bytes);
    if (open_and_touch(path_, i % 2 == 0) == Outcome::Rejected) ++rejected;
  }
  // Most flips land in gaps, padding or expert frames (checked only at load); the rest must be
  // caught, and some always are.
  EXPECT_GT(rejected, 0);
}

// Flips inside the metadata with the checksums recomputed: exercises the FlatBuffers verifier
// and every index check on inputs the checksum would otherwise have stopped.
TEST_F(DamageSweep, ResealedMetadataFlips) {
  std::mt19937 rng(777);
  const uint64_t start = metadata_offset(good_), size = metadata_size(good_);
  int opened = 0, rejected = 0;
  for (int i = 0; i < 600; ++i) {
    Bytes bytes = good_;
    const int flips = 1 + static_cast<int>(rng() % 2);
    for (int f = 0; f < flips; ++f) {
      bytes[start + rng() % size] ^= static_cast<unsigned char>(1u << (rng() % 8));
    }
    reseal(bytes);
    write_bytes(path_, bytes);
    (open_and_touch(path_, true) == Outcome::Opened ? opened : rejected)++;
  }
  EXPECT_GT(rejected, 0);
  RecordProperty("opened", opened);
  RecordProperty("rejected", rejected);
}

// Same, but in a metadata without the big opaque tokenizer, so nearly every flip hits structure.
TEST_F(DamageSweep, ResealedFlipsInATokenizerFreeModel) {
  const TinyModel m = make_tiny_model();
  {
    ModelWriter writer(dir_.path("small.tusk"));
    writer.set_config(m.config);
    writer.add_language({"en", "eng_Latn", 20});
    writer.add_dense({"norm.weight", DType::F32, {8}, m.norm.data()});
    writer.add_expert(Stack::Decoder, 0, 1,
                      {{"fc1.weight", DType::F32, {16, 8}, m.zeros_fc1.data()},
                       {"fc1.bias", DType::F32, {16}, m.bias_fc1.data()}},
                      3);
    writer.finish();
  }
  const Bytes small = read_bytes(dir_.path("small.tusk"));
  std::mt19937 rng(4242);
  const uint64_t start = metadata_offset(small), size = metadata_size(small);
  int rejected = 0;
  for (int i = 0; i < 600; ++i) {
    Bytes bytes = small;
    bytes[start + rng() % size] ^= static_cast<unsigned char>(1 + rng() % 255);
    reseal(bytes);
    write_bytes(path_, bytes);
    if (open_and_touch(path_, i % 2 == 0) == Outcome::Rejected) ++rejected;
  }
  EXPECT_GT(rejected, 100);
}

}  // namespace
}  // namespace tusk::format::testing
