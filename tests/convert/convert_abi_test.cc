// The converter's quantization options and tusk_model_describe_verbose through the C ABI
// (tusk.h), as the CLI and the bindings use them.
#include <gtest/gtest.h>

#include <sys/stat.h>

#include <cstring>
#include <string>

#include "test_helpers.h"
#include "tusk/tusk.h"

namespace {

using tusk::test::TempDir;

class ConvertAbi : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string sp = tusk::test::real_model_dir() + "/sentencepiece.model";
    if (!tusk::test::file_exists(sp)) GTEST_SKIP() << "needs " << sp;
    const tusk::test::TinyModel model = tusk::test::tiny_model(64, 128);
    tusk::test::write_checkpoint(dir_.path(), model.config_json, model.tensors, tusk::test::read_file(sp));
    ASSERT_EQ(tusk_options_create(&options_), TUSK_OK);
  }
  void TearDown() override { tusk_options_destroy(options_); }

  void set(tusk_option_t key, int64_t value) { ASSERT_EQ(tusk_options_set_int(options_, key, value), TUSK_OK); }
  tusk_status_t convert(const std::string& out) {
    return tusk_convert_hf(dir_.path().c_str(), out.c_str(), options_, nullptr, nullptr);
  }

  TempDir dir_;
  tusk_options_t* options_ = nullptr;
};

TEST(ConvertAbiOptions, DefaultsAndRanges) {
  tusk_options_t* o = nullptr;
  ASSERT_EQ(tusk_options_create(&o), TUSK_OK);
  int64_t v = -1;
  for (tusk_option_t key : {TUSK_OPT_EXPERT_WEIGHTS, TUSK_OPT_DENSE_WEIGHTS, TUSK_OPT_GROUP_SIZE}) {
    ASSERT_EQ(tusk_options_get_int(o, key, &v), TUSK_OK);
    EXPECT_EQ(v, 0) << key;  // fp32, per output channel
  }
  EXPECT_EQ(tusk_options_set_int(o, TUSK_OPT_EXPERT_WEIGHTS, TUSK_WEIGHTS_INT4), TUSK_OK);
  EXPECT_EQ(tusk_options_set_int(o, TUSK_OPT_EXPERT_WEIGHTS, 4), TUSK_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(tusk_options_set_int(o, TUSK_OPT_DENSE_WEIGHTS, -1), TUSK_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(tusk_options_set_int(o, TUSK_OPT_GROUP_SIZE, -64), TUSK_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(tusk_options_set_int(o, TUSK_OPT_GROUP_SIZE, 128), TUSK_OK);
  EXPECT_EQ(tusk_options_set_float(o, TUSK_OPT_GROUP_SIZE, 1.0), TUSK_ERROR_INVALID_ARGUMENT);
  tusk_options_destroy(o);
}

// Int4 dense weights (since 0.3): attention, dense FFN and the embedding in int4, the
// embedding with one scale per row (hf_parity_test translates with such a model).
TEST_F(ConvertAbi, DenseInt4Converts) {
  set(TUSK_OPT_DENSE_WEIGHTS, TUSK_WEIGHTS_INT4);
  set(TUSK_OPT_GROUP_SIZE, 64);
  const std::string out = dir_.file("m.tusk");
  ASSERT_EQ(convert(out), TUSK_OK) << tusk_last_error();
  tusk_model_t* model = nullptr;
  ASSERT_EQ(tusk_model_open(out.c_str(), nullptr, &model), TUSK_OK) << tusk_last_error();
  const char* verbose = nullptr;
  ASSERT_EQ(tusk_model_describe_verbose(model, &verbose), TUSK_OK);
  const std::string text = verbose;
  EXPECT_NE(text.find("dense int4 (scales per 64 input columns"), std::string::npos) << text;
  EXPECT_NE(text.find("model.shared.weight per row"), std::string::npos) << text;
  const size_t shared = text.find("\n  model.shared.weight ");
  ASSERT_NE(shared, std::string::npos) << text;
  const std::string shared_line = text.substr(shared + 1, text.find('\n', shared + 1) - shared - 1);
  EXPECT_NE(shared_line.find(" i4 "), std::string::npos) << shared_line;
  EXPECT_NE(shared_line.find(" row "), std::string::npos) << shared_line;
  tusk_model_close(model);
}

TEST_F(ConvertAbi, AGroupSizeThatDoesNotFitNamesTheTensor) {
  set(TUSK_OPT_EXPERT_WEIGHTS, TUSK_WEIGHTS_INT4);
  set(TUSK_OPT_GROUP_SIZE, 96);
  EXPECT_EQ(convert(dir_.file("m.tusk")), TUSK_ERROR_INVALID_ARGUMENT);
  EXPECT_NE(std::strstr(tusk_last_error(), "model.encoder.layers.1.ffn.experts.expert_0.fc1.weight"), nullptr)
      << tusk_last_error();
  EXPECT_NE(std::strstr(tusk_last_error(), "groups of 96 input columns"), nullptr) << tusk_last_error();
}

TEST_F(ConvertAbi, QuantizedModelDescribesEveryTensor) {
  set(TUSK_OPT_EXPERT_WEIGHTS, TUSK_WEIGHTS_INT4);
  set(TUSK_OPT_DENSE_WEIGHTS, TUSK_WEIGHTS_INT8);
  set(TUSK_OPT_GROUP_SIZE, 64);
  const std::string out = dir_.file("q.tusk");
  ASSERT_EQ(convert(out), TUSK_OK) << tusk_last_error();

  tusk_model_t* model = nullptr;
  ASSERT_EQ(tusk_model_open(out.c_str(), nullptr, &model), TUSK_OK) << tusk_last_error();
  const char* brief = nullptr;
  const char* verbose = nullptr;
  ASSERT_EQ(tusk_model_describe(model, &brief), TUSK_OK);
  ASSERT_EQ(tusk_model_describe_verbose(model, &verbose), TUSK_OK);
  const std::string text = verbose;
  EXPECT_EQ(text.rfind(brief, 0), 0u) << "the verbose description starts with the plain one";
  for (const char* part :
       {"quantization:  experts int4 (scales per 64 input columns", "dense int8 (scales per 64 input columns)",
        "model.encoder.layers.1.ffn.experts.expert_0.fc1.weight ", "model.encoder.layers.1.ffn.experts.expert_0.fc1.weight.scales",
        "model.shared.weight.scales", "i4: 8 tensors", "largest relative RMS error:", "rel RMS"}) {
    EXPECT_NE(text.find(part), std::string::npos) << part << "\n" << text;
  }
  // The embedding keeps one scale per row; the group size applies to the other matrices.
  const size_t shared = text.find("\n  model.shared.weight ");
  ASSERT_NE(shared, std::string::npos) << text;
  const std::string shared_line = text.substr(shared + 1, text.find('\n', shared + 1) - shared - 1);
  EXPECT_NE(shared_line.find(" i8 "), std::string::npos) << shared_line;
  EXPECT_NE(shared_line.find(" row "), std::string::npos) << shared_line;
  const char* again = nullptr;
  ASSERT_EQ(tusk_model_describe_verbose(model, &again), TUSK_OK);
  EXPECT_EQ(again, verbose);  // built once, owned by the model
  EXPECT_EQ(tusk_model_describe_verbose(nullptr, &again), TUSK_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(tusk_model_describe_verbose(model, nullptr), TUSK_ERROR_INVALID_ARGUMENT);
  tusk_model_close(model);
}

}  // namespace
