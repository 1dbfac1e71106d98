// The expert usage table: stored by replace_expert_usage, read back and checked by the reader,
// and its text form.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>

#include "model_format/expert_usage_table.h"
#include "tests/format/format_test_util.h"

namespace tusk::format::testing {
namespace {

PairUsage pair(const std::string& s, const std::string& t, uint32_t sentences, std::vector<uint32_t> counts) {
  return PairUsage{s, t, sentences, std::move(counts)};
}

TEST(ExpertUsage, UncalibratedModelHasNone) {
  ScratchDir dir;
  write_tiny_model(dir.path("m.tusk"), make_tiny_model());
  const auto file = ModelFile::open(dir.path("m.tusk"), {true});
  EXPECT_TRUE(file->expert_usage().empty());
  EXPECT_EQ(file->find_expert_usage("en", "de"), nullptr);
  const auto ids = file->expert_ids();
  ASSERT_EQ(ids.size(), 2u);  // encoder layer 0, experts 0 and 1
  EXPECT_EQ(ids[0].expert, 0);
  EXPECT_EQ(ids[1].expert, 1);
}

TEST(ExpertUsage, ReplaceKeepsEverythingElseAndRoundTrips) {
  ScratchDir dir;
  const std::string path = dir.path("m.tusk");
  const TinyModel tiny = make_tiny_model();
  write_tiny_model(path, tiny);
  const Bytes before = read_bytes(path);
  replace_expert_usage(path, {pair("en", "de", 10, {7, 3}), pair("de", "en", 4, {0, 9})});
  {
    const auto file = ModelFile::open(path, {true});  // every checksum still holds
    ASSERT_EQ(file->expert_usage().size(), 2u);
    const PairUsage* u = file->find_expert_usage("de", "en");
    ASSERT_NE(u, nullptr);
    EXPECT_EQ(u->sentences, 4u);
    EXPECT_EQ(u->counts, (std::vector<uint32_t>{0, 9}));
    EXPECT_EQ(file->find_expert_usage("en", "fr"), nullptr);
    // Weights are untouched: same bytes before the metadata, same experts.
    const Bytes after = read_bytes(path);
    const uint64_t weights_end = metadata_offset(before);
    ASSERT_EQ(metadata_offset(after), weights_end);
    EXPECT_TRUE(std::equal(before.begin() + 64, before.begin() + weights_end, after.begin() + 64));
    const ExpertWeights e = file->load_expert(Stack::Encoder, 0, 1);
    EXPECT_EQ(std::memcmp(e.tensor("fc1.weight").data, tiny.random_fc1.data(), tiny.random_fc1.size() * 4), 0);
    EXPECT_EQ(file->tensor("embed").bytes, tiny.embed.size() * 4);
  }
  // Replacing again replaces; an empty table removes it.
  replace_expert_usage(path, {pair("en", "de", 1, {1, 1})});
  EXPECT_EQ(ModelFile::open(path, {true})->expert_usage().size(), 1u);
  replace_expert_usage(path, {});
  EXPECT_TRUE(ModelFile::open(path, {true})->expert_usage().empty());
  EXPECT_EQ(dir.entries(), std::vector<std::string>{"m.tusk"}) << "no temporary file left";
}

TEST(ExpertUsage, BadTablesAreRefusedAndTheFileIsUntouched) {
  ScratchDir dir;
  const std::string path = dir.path("m.tusk");
  write_tiny_model(path, make_tiny_model());
  const Bytes before = read_bytes(path);
  for (const auto& bad : std::vector<std::vector<PairUsage>>{
           {pair("en", "de", 1, {1})},           // one count for two experts
           {pair("en", "xx", 1, {1, 2})},        // a language the model lacks
           {pair("en", "de", 1, {1, 2}), pair("en", "de", 2, {3, 4})}}) {  // twice
    EXPECT_THROW(replace_expert_usage(path, bad), Error);
    EXPECT_EQ(read_bytes(path), before);
  }
  EXPECT_EQ(dir.entries(), std::vector<std::string>{"m.tusk"});
  EXPECT_THROW(replace_expert_usage(dir.path("missing.tusk"), {}), Error);
}

TEST(ExpertUsageTable, TextRoundTrip) {
  const std::vector<ExpertId> ids = {{Stack::Encoder, 1, 0}, {Stack::Encoder, 1, 1}, {Stack::Decoder, 3, 0}};
  const std::vector<PairUsage> usage = {pair("en", "de", 12, {5, 0, 4294967295u}), pair("cs", "en", 0, {0, 0, 0})};
  const std::string text = format_usage_table(usage, ids);
  EXPECT_NE(text.find("encoder.1.0 encoder.1.1 decoder.3.0"), std::string::npos) << text;
  const auto back = parse_usage_table(text, ids, "t.tsv");
  ASSERT_EQ(back.size(), 2u);
  for (size_t i = 0; i < back.size(); ++i) {
    EXPECT_EQ(back[i].source, usage[i].source);
    EXPECT_EQ(back[i].target, usage[i].target);
    EXPECT_EQ(back[i].sentences, usage[i].sentences);
    EXPECT_EQ(back[i].counts, usage[i].counts);
  }
  // Comments, blank lines and CRLF are fine.
  EXPECT_EQ(parse_usage_table("# x\n\nen\tde\t1\t1\t2\t3\r\n", ids, "t").size(), 1u);
}

TEST(ExpertUsageTable, MalformedLinesNameTheLine) {
  const std::vector<ExpertId> ids = {{Stack::Encoder, 1, 0}, {Stack::Encoder, 1, 1}};
  for (const char* bad : {"en\tde\t1\t1\n", "en\tde\t1\t1\t2\t3\n", "en\tde\tx\t1\t2\n",
                                 "en\tde\t1\t-1\t2\n", "en\tde\t1\t1\t99999999999\n", "\tde\t1\t1\t2\n",
                                 "en de 1 1 2\n"}) {
    try {
      parse_usage_table(std::string("# header\n") + bad, ids, "t.tsv");
      ADD_FAILURE() << "accepted: " << bad;
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::InvalidArgument);
      EXPECT_NE(std::string(e.what()).find("t.tsv, line 2"), std::string::npos) << e.what();
    }
  }
}

}  // namespace
}  // namespace tusk::format::testing
