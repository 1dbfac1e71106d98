// The CUDA backend end to end, through the C ABI, against the CPU engine on the same model
// (the committed default model: int4 experts, int8 dense, fp32 compute on both):
//   * greedy output ids identical on >= 98% of the 300 shared reference sources (the CPU
//     rounds activations to int16 in its integer products, the GPU keeps fp32: differences
//     only where two tokens nearly tie);
//   * fp16 and bf16 compute (tensor cores) keep BLEU within 0.3 of the CPU's;
//   * an expert budget (paging) changes nothing on the GPU either;
//   * device indices the machine lacks are refused by name.
// Without a usable GPU these tests skip, saying why; what runs everywhere is the refusal
// itself: a CUDA translator is never a silent CPU one.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <map>
#include <string>
#include <vector>

#include "tusk_test_util.h"

namespace {

using namespace tusk_test;

constexpr double kIdenticalFraction = 0.98;

// A CUDA translator for model, or null with the reason (status and message) when this
// machine cannot run one.
Translator make_cuda_translator(tusk_model_t* model, std::initializer_list<IntOption> extra, std::string* why) {
  std::vector<IntOption> ints{{TUSK_OPT_DEVICE, TUSK_DEVICE_CUDA}, {TUSK_OPT_THREADS, test_threads()}};
  ints.insert(ints.end(), extra.begin(), extra.end());
  tusk_options_t* raw = nullptr;
  check(tusk_options_create(&raw), "tusk_options_create");
  Options options(raw);
  for (const IntOption& o : ints) check(tusk_options_set_int(raw, o.key, o.value), "tusk_options_set_int");
  tusk_translator_t* tr = nullptr;
  const tusk_status_t st = tusk_translator_create(model, raw, &tr);
  if (st != TUSK_OK) {
    *why = std::string(tusk_status_name(st)) + ": " + tusk_last_error();
    return nullptr;
  }
  return Translator(tr);
}

class CudaAgreement : public ::testing::Test {
 protected:
  void SetUp() override {
    model_ = open_model();
    cuda_ = make_cuda_translator(model_.get(), {}, &why_);
    if (!cuda_) GTEST_SKIP() << "no CUDA here, so nothing ran on a GPU: " << why_;
    cpu_ = make_translator(model_.get(), make_options({{TUSK_OPT_THREADS, test_threads()}}).get());
  }
  Model model_;
  Translator cpu_, cuda_;
  std::string why_;
};

TEST_F(CudaAgreement, GreedyIdsMatchTheCpuOnTheSharedReferences) {
  int total = 0, identical = 0;
  std::string differences;
  for (const std::string& direction : directions()) {
    const auto [src, tgt] = split_direction(direction);
    const std::vector<std::string> texts = sources(load_golden(direction));
    const std::vector<Hyp> cpu = translate(cpu_.get(), src, tgt, texts);
    const std::vector<Hyp> gpu = translate(cuda_.get(), src, tgt, texts);
    for (size_t i = 0; i < texts.size(); ++i, ++total) {
      if (cpu[i].ids == gpu[i].ids) {
        ++identical;
        continue;
      }
      differences += "\n  " + direction + " #" + std::to_string(i) + ": cpu \"" + cpu[i].text + "\" / cuda \"" +
                     gpu[i].text + "\"";
    }
  }
  const double fraction = static_cast<double>(identical) / total;
  RecordProperty("identical_fraction", std::to_string(fraction));
  EXPECT_GE(fraction, kIdenticalFraction) << identical << " of " << total << " identical:" << differences;
  std::printf("cuda vs cpu: %d of %d greedy outputs identical%s\n", identical, total, differences.c_str());
}

// Corpus BLEU (4-grams, brevity penalty) on tokens split at spaces with punctuation set apart:
// close to sacreBLEU's 13a, and the same for both engines, which is what the comparison needs.
std::vector<std::string> bleu_tokens(const std::string& text) {
  std::vector<std::string> out;
  std::string word;
  auto flush = [&] {
    if (!word.empty()) out.push_back(word);
    word.clear();
  };
  for (char c : text) {
    if (c == ' ' || c == '\t') {
      flush();
    } else if (std::string(".,!?;:\"()[]").find(c) != std::string::npos) {
      flush();
      out.push_back(std::string(1, c));
    } else {
      word += c;
    }
  }
  flush();
  return out;
}

double corpus_bleu(const std::vector<std::string>& hyps, const std::vector<std::string>& refs) {
  double matches[4] = {0, 0, 0, 0}, totals[4] = {0, 0, 0, 0}, hyp_len = 0, ref_len = 0;
  for (size_t i = 0; i < hyps.size(); ++i) {
    const auto h = bleu_tokens(hyps[i]), r = bleu_tokens(refs[i]);
    hyp_len += static_cast<double>(h.size());
    ref_len += static_cast<double>(r.size());
    for (size_t n = 1; n <= 4; ++n) {
      std::map<std::string, int> ref_counts;
      for (size_t j = 0; j + n <= r.size(); ++j) {
        std::string g;
        for (size_t q = 0; q < n; ++q) g += r[j + q] + " ";
        ++ref_counts[g];
      }
      for (size_t j = 0; j + n <= h.size(); ++j) {
        std::string g;
        for (size_t q = 0; q < n; ++q) g += h[j + q] + " ";
        auto it = ref_counts.find(g);
        if (it != ref_counts.end() && it->second > 0) {
          --it->second;
          ++matches[n - 1];
        }
        ++totals[n - 1];
      }
    }
  }
  double log_precision = 0;
  for (int n = 0; n < 4; ++n) {
    if (matches[n] == 0) return 0.0;
    log_precision += std::log(matches[n] / totals[n]) / 4.0;
  }
  const double brevity = hyp_len < ref_len ? std::exp(1.0 - ref_len / hyp_len) : 1.0;
  return 100.0 * brevity * std::exp(log_precision);
}

std::vector<std::string> read_gz_lines(const std::string& path, size_t count) {
  std::vector<std::string> lines;
  FILE* f = popen(("zcat '" + path + "'").c_str(), "r");
  if (f == nullptr) return lines;
  char buffer[4096];
  while (lines.size() < count && std::fgets(buffer, sizeof buffer, f) != nullptr) {
    std::string line(buffer);
    while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.pop_back();
    lines.push_back(line);
  }
  pclose(f);
  return lines;
}

std::vector<std::string> texts_of(const std::vector<Hyp>& hyps) {
  std::vector<std::string> out;
  for (const Hyp& h : hyps) out.push_back(h.text);
  return out;
}

// fp16 and bf16 tensor-core compute keep BLEU within 0.3 of the CPU engine's on 1000
// Multi30k test sentences en->de (int4 experts, int8 dense: the committed model).
TEST_F(CudaAgreement, HalfPrecisionComputeKeepsBleu) {
  const std::string data = shared_dir() + "/data/multi30k/";
  const std::vector<std::string> sources = read_gz_lines(data + "test_2016_flickr.en.gz", 1000);
  const std::vector<std::string> refs = read_gz_lines(data + "test_2016_flickr.de.gz", 1000);
  ASSERT_EQ(sources.size(), 1000u) << "Multi30k test sentences under " << data;
  ASSERT_EQ(refs.size(), sources.size());
  const double cpu = corpus_bleu(texts_of(translate(cpu_.get(), "en", "de", sources)), refs);
  for (const auto& [type, name] : {std::pair{TUSK_COMPUTE_FP32, "fp32"}, std::pair{TUSK_COMPUTE_FP16, "fp16"},
                                   std::pair{TUSK_COMPUTE_BF16, "bf16"}}) {
    std::string why;
    Translator gpu = make_cuda_translator(model_.get(), {{TUSK_OPT_COMPUTE_TYPE, type}}, &why);
    ASSERT_TRUE(gpu) << why;
    const double bleu = corpus_bleu(texts_of(translate(gpu.get(), "en", "de", sources)), refs);
    std::printf("BLEU en->de, 1000 sentences: cpu %.2f, cuda %s %.2f\n", cpu, name, bleu);
    EXPECT_NEAR(bleu, cpu, 0.3) << name;
  }
}

TEST_F(CudaAgreement, PagedExpertsGiveTheSameOutput) {
  std::string why;
  uint64_t largest = 0;
  check(tusk_model_expert_bytes(model_.get(), nullptr, &largest), "tusk_model_expert_bytes");
  Translator paged = make_cuda_translator(model_.get(), {{TUSK_OPT_EXPERT_BUDGET_BYTES, static_cast<int64_t>(3 * largest)}}, &why);
  ASSERT_TRUE(paged) << why;
  const std::vector<std::string> texts = sources(load_golden("en-de"));
  const std::vector<Hyp> all = translate(cuda_.get(), "en", "de", texts);
  const std::vector<Hyp> some = translate(paged.get(), "en", "de", texts);
  for (size_t i = 0; i < texts.size(); ++i) EXPECT_EQ(all[i].ids, some[i].ids) << texts[i];
}

TEST_F(CudaAgreement, AMissingDeviceIndexIsRefusedByName) {
  std::string why;
  EXPECT_FALSE(make_cuda_translator(model_.get(), {{TUSK_OPT_DEVICE_INDEX, 1000}}, &why));
  EXPECT_NE(why.find("cuda:1000"), std::string::npos) << why;
}

// Everywhere: either a CUDA translator, or a refusal that says CUDA and why (no silent CPU).
TEST(CudaRefusal, NoGpuMeansAClearErrorNeverTheCpu) {
  Model model = open_model();
  std::string why;
  Translator tr = make_cuda_translator(model.get(), {}, &why);
  if (tr) GTEST_SKIP() << "this machine has a usable GPU; CudaAgreement covers it";
  EXPECT_EQ(why.rfind("TUSK_ERROR_UNSUPPORTED: CUDA: ", 0), 0u) << why;
}

}  // namespace
