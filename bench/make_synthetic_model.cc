// Writes a synthetic NLLB-MoE model with experts of NLLB-MoE-54B's shape (d_model 2048, expert
// FFN 8192, int4 per-channel) and random weights, for the memory and paging benchmarks
// (bench/memory.sh): a model whose experts are far larger than a translator's budget, without
// a 34 GB checkpoint to convert. Tokenizer, language table and special ids come from a template
// model (the bundled one), so the CLI translates with it (into nonsense: the weights are
// random). Same names and storage conventions as the converter (model_format/architecture_plans.h);
// dense matrices int8, norms 1/0, routers and biases small random fp32.
//
//   make_synthetic_model --like models/multi30k-moe.tusk --out /tmp/big.tusk
//                        [--experts 128] [--sparse-layers 1] [--d-model 2048] [--ffn 8192]
//
// --sparse-layers N per stack (each stack gets 2N layers, every second one sparse), so the
// default has 2 x 128 = 256 experts, 16.8 MB each (4.3 GB).
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <exception>
#include <random>
#include <string>
#include <vector>

#include "kernels/cpu/quantized_linear.h"
#include "model_format/model_file.h"
#include "model_format/model_writer.h"
#include "model_format/architecture_plans.h"
#include "model_format/quantize.h"
#include "model_format/quantized_tensors.h"

namespace {

using namespace tusk::format;

struct Args {
  std::string like, out;
  int experts = 128, sparse_layers = 1;
  int64_t d_model = 2048, ffn = 8192;
};

[[noreturn]] void usage(const char* why) {
  std::fprintf(stderr,
               "make_synthetic_model: %s\n"
               "usage: make_synthetic_model --like TEMPLATE.tusk --out FILE.tusk [--experts N]\n"
               "       [--sparse-layers N] [--d-model N] [--ffn N]\n",
               why);
  std::exit(2);
}

Args parse(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    if (i + 1 >= argc) usage(("missing value for " + flag).c_str());
    const char* v = argv[++i];
    if (flag == "--like") a.like = v;
    else if (flag == "--out") a.out = v;
    else if (flag == "--experts") a.experts = std::atoi(v);
    else if (flag == "--sparse-layers") a.sparse_layers = std::atoi(v);
    else if (flag == "--d-model") a.d_model = std::atoll(v);
    else if (flag == "--ffn") a.ffn = std::atoll(v);
    else usage(("unknown option " + flag).c_str());
  }
  if (a.like.empty() || a.out.empty()) usage("--like and --out are required");
  if (a.experts < 2 || a.sparse_layers < 1 || a.d_model < 64 || a.d_model % 64 || a.ffn < 64 || a.ffn % 64)
    usage("sizes: experts >= 2, sparse layers >= 1, d-model and ffn multiples of 64");
  return a;
}

bool ends_with(const std::string& s, const char* tail) {
  const size_t n = std::strlen(tail);
  return s.size() >= n && s.compare(s.size() - n, n, tail) == 0;
}

}  // namespace

int main(int argc, char** argv) try {
  const Args a = parse(argc, argv);
  const auto like = ModelFile::open(a.like, {true});
  ModelConfig c = like->config();
  c.d_model = a.d_model;
  c.encoder_ffn_dim = c.decoder_ffn_dim = a.ffn;
  c.num_experts = a.experts;
  c.encoder_layers = c.decoder_layers = 2 * a.sparse_layers;
  c.encoder_sparse_step = c.decoder_sparse_step = 2;  // layers 1, 3, ... are sparse
  c.encoder_heads = c.decoder_heads = static_cast<int>(a.d_model / 128);
  const Plan plan = plan_tensors(c);

  ModelWriter writer(a.out);
  writer.set_config(c);
  writer.set_tokenizer(std::string(like->tokenizer_model()));
  writer.set_vocabulary(like->vocabulary());
  for (const Language& l : like->languages()) writer.add_language(l);
  writer.set_quantization("synthetic random weights: experts int4 (scales per output channel), dense int8");

  std::mt19937_64 rng(12345);
  std::normal_distribution<float> normal(0.0f, 0.02f);
  for (const auto& [name, entry] : plan.dense) {
    int64_t count = 1;
    for (int64_t dim : entry.shape) count *= dim;
    std::vector<float> values(static_cast<size_t>(count));
    const bool norm_weight = ends_with(name, "layer_norm.weight");
    const bool bias = ends_with(name, ".bias");
    for (float& v : values) v = norm_weight ? 1.0f : bias ? 0.0f : normal(rng);
    if (entry.role == Role::Plain) {
      writer.add_dense({name, DType::F32, entry.shape, values.data()});
      continue;
    }
    const QuantizedWeights q = quantize_weights(WeightFormat::Int8, values.data(), entry.shape[0],
                                                entry.shape[1], 0, name);
    writer.add_dense({name, q.dtype, entry.shape, q.data(), q.stats});
    writer.add_dense({scales_name(name), DType::F32, {q.n, 1}, q.scales.data()});
  }

  // Experts: random packed nibbles (every byte pattern is valid int4) and scales for weights
  // of about N(0, 0.02), so activations stay in range through the few layers.
  size_t done = 0;
  std::vector<unsigned char> w1, w2;
  std::vector<float> s1, s2, b1(static_cast<size_t>(a.ffn)), b2(static_cast<size_t>(a.d_model));
  for (const ExpertRef& e : plan.experts) {
    const int64_t ffn = e.shapes.at("fc1.weight")[0], d = e.shapes.at("fc1.weight")[1];
    w1.resize(tusk::kernels::packed_bytes(tusk::kernels::WeightType::Int4, ffn, d));
    w2.resize(tusk::kernels::packed_bytes(tusk::kernels::WeightType::Int4, d, ffn));
    for (auto* w : {&w1, &w2}) {
      for (size_t i = 0; i + 8 <= w->size(); i += 8) {
        const uint64_t r = rng();
        std::memcpy(w->data() + i, &r, 8);
      }
    }
    s1.assign(static_cast<size_t>(ffn), 0.02f / 4.0f);
    s2.assign(static_cast<size_t>(d), 0.02f / 4.0f / 2.0f);  // fc2 sums 4x more inputs
    for (float& b : b1) b = normal(rng) * 0.1f;
    for (float& b : b2) b = normal(rng) * 0.1f;
    const std::vector<TensorData> tensors = {
        {"fc1.weight", DType::I4, {ffn, d}, w1.data()},
        {"fc1.weight.scales", DType::F32, {ffn, 1}, s1.data()},
        {"fc1.bias", DType::F32, {ffn}, b1.data()},
        {"fc2.weight", DType::I4, {d, ffn}, w2.data()},
        {"fc2.weight.scales", DType::F32, {d, 1}, s2.data()},
        {"fc2.bias", DType::F32, {d}, b2.data()},
    };
    writer.add_expert(e.stack, e.layer, e.expert, tensors, /*zstd_level=*/1);
    if (++done % 32 == 0 || done == plan.experts.size())
      std::fprintf(stderr, "make_synthetic_model: %zu/%zu experts\n", done, plan.experts.size());
  }
  writer.finish();
  std::fprintf(stderr, "make_synthetic_model: wrote %s\n", a.out.c_str());
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "make_synthetic_model: error: %s\n", e.what());
  return 1;
}
