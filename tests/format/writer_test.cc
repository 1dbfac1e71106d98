#include <gtest/gtest.h>

#include <functional>

#include "tests/format/format_test_util.h"

namespace tusk::format::testing {
namespace {

TEST(Writer, SameInputSameBytes) {
  ScratchDir dir;
  const TinyModel model = make_tiny_model();
  write_tiny_model(dir.path("a.tusk"), model);
  write_tiny_model(dir.path("b.tusk"), make_tiny_model());  // separate buffers, same values
  const Bytes a = read_bytes(dir.path("a.tusk"));
  EXPECT_GT(a.size(), 4096u);
  EXPECT_EQ(a, read_bytes(dir.path("b.tusk")));
  write_tiny_model(dir.path("c.tusk"), make_tiny_model(8));
  EXPECT_NE(a, read_bytes(dir.path("c.tusk")));
}

TEST(Writer, FinishLeavesOnlyTheFile) {
  ScratchDir dir;
  write_tiny_model(dir.path("model.tusk"), make_tiny_model());
  EXPECT_EQ(dir.entries(), std::vector<std::string>{"model.tusk"});
}

TEST(Writer, FinishReplacesAnExistingFile) {
  ScratchDir dir;
  write_bytes(dir.path("model.tusk"), Bytes(10, 'x'));
  write_tiny_model(dir.path("model.tusk"), make_tiny_model());
  EXPECT_NO_THROW(ModelFile::open(dir.path("model.tusk"), {}));
}

TEST(Writer, AbandonedWriterLeavesNothing) {
  ScratchDir dir;
  const TinyModel m = make_tiny_model();
  {
    ModelWriter writer(dir.path("model.tusk"));
    writer.set_config(m.config);
    writer.add_dense({"embed", DType::F32, {32, 8}, m.embed.data()});
    EXPECT_EQ(dir.entries().size(), 1u);  // the temp file, while writing
    EXPECT_EQ(dir.entries()[0].rfind("model.tusk.tmp-", 0), 0u) << dir.entries()[0];
  }
  EXPECT_TRUE(dir.entries().empty());
}

TEST(Writer, TwoWritersForOnePathUseDistinctTempFiles) {
  ScratchDir dir;
  ModelWriter first(dir.path("model.tusk"));
  ModelWriter second(dir.path("model.tusk"));
  EXPECT_EQ(dir.entries().size(), 2u);
}

TEST(Writer, UnwritableDirectoryIsAnIoError) {
  ScratchDir dir;
  try {
    ModelWriter writer(dir.path("no/such/dir/model.tusk"));
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::Io);
  }
}

void expect_invalid_argument(const std::function<void()>& call, const std::string& part) {
  try {
    call();
    ADD_FAILURE() << "expected InvalidArgument containing '" << part << "'";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::InvalidArgument) << e.what();
    EXPECT_NE(std::string(e.what()).find(part), std::string::npos) << e.what();
  }
}

TEST(Writer, RejectsBadInput) {
  ScratchDir dir;
  const TinyModel m = make_tiny_model();
  ModelWriter writer(dir.path("model.tusk"));
  writer.set_config(m.config);
  writer.add_dense({"embed", DType::F32, {32, 8}, m.embed.data()});
  expect_invalid_argument([&] { writer.add_dense({"embed", DType::F32, {8}, m.norm.data()}); },
                          "added twice");
  expect_invalid_argument([&] { writer.add_dense({"", DType::F32, {8}, m.norm.data()}); },
                          "empty name");
  expect_invalid_argument([&] { writer.add_dense({"x", DType::F32, {0, 8}, m.norm.data()}); },
                          "invalid shape");
  expect_invalid_argument([&] { writer.add_dense({"x", DType::F32, {8}, nullptr}); }, "no data");
  expect_invalid_argument(
      [&] { writer.add_dense({"x", static_cast<DType>(9), {8}, m.norm.data()}); }, "dtype");
  const std::vector<TensorData> expert = {{"fc1.bias", DType::F32, {16}, m.bias_fc1.data()}};
  writer.add_expert(Stack::Decoder, 0, 1, expert, 3);
  expect_invalid_argument([&] { writer.add_expert(Stack::Decoder, 0, 1, expert, 3); }, "added twice");
  expect_invalid_argument([&] { writer.add_expert(Stack::Decoder, 0, 0, {}, 3); }, "no tensors");
  expect_invalid_argument([&] { writer.add_expert(Stack::Decoder, 0, 0, expert, 99); }, "zstd level");
  // Still usable after rejected calls.
  writer.finish();
  auto file = ModelFile::open(dir.path("model.tusk"), {});
  EXPECT_TRUE(file->has_expert(Stack::Decoder, 0, 1));
  expect_invalid_argument([&] { writer.finish(); }, "already finished");
}

TEST(Writer, FinishRefusesAModelTheReaderWouldRejectAndLeavesNothing) {
  ScratchDir dir;
  const TinyModel m = make_tiny_model();
  {
    ModelWriter writer(dir.path("model.tusk"));
    ModelConfig config = m.config;
    config.encoder_heads = 3;  // does not divide d_model 8
    writer.set_config(config);
    writer.add_dense({"embed", DType::F32, {32, 8}, m.embed.data()});
    expect_invalid_argument([&] { writer.finish(); }, "encoder_heads must divide d_model");
  }
  EXPECT_TRUE(dir.entries().empty());
  {
    ModelWriter writer(dir.path("model.tusk"));
    writer.set_config(m.config);
    writer.add_language({"xx", "xx_Latn", 999});  // outside the 32-token vocabulary
    expect_invalid_argument([&] { writer.finish(); }, "language 'xx'");
  }
  EXPECT_TRUE(dir.entries().empty());
}

}  // namespace
}  // namespace tusk::format::testing
