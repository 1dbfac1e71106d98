// The committed default model (int4 experts, int8 dense) stays close to the fp32 reference.
// Quantization changes some greedy choices, so this is not the parity contract (that is
// parity_test.cc on fp32 weights); it is a cheap end-to-end guard for the quantized kernels:
// a broken int4/int8 path drops agreement far below what it is today (245/300 exact, largest
// log-prob difference 0.32 on agreed prefixes). BLEU against fp32 lives in bench/quality.py.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "tusk_test_util.h"

using namespace tusk_test;

namespace {

constexpr double kMinExactFraction = 0.70;
constexpr double kMaxLogprobDiff = 0.5;  // on tokens where engine and reference agree

}  // namespace

TEST(QuantizedDefaultModel, StaysCloseToTheReference) {
  const Options opt = make_options({{TUSK_OPT_MAX_DECODING_LENGTH, 128},
                                    {TUSK_OPT_THREADS, test_threads()}});
  const Model model = open_model(opt.get());
  const Translator tr = make_translator(model.get(), opt.get());
  size_t total = 0, exact = 0;
  double max_diff = 0.0;
  for (const std::string& dir : directions()) {
    const auto [src, tgt] = split_direction(dir);
    const std::vector<Golden> goldens = load_golden(dir);
    const std::vector<Hyp> hyps = translate(tr.get(), src, tgt, sources(goldens));
    ASSERT_EQ(hyps.size(), goldens.size());
    for (size_t i = 0; i < goldens.size(); ++i) {
      const auto& ref = goldens[i].output_ids;
      const auto& got = hyps[i].ids;
      size_t d = 0;
      while (d < ref.size() && d < got.size() && ref[d] == got[d]) ++d;
      exact += d == ref.size() && d == got.size();
      // token_logprobs[k] belongs to output_ids[k + 1]: compare the agreed prefix.
      for (size_t k = 0; k + 1 < d && k < hyps[i].logprobs.size(); ++k)
        max_diff = std::max(max_diff, std::fabs(double(hyps[i].logprobs[k]) - goldens[i].token_logprobs[k]));
    }
    total += goldens.size();
  }
  std::printf("quantized default model: %zu/%zu outputs identical to the fp32 reference, "
              "largest log-prob difference on agreed tokens %.3g\n", exact, total, max_diff);
  EXPECT_GE(double(exact), kMinExactFraction * double(total));
  EXPECT_LE(max_diff, kMaxLogprobDiff);
}
