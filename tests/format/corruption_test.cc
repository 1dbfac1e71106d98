// Damaged files written by a correct writer: each must give a clear tusk::Error, never a crash.
#include <gtest/gtest.h>

#include <sys/stat.h>

#include "model_format/file_layout.h"
#include "model_format/metadata_reader.h"
#include "tests/format/format_test_util.h"

namespace tusk::format::testing {
namespace {

class Corruption : public ::testing::Test {
 protected:
  void SetUp() override {
    write_tiny_model(dir_.path("good.tusk"), make_tiny_model());
    good_ = read_bytes(dir_.path("good.tusk"));
    path_ = dir_.path("bad.tusk");
    FileExtent extent{good_.size(), metadata_offset(good_), metadata_size(good_)};
    records_ = read_metadata(good_.data() + extent.metadata_offset, extent, "good").records;
  }
  // Writes `bytes` as bad.tusk.
  void write(const Bytes& bytes) { write_bytes(path_, bytes); }
  const DenseTensorRecord& dense(const std::string& name) const {
    for (const auto& t : records_.tensors) {
      if (t.name == name) return t;
    }
    throw std::runtime_error("no tensor " + name);
  }

  ScratchDir dir_;
  Bytes good_;
  std::string path_;
  MetadataRecord records_;
};

TEST_F(Corruption, MissingFileIsIo) {
  expect_open_error(dir_.path("nope.tusk"), ErrorCode::Io, {"nope.tusk", "cannot open"});
}

TEST_F(Corruption, DirectoryIsIo) {
  ::mkdir(dir_.path("folder.tusk").c_str(), 0755);
  expect_open_error(dir_.path("folder.tusk"), ErrorCode::Io, {"folder.tusk", "not a regular file"});
}

TEST_F(Corruption, EmptyFile) {
  write({});
  expect_open_error(path_, ErrorCode::InvalidModel, {"bad.tusk", "empty"});
}

TEST_F(Corruption, TruncatedInsideTheHeader) {
  for (size_t size : {1u, 3u, 4u, 10u, 63u}) {
    write(Bytes(good_.begin(), good_.begin() + size));
    expect_open_error(path_, ErrorCode::InvalidModel, {"bad.tusk: file is truncated"});
  }
}

TEST_F(Corruption, TruncatedInTheWeights) {
  const size_t size = dense("embed").offset + 100;
  write(Bytes(good_.begin(), good_.begin() + size));
  expect_open_error(path_, ErrorCode::InvalidModel,
                    {"bad.tusk: file is truncated (header says " + std::to_string(good_.size()) +
                     " bytes, file has " + std::to_string(size) + ")"});
}

TEST_F(Corruption, TruncatedInTheMetadata) {
  for (size_t size : {metadata_offset(good_) + 10, good_.size() - 1}) {
    write(Bytes(good_.begin(), good_.begin() + size));
    expect_open_error(path_, ErrorCode::InvalidModel, {"file is truncated"});
  }
}

TEST_F(Corruption, TrailingBytes) {
  Bytes bytes = good_;
  bytes.push_back(0);
  write(bytes);
  expect_open_error(path_, ErrorCode::InvalidModel, {"after its end"});
}

TEST_F(Corruption, BadMagic) {
  Bytes bytes = good_;
  bytes[0] = 'P';
  write(bytes);
  expect_open_error(path_, ErrorCode::InvalidModel, {"bad.tusk", "bad magic"});
  write(Bytes{'P', 'K', 3, 4, 0, 0});  // short and foreign: foreign wins
  expect_open_error(path_, ErrorCode::InvalidModel, {"bad magic"});
}

TEST_F(Corruption, UnsupportedVersion) {
  Bytes bytes = good_;
  bytes[4] = 2;
  write(bytes);
  expect_open_error(path_, ErrorCode::InvalidModel,
                    {"unsupported format version 2", "reads version 1"});
}

TEST_F(Corruption, FlippedHeaderByte) {
  for (size_t at : {9u, 13u, 17u, 25u, 33u, 41u, 50u, 60u}) {
    Bytes bytes = good_;
    bytes[at] ^= 0x10;
    write(bytes);
    expect_open_error(path_, ErrorCode::InvalidModel, {"header is corrupt"});
  }
}

TEST_F(Corruption, ResealedHeaderWithUnknownFlags) {
  Bytes bytes = good_;
  layout::FileHeader header = layout::decode_header(bytes.data());
  header.flags = 4;
  layout::encode_header(header, bytes.data());
  write(bytes);
  expect_open_error(path_, ErrorCode::InvalidModel, {"feature flags"});
}

TEST_F(Corruption, ResealedHeaderWithMetadataPastTheEnd) {
  Bytes bytes = good_;
  layout::FileHeader header = layout::decode_header(bytes.data());
  header.metadata_size += 64;
  layout::encode_header(header, bytes.data());
  write(bytes);
  expect_open_error(path_, ErrorCode::InvalidModel, {"metadata location is invalid"});
  header.metadata_offset = UINT64_MAX - 63;  // offset + size overflows
  layout::encode_header(header, bytes.data());
  write(bytes);
  expect_open_error(path_, ErrorCode::InvalidModel, {"metadata location is invalid"});
}

TEST_F(Corruption, FlippedMetadataByte) {
  for (uint64_t delta : {0u, 7u, 100u, 500u}) {
    Bytes bytes = good_;
    bytes[metadata_offset(good_) + delta] ^= 0x01;
    write(bytes);
    expect_open_error(path_, ErrorCode::InvalidModel, {"metadata is corrupt"});
  }
}

TEST_F(Corruption, ResealedMetadataWithoutIdentifier) {
  Bytes bytes = good_;
  bytes[metadata_offset(good_) + 4] = 'X';
  reseal(bytes);
  write(bytes);
  expect_open_error(path_, ErrorCode::InvalidModel, {"no \"TUSK\" identifier"});
}

TEST_F(Corruption, ResealedMetadataWithBrokenRootOffset) {
  Bytes bytes = good_;
  bytes[metadata_offset(good_) + 2] = 0x7f;  // root table offset far past the buffer
  reseal(bytes);
  write(bytes);
  expect_open_error(path_, ErrorCode::InvalidModel, {"FlatBuffers verification"});
}

TEST_F(Corruption, FlippedDenseTensorByteCaughtByChecksum) {
  Bytes bytes = good_;
  bytes[dense("norm.weight").offset + 5] ^= 0x20;
  write(bytes);
  expect_open_error(path_, ErrorCode::InvalidModel,
                    {"bad.tusk: tensor 'norm.weight' is corrupt (checksum mismatch)"});
  // Without verification it opens: the damage is the caller's risk.
  EXPECT_NO_THROW(ModelFile::open(path_, ModelFile::OpenOptions{false}));
}

TEST_F(Corruption, FlippedExpertByteCaughtAtLoad) {
  for (const ExpertRecord& e : records_.experts) {
    Bytes bytes = good_;
    bytes[e.offset + e.stored_size / 2] ^= 0x04;
    write(bytes);
    auto file = ModelFile::open(path_, {});  // frames are checked when loaded
    try {
      file->load_expert(e.stack, e.layer, e.expert);
      ADD_FAILURE() << "damaged expert " << e.expert << " loaded";
    } catch (const Error& error) {
      EXPECT_EQ(error.code(), ErrorCode::InvalidModel);
      EXPECT_NE(std::string(error.what())
                    .find("bad.tusk: expert (encoder layer 0, expert " + std::to_string(e.expert) +
                          ") is corrupt"),
                std::string::npos)
          << error.what();
    }
    const int other = 1 - e.expert;
    EXPECT_NO_THROW(file->load_expert(Stack::Encoder, 0, other));
  }
}

}  // namespace
}  // namespace tusk::format::testing
