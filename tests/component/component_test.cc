// Component tests against the PyTorch oracle (issue 13, requirement 6): the encoder, the
// decoder and the MoE layer of the SDK, run on the fp32 conversion of the shared checkpoint,
// give the numbers ../shared/tools/nllb_moe_reference.py gives for the same inputs. The
// numbers come from fixtures/ (written by make_component_fixtures.py; see its header).
//
// Each test runs on every device this build can use (backends::available_devices()), so a
// new backend is held to the oracle as soon as it joins.
//
// Tolerance: |engine - oracle| <= kTol * (1 + |oracle|) per element. Both sides compute in
// fp32 with different summation orders (oneDNN / our kernels vs. torch), and the oracle's
// (1 - moe_token_dropout) is folded into fc2 by the converter instead of applied after it; that
// moves results by a few fp32 ulps per op: the CPU backend stays within 1e-6 of it (scaled as
// above; 3e-5 absolute on MoE outputs of magnitude ~50). 1e-4 leaves room for a device with
// other reductions while catching any real error (a wrong position, mask, gate or scale moves
// values by 1e-2 or more).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <fstream>
#include <iostream>
#include <memory>
#include <ostream>
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "backends/backend.h"
#include "sdk/decoder.h"
#include "sdk/encoder.h"
#include "sdk/model.h"
#include "sdk/moe.h"
#include "sdk/source_batch.h"

namespace {

using json = nlohmann::json;
using tusk::backends::Backend;
using tusk::backends::Device;
using tusk::backends::DType;
using tusk::backends::Tensor;
using tusk::sdk::Activations;

constexpr double kTol = 1e-4;

// A float array of the fixtures, row-major.
struct Array {
  int64_t rows = 0, cols = 0;
  std::vector<float> values;
};

std::string fixture_path(const std::string& name) {
  return std::string(TUSK_COMPONENT_FIXTURES) + "/" + name;
}

Array read_array(const json& entry) {
  Array a;
  const auto shape = entry.at("shape").get<std::vector<int64_t>>();
  if (shape.size() != 2) throw std::runtime_error("fixture arrays are 2-D");
  a.rows = shape[0];
  a.cols = shape[1];
  a.values.resize(static_cast<size_t>(a.rows * a.cols));
  const std::string path = fixture_path(entry.at("file").get<std::string>());
  std::ifstream in(path, std::ios::binary);
  // The fixtures are little-endian float32, as every host we build on.
  in.read(reinterpret_cast<char*>(a.values.data()),
          static_cast<std::streamsize>(a.values.size() * sizeof(float)));
  if (!in || in.peek() != std::char_traits<char>::eof())
    throw std::runtime_error(path + ": size does not match its shape");
  return a;
}

// Row r of a as a 1-row array.
Array row(const Array& a, int64_t r) {
  const auto first = a.values.begin() + r * a.cols;
  return {1, a.cols, std::vector<float>(first, first + a.cols)};
}

// Stacks arrays of equal width row-wise (all sentences in one batch).
Array concat_rows(const std::vector<Array>& parts) {
  Array a;
  a.cols = parts.at(0).cols;
  for (const auto& p : parts) {
    if (p.cols != a.cols) throw std::runtime_error("concat_rows: widths differ");
    a.rows += p.rows;
    a.values.insert(a.values.end(), p.values.begin(), p.values.end());
  }
  return a;
}

struct MoeCapture {
  Array input, output;
  std::vector<tusk::sdk::ExpertChoice> choices;
};

MoeCapture read_moe(const json& entry) {
  MoeCapture m{read_array(entry.at("input")), read_array(entry.at("output")), {}};
  for (const auto& c : entry.at("choices"))
    m.choices.push_back({c.at(0).get<int>(), c.at(1).get<int>()});
  return m;
}

struct Sentence {
  std::string text;
  std::vector<int32_t> source_ids, prefix;
  Array encoder_out, decoder_logprobs;  // [T, d], [prefix, vocab]
  MoeCapture encoder_moe, decoder_moe;
};

struct Fixtures {
  int encoder_moe_layer = -1, decoder_moe_layer = -1;
  std::vector<Sentence> sentences;
};

Fixtures load_fixtures() {
  std::ifstream in(fixture_path("manifest.json"));
  if (!in) throw std::runtime_error("cannot open " + fixture_path("manifest.json"));
  const json m = json::parse(in);
  Fixtures f;
  f.encoder_moe_layer = m.at("encoder_moe_layer").get<int>();
  f.decoder_moe_layer = m.at("decoder_moe_layer").get<int>();
  for (const auto& s : m.at("sentences")) {
    Sentence x;
    x.text = s.at("text").get<std::string>();
    x.source_ids = s.at("source_ids").get<std::vector<int32_t>>();
    x.prefix = s.at("decoder_prefix").get<std::vector<int32_t>>();
    x.encoder_out = read_array(s.at("encoder_out"));
    x.decoder_logprobs = read_array(s.at("decoder_logprobs"));
    x.encoder_moe = read_moe(s.at("encoder_moe"));
    x.decoder_moe = read_moe(s.at("decoder_moe"));
    f.sentences.push_back(std::move(x));
  }
  return f;
}

// Device <-> host copies through the backend, so the tests read what a device backend wrote.
std::vector<float> to_host(Backend& backend, tusk::backends::MatrixView m) {
  if (m.ld != m.cols) throw std::runtime_error("to_host: strided view");
  std::vector<float> host(static_cast<size_t>(m.rows * m.cols));
  const Tensor t = Tensor::borrow(backend.device(), DType::F32, const_cast<float*>(m.data),
                                  {m.rows, m.cols});
  backend.download(t, host.data());
  return host;
}

Tensor to_device(Backend& backend, const Array& a) {
  Tensor t = backend.allocate(DType::F32, {a.rows, a.cols});
  backend.upload(a.values.data(), t);
  return t;
}

// How far the engine is from the oracle: the largest |difference|, and the largest
// |difference| / (1 + |oracle|), which kTol bounds.
struct Distance {
  double abs = 0, scaled = 0;
  void add(const Distance& o) {
    abs = std::max(abs, o.abs);
    scaled = std::max(scaled, o.scaled);
  }
};

std::ostream& operator<<(std::ostream& os, const Distance& d) {
  return os << "max |diff| " << d.abs << ", max |diff| / (1 + |oracle|) " << d.scaled;
}

// Compares rows [first_row, first_row + want.rows) of got (row-major, want.cols wide) with
// want; reports the first few misses.
Distance expect_close(const std::vector<float>& got, const Array& want, int64_t first_row,
                      const std::string& what) {
  Distance d;
  int reported = 0;
  for (int64_t r = 0; r < want.rows; ++r)
    for (int64_t c = 0; c < want.cols; ++c) {
      const double w = want.values[r * want.cols + c];
      const double g = got[(first_row + r) * want.cols + c];
      const double diff = std::isnan(g - w) ? INFINITY : std::fabs(g - w);
      d.add({diff, diff / (1 + std::fabs(w))});
      if (!(diff <= kTol * (1 + std::fabs(w))) && reported++ < 5)
        ADD_FAILURE() << what << " at (" << r << ", " << c << "): engine " << g << ", oracle " << w;
    }
  return d;
}

// The device a test runs on; its own type so gtest prints the device's name in test names.
struct OnDevice {
  Device device;
};
void PrintTo(const OnDevice& d, std::ostream* os) { *os << tusk::backends::device_name(d.device); }

std::vector<OnDevice> devices() {
  std::vector<OnDevice> out;
  for (Device d : tusk::backends::available_devices()) out.push_back({d});
  return out;
}

class ComponentTest : public ::testing::TestWithParam<OnDevice> {
 protected:
  static void SetUpTestSuite() {
    model_ = tusk::sdk::Model::open(TUSK_TEST_MODEL, {/*verify_checksums=*/true});
    fixtures_ = std::make_unique<Fixtures>(load_fixtures());
  }
  static void TearDownTestSuite() {
    fixtures_.reset();
    model_.reset();
  }
  void SetUp() override { backend_ = tusk::backends::make_backend({GetParam().device, 1}); }

  // All fixture sentences packed back to back, as the translator batches them.
  static tusk::sdk::SourceBatch all_sentences() {
    tusk::sdk::SourceBatch batch;
    for (const auto& s : fixtures_->sentences) batch.add(s.source_ids);
    return batch;
  }

  static std::shared_ptr<const tusk::sdk::Model> model_;
  static std::unique_ptr<Fixtures> fixtures_;
  std::unique_ptr<Backend> backend_;
};

std::shared_ptr<const tusk::sdk::Model> ComponentTest::model_;
std::unique_ptr<Fixtures> ComponentTest::fixtures_;

// The fixtures belong to this checkpoint: its tokenizer gives the oracle's source ids
// ([source language] + pieces + [eos]), so the other tests start from the same input.
TEST_P(ComponentTest, FixturesMatchTheModel) {
  const auto& c = model_->config();
  for (const auto& s : fixtures_->sentences) {
    ASSERT_GE(s.source_ids.size(), 2u);
    const std::vector<int32_t> pieces(s.source_ids.begin() + 1, s.source_ids.end() - 1);
    EXPECT_EQ(model_->tokenizer().encode(s.text), pieces) << s.text;
    EXPECT_EQ(s.source_ids.back(), c.eos_id);
    EXPECT_EQ(s.encoder_out.cols, c.d_model);
    EXPECT_EQ(s.decoder_logprobs.cols, c.vocab_size);
  }
}

// One forward over all sentences at once (packed, each attending only itself) equals the
// oracle's encoder run on each sentence alone.
TEST_P(ComponentTest, EncoderMatchesOracle) {
  tusk::sdk::Encoder encoder(*model_, *backend_, model_->resident_experts());
  const auto batch = all_sentences();
  const Activations& out = encoder.forward(batch);
  ASSERT_EQ(out.rows(), batch.tokens());
  ASSERT_EQ(out.cols(), model_->config().d_model);
  const auto got = to_host(*backend_, out.cview());
  Distance d;
  for (int s = 0; s < batch.size(); ++s) {
    const auto& want = fixtures_->sentences[s].encoder_out;
    ASSERT_EQ(want.rows, batch.length(s));
    d.add(expect_close(got, want, batch.begin(s),
                       "encoder output of sentence " + std::to_string(s)));
  }
  std::cout << "encoder vs oracle: " << d << "\n";
}

// Feeding the oracle's decoder prefixes step by step, one hypothesis per sentence, gives the
// oracle's next-token log-probabilities at every position (the oracle recomputes the whole
// prefix each time; the engine uses its self-attention cache).
TEST_P(ComponentTest, DecoderMatchesOracle) {
  auto& experts = model_->resident_experts();
  tusk::sdk::Encoder encoder(*model_, *backend_, experts);
  tusk::sdk::Decoder decoder(*model_, *backend_, experts);
  const auto batch = all_sentences();
  decoder.start(batch, encoder.forward(batch));

  const auto& sentences = fixtures_->sentences;
  const size_t steps = sentences[0].prefix.size();
  std::vector<int32_t> hyp_sentence;
  for (size_t s = 0; s < sentences.size(); ++s) {
    ASSERT_EQ(sentences[s].prefix.size(), steps) << "the generator writes equal-length prefixes";
    hyp_sentence.push_back(static_cast<int32_t>(s));
  }
  Activations logprobs(*backend_);
  Distance d;
  for (size_t t = 0; t < steps; ++t) {
    std::vector<int32_t> tokens;
    for (const auto& s : sentences) tokens.push_back(s.prefix[t]);
    decoder.step(tokens, hyp_sentence, static_cast<int>(t), &logprobs);
    ASSERT_EQ(logprobs.rows(), static_cast<int64_t>(sentences.size()));
    ASSERT_EQ(logprobs.cols(), model_->config().vocab_size);
    const auto got = to_host(*backend_, logprobs.cview());
    for (size_t s = 0; s < sentences.size(); ++s) {
      // Row t of the oracle's [prefix, vocab] against hypothesis s of this step.
      const Array want = row(sentences[s].decoder_logprobs, static_cast<int64_t>(t));
      d.add(expect_close(got, want, static_cast<int64_t>(s),
                         "log-probs of sentence " + std::to_string(s) + " at step " +
                             std::to_string(t)));
    }
  }
  std::cout << "decoder log-probs vs oracle: " << d << "\n";
}

// The same for the last sentence alone while the batch holds all of them: its one hypothesis
// must attend only its own sentence's slice of the encoder output.
TEST_P(ComponentTest, DecoderOfOneSentenceInABatch) {
  auto& experts = model_->resident_experts();
  tusk::sdk::Encoder encoder(*model_, *backend_, experts);
  tusk::sdk::Decoder decoder(*model_, *backend_, experts);
  const auto batch = all_sentences();
  decoder.start(batch, encoder.forward(batch));
  const int last = batch.size() - 1;
  const auto& s = fixtures_->sentences[last];
  Activations logprobs(*backend_);
  for (size_t t = 0; t < s.prefix.size(); ++t) {
    decoder.step({s.prefix[t]}, {last}, static_cast<int>(t), &logprobs);
    expect_close(to_host(*backend_, logprobs.cview()),
                 row(s.decoder_logprobs, static_cast<int64_t>(t)), 0,
                 "log-probs at step " + std::to_string(t));
  }
}

// One sparse layer on the oracle's captured input (all sentences' tokens at once): the same
// output and the same [first, second] expert per token. The oracle scales each expert's
// output by (1 - moe_token_dropout); the converter folded that into fc2, so the engine's
// plain output is the comparable number.
void check_moe(Backend& backend, const tusk::sdk::Model& model, tusk::format::Stack stack,
               int layer, const tusk::sdk::RouterWeights& router,
               const std::vector<const MoeCapture*>& captures, const std::string& what) {
  std::vector<Array> inputs, outputs;
  std::vector<tusk::sdk::ExpertChoice> want_choices;
  for (const auto* c : captures) {
    inputs.push_back(c->input);
    outputs.push_back(c->output);
    want_choices.insert(want_choices.end(), c->choices.begin(), c->choices.end());
  }
  const Array input = concat_rows(inputs), want = concat_rows(outputs);
  ASSERT_EQ(input.cols, model.config().d_model);
  ASSERT_EQ(static_cast<int64_t>(want_choices.size()), input.rows);

  const Tensor x = to_device(backend, input);
  Activations out(backend);
  tusk::sdk::MoeLayer moe(backend);
  std::vector<tusk::sdk::ExpertChoice> choices;
  moe.forward(backend, model.resident_experts(), stack, layer, router, x.matrix(),
              out.shape(input.rows, input.cols), {}, &choices);

  ASSERT_EQ(choices.size(), want_choices.size());
  for (size_t t = 0; t < choices.size(); ++t) {
    EXPECT_EQ(choices[t].first, want_choices[t].first) << what << ", token " << t;
    EXPECT_EQ(choices[t].second, want_choices[t].second) << what << ", token " << t;
  }
  std::cout << what << " vs oracle: " << expect_close(to_host(backend, out.cview()), want, 0, what)
            << "\n";
}

TEST_P(ComponentTest, EncoderMoeLayerMatchesOracle) {
  const int layer = fixtures_->encoder_moe_layer;
  const auto weights = model_->weights_for(*backend_);  // the router as this device reads it
  ASSERT_LT(layer, static_cast<int>(weights->graph.encoder.size()));
  const auto& l = weights->graph.encoder[layer];
  ASSERT_TRUE(l.sparse);
  std::vector<const MoeCapture*> captures;
  for (const auto& s : fixtures_->sentences) captures.push_back(&s.encoder_moe);
  check_moe(*backend_, *model_, tusk::format::Stack::Encoder, layer, l.router, captures,
            "encoder MoE layer " + std::to_string(layer));
}

TEST_P(ComponentTest, DecoderMoeLayerMatchesOracle) {
  const int layer = fixtures_->decoder_moe_layer;
  const auto weights = model_->weights_for(*backend_);
  ASSERT_LT(layer, static_cast<int>(weights->graph.decoder.size()));
  const auto& l = weights->graph.decoder[layer];
  ASSERT_TRUE(l.sparse);
  std::vector<const MoeCapture*> captures;
  for (const auto& s : fixtures_->sentences) captures.push_back(&s.decoder_moe);
  check_moe(*backend_, *model_, tusk::format::Stack::Decoder, layer, l.router, captures,
            "decoder MoE layer " + std::to_string(layer));
}

INSTANTIATE_TEST_SUITE_P(Devices, ComponentTest,
                         ::testing::ValuesIn(devices()),
                         [](const ::testing::TestParamInfo<OnDevice>& info) {
                           return std::string(tusk::backends::device_name(info.param.device));
                         });

}  // namespace
