// attention() over one sequence: heads split along columns, causal masking by absolute
// position (each row's KeyRange counts the keys up to its position), sub-views.
#include <string>
#include <tuple>

#include "test_util.h"

namespace tusk::backends::test {
namespace {

// fp32 scores and sums stay within ~2e-6 of the double reference on these sizes.
constexpr double kTol = 1e-5;

struct AttnCase {
  int64_t tq, tk;
  int heads;
  int64_t head_dim;
  bool causal;
  int64_t q_offset;
  int64_t extra_ld;  // > 0: every matrix is a column slice of a wider buffer
};

std::string case_name(const AttnCase& c) {
  return "tq" + std::to_string(c.tq) + "_tk" + std::to_string(c.tk) + "_h" +
         std::to_string(c.heads) + "_hd" + std::to_string(c.head_dim) +
         (c.causal ? "_causal" : "") + "_off" + std::to_string(c.q_offset) + "_pad" +
         std::to_string(c.extra_ld);
}

std::ostream& operator<<(std::ostream& os, const AttnCase& c) { return os << case_name(c); }

void check_attention(Backend& backend, const AttnCase& c, unsigned seed) {
  const int64_t d = c.heads * c.head_dim, ld = d + c.extra_ld;
  std::mt19937 rng(seed);
  Matrix q(c.tq, d, ld), k(c.tk, d, ld), v(c.tk, d, ld);
  q.fill_random(rng, -2.0f, 2.0f);
  k.fill_random(rng, -2.0f, 2.0f);
  v.fill_random(rng);
  const DeviceMatrix dq(backend, q), dk(backend, k), dv(backend, v);
  DeviceMatrix out(backend, Matrix(c.tq, d, ld));
  const std::vector<KeyRange> ranges = sequence_ranges(c.tq, c.tk, c.causal, c.q_offset);
  backend.attention(dq.view(), dk.view(), dv.view(), c.heads, ranges.data(), out.mut());
  expect_close(out.download(), ref_attention(q, k, v, c.heads, ranges), kTol);
}

class AttentionTest : public ::testing::TestWithParam<std::tuple<AttnCase, BackendParam>> {};

TEST_P(AttentionTest, MatchesReference) {
  const auto& [c, p] = GetParam();
  auto backend = make_backend({p.device, p.threads});
  check_attention(*backend, c, 11);
}

INSTANTIATE_TEST_SUITE_P(
    Cases, AttentionTest,
    ::testing::Combine(
        ::testing::Values(AttnCase{1, 1, 1, 1, false, 0, 0},
                          AttnCase{5, 7, 3, 5, false, 0, 3},      // odd sizes, sub-view
                          AttnCase{20, 20, 4, 64, false, 0, 0},   // encoder self-attention
                          AttnCase{20, 20, 4, 64, true, 0, 0},    // decoder prefill
                          AttnCase{1, 37, 4, 64, true, 36, 0},    // decode step
                          AttnCase{1, 256, 4, 64, true, 255, 512},  // long decode, qkv slice
                          AttnCase{3, 10, 2, 8, true, 7, 0},      // chunk after a prefix
                          AttnCase{9, 31, 4, 64, false, 0, 128},  // cross-attention
                          AttnCase{128, 128, 4, 64, true, 0, 0}),  // large enough to thread
        ::testing::ValuesIn(backend_params())),
    [](const ::testing::TestParamInfo<std::tuple<AttnCase, BackendParam>>& info) {
      return case_name(std::get<0>(info.param)) + "_" + param_name(std::get<1>(info.param));
    });

class AttentionSequenceTest : public BackendTest {};

TEST_P(AttentionSequenceTest, CausalDecodeStepEqualsLastRowOfPrefill) {
  const int64_t t = 12, d = 2 * 16;
  std::mt19937 rng(9);
  Matrix q(t, d), k(t, d), v(t, d);
  q.fill_random(rng);
  k.fill_random(rng);
  v.fill_random(rng);
  const DeviceMatrix dq(backend(), q), dk(backend(), k), dv(backend(), v);
  DeviceMatrix full(backend(), Matrix(t, d));
  const std::vector<KeyRange> causal = sequence_ranges(t, t, true);
  backend().attention(dq.view(), dk.view(), dv.view(), 2, causal.data(), full.mut());
  const MatrixView last_q{dq.data() + (t - 1) * d, 1, d, d};
  DeviceMatrix step(backend(), Matrix(1, d));
  const KeyRange all{0, t, 1};
  backend().attention(last_q, dk.view(), dv.view(), 2, &all, step.mut());
  const Matrix f = full.download(), s = step.download();
  for (int64_t c = 0; c < d; ++c) EXPECT_NEAR(s.at(0, c), f.at(t - 1, c), 1e-6);
}

TEST_P(AttentionSequenceTest, RejectsHeadsThatDoNotDivideWidth) {
  const DeviceMatrix q(backend(), Matrix(2, 10)), k(backend(), Matrix(2, 10)),
      v(backend(), Matrix(2, 10));
  DeviceMatrix out(backend(), Matrix(2, 10));
  const std::vector<KeyRange> ranges = sequence_ranges(2, 2, false);
  EXPECT_INVALID_ARGUMENT(
      backend().attention(q.view(), k.view(), v.view(), 3, ranges.data(), out.mut()));
}

TUSK_INSTANTIATE_BACKEND_TESTS(AttentionSequenceTest);

}  // namespace
}  // namespace tusk::backends::test
