// attention(): heads split along columns, causal masking by absolute position, sub-views.
#include <tuple>

#include "common/error.h"
#include "test_util.h"

namespace tusk::backends::test {
namespace {

constexpr double kTol = 1e-4;

struct AttnCase {
  int64_t tq, tk;
  int heads;
  int64_t head_dim;
  bool causal;
  int64_t q_offset;
  int64_t extra_ld;  // > 0: every matrix is a column slice of a wider buffer
};

std::ostream& operator<<(std::ostream& os, const AttnCase& c) {
  return os << "tq" << c.tq << "_tk" << c.tk << "_h" << c.heads << "_hd" << c.head_dim
            << (c.causal ? "_causal" : "") << "_off" << c.q_offset << "_pad" << c.extra_ld;
}

void check_attention(const AttnCase& c, int threads, unsigned seed) {
  const int64_t d = c.heads * c.head_dim, ld = d + c.extra_ld;
  std::mt19937 rng(seed);
  Matrix q(c.tq, d, ld), k(c.tk, d, ld), v(c.tk, d, ld);
  q.fill_random(rng, -2.0f, 2.0f);
  k.fill_random(rng, -2.0f, 2.0f);
  v.fill_random(rng);
  Matrix out(c.tq, d, ld);
  auto backend = make_cpu_backend(threads);
  backend->attention(q.view(), k.view(), v.view(), c.heads, c.causal, c.q_offset, out.mut());
  expect_close(out, ref_attention(q, k, v, c.heads, c.causal, c.q_offset), kTol);
}

class AttentionTest : public ::testing::TestWithParam<std::tuple<AttnCase, int>> {};

TEST_P(AttentionTest, MatchesReference) {
  const auto& [c, threads] = GetParam();
  check_attention(c, threads, 11);
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
        ::testing::Values(1, 2)));

TEST(Attention, CausalDecodeStepEqualsLastRowOfPrefill) {
  const int64_t t = 12, d = 2 * 16;
  std::mt19937 rng(9);
  Matrix q(t, d), k(t, d), v(t, d);
  q.fill_random(rng);
  k.fill_random(rng);
  v.fill_random(rng);
  auto backend = make_cpu_backend(2);
  Matrix full(t, d);
  backend->attention(q.view(), k.view(), v.view(), 2, true, 0, full.mut());
  const MatrixView last_q{q.data.data() + (t - 1) * d, 1, d, d};
  Matrix step(1, d);
  backend->attention(last_q, k.view(), v.view(), 2, true, t - 1, step.mut());
  for (int64_t c = 0; c < d; ++c) EXPECT_NEAR(step.at(0, c), full.at(t - 1, c), 1e-6);
}

TEST(Attention, RejectsHeadsThatDoNotDivideWidth) {
  auto backend = make_cpu_backend(1);
  Matrix q(2, 10), k(2, 10), v(2, 10), out(2, 10);
  EXPECT_THROW(backend->attention(q.view(), k.view(), v.view(), 3, false, 0, out.mut()),
               tusk::Error);
}

}  // namespace
}  // namespace tusk::backends::test
