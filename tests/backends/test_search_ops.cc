// The decode loop's host results: argmax_log_softmax (greedy search) and top_k (beam candidates),
// ties included, against references that look at every candidate; and fill_column.
#include <cmath>
#include <functional>
#include <limits>
#include <map>
#include <set>
#include <utility>

#include "test_util.h"

namespace tusk::backends::test {
namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();

class SearchOpsTest : public BackendTest {
 protected:
  // argmax_log_softmax against the first maximum of each row outside the excluded column (0
  // where none is above -inf), for no exclusion and for the first, a middle and the last
  // column; the log-probabilities must equal log_softmax's on a copy of x, bit for bit (both
  // NaN where the row max is infinite).
  void check_argmax(const Matrix& x) {
    std::vector<float> normalised;
    if (x.cols > 0) {
      DeviceMatrix copy(backend(), x);
      backend().log_softmax(copy.mut());
      normalised = copy.download().data;
    }
    for (int64_t excluded : {int64_t{-1}, int64_t{0}, x.cols / 2, x.cols - 1}) {
      if (excluded >= x.cols) continue;
      const DeviceMatrix d(backend(), x);
      std::vector<int32_t> ids(static_cast<size_t>(x.rows), -7);
      std::vector<float> logprobs(static_cast<size_t>(x.rows), -7.0f);
      backend().argmax_log_softmax(d.view(), excluded, ids.data(), logprobs.data());
      for (int64_t r = 0; r < x.rows; ++r) {
        int64_t best = -1;
        for (int64_t c = 0; c < x.cols; ++c)
          if (c != excluded && x.at(r, c) > -kInf && (best < 0 || x.at(r, c) > x.at(r, best))) best = c;
        if (best < 0) best = 0;
        EXPECT_EQ(ids[r], best) << "row " << r << " excluded " << excluded;
        if (x.cols == 0) continue;
        const float want = normalised[static_cast<size_t>(r * x.ld + best)];
        if (std::isnan(want))
          EXPECT_TRUE(std::isnan(logprobs[r])) << "row " << r;
        else
          EXPECT_EQ(logprobs[r], want) << "row " << r << " excluded " << excluded;
      }
    }
  }

  // top_k against every candidate of each group sorted by score: the scores must match in
  // order exactly; each returned candidate must be a distinct (row, token) of its group whose
  // score and logprob are what x and base say (so among equal scores any choice passes).
  void check_top_k(const Matrix& x, const std::vector<double>& base,
                   const std::vector<int64_t>& group_begin, int k) {
    const int64_t groups = static_cast<int64_t>(group_begin.size()) - 1;
    const DeviceMatrix d(backend(), x);
    std::vector<BeamCandidate> out(static_cast<size_t>(groups * k), BeamCandidate{-1.0, -1, -1, -1.0f});
    std::vector<int64_t> counts(static_cast<size_t>(groups), -1);
    backend().top_k(d.view(), base.data(), group_begin.data(), groups, k, out.data(),
                    counts.data());
    for (int64_t g = 0; g < groups; ++g) {
      std::vector<double> scores;
      std::map<double, std::set<std::pair<int32_t, int32_t>>> by_score;
      for (int64_t r = group_begin[g]; r < group_begin[g + 1]; ++r) {
        for (int64_t t = 0; t < x.cols; ++t) {
          const double s = base[r] + double(x.at(r, t));
          scores.push_back(s);
          by_score[s].insert({static_cast<int32_t>(r), static_cast<int32_t>(t)});
        }
      }
      std::sort(scores.begin(), scores.end(), std::greater<double>());
      const int64_t n = std::min<int64_t>(k, static_cast<int64_t>(scores.size()));
      ASSERT_EQ(counts[g], n) << "group " << g;
      std::set<std::pair<int32_t, int32_t>> seen;
      for (int64_t i = 0; i < n; ++i) {
        const BeamCandidate& c = out[g * k + i];
        SCOPED_TRACE("group " + std::to_string(g) + " candidate " + std::to_string(i));
        EXPECT_EQ(c.score, scores[i]);
        ASSERT_GE(c.row, group_begin[g]);
        ASSERT_LT(c.row, group_begin[g + 1]);
        ASSERT_GE(c.token, 0);
        ASSERT_LT(c.token, x.cols);
        EXPECT_EQ(c.logprob, x.at(c.row, c.token));
        EXPECT_EQ(by_score[c.score].count({c.row, c.token}), 1u)
            << "(" << c.row << ", " << c.token << ") does not score " << c.score;
        EXPECT_TRUE(seen.insert({c.row, c.token}).second)
            << "(" << c.row << ", " << c.token << ") returned twice";
      }
    }
  }

  std::mt19937 rng_{3};
};

// Log-probability-like values on a grid of quarters: many exact ties.
Matrix grid(std::mt19937& rng, int64_t rows, int64_t cols, int64_t ld, int steps) {
  Matrix m(rows, cols, ld);
  std::uniform_int_distribution<int> pick(0, steps);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c) m.at(r, c) = -0.25f * static_cast<float>(pick(rng));
  return m;
}

TEST_P(SearchOpsTest, ArgmaxRandomRows) {
  Matrix x(9, 37, 40);
  x.fill_random(rng_);
  check_argmax(x);
  Matrix vocab(6, 8000, 8003);
  vocab.fill_random(rng_, -20.0f, 0.0f);
  check_argmax(vocab);
}

TEST_P(SearchOpsTest, ArgmaxTiesAndInfinities) {
  Matrix x(8, 8000, 8001);
  x.fill_random(rng_, -5.0f, 0.0f);
  // Ties far apart (across any split of a row), at the ends of the row, and everywhere.
  x.at(0, 10) = x.at(0, 7000) = 3.0f;
  x.at(1, 0) = x.at(1, 7999) = 3.0f;
  x.at(2, 7998) = x.at(2, 7999) = 3.0f;
  for (int64_t c = 0; c < x.cols; ++c) x.at(3, c) = -1.5f;
  for (int64_t c = 0; c < x.cols; ++c) x.at(4, c) = -kInf;  // all -inf: index 0
  for (int64_t c = 0; c < x.cols; ++c) x.at(5, c) = -kInf;
  x.at(5, 6000) = -100.0f;
  x.at(6, 3) = x.at(6, 4000) = kInf;
  x.at(7, 7999) = 1.0f;
  check_argmax(x);
}

TEST_P(SearchOpsTest, ArgmaxShortRows) {
  Matrix one(5, 1, 3), three(4, 3);
  one.fill_random(rng_);
  three.fill_random(rng_);
  three.at(1, 1) = three.at(1, 2) = 2.0f;
  three.at(2, 0) = three.at(2, 1) = three.at(2, 2) = -kInf;
  check_argmax(one);
  check_argmax(three);
}

TEST_P(SearchOpsTest, ArgmaxOfEmptyRowsIsZero) {
  check_argmax(Matrix(3, 0, 4));
}

TEST_P(SearchOpsTest, TopKWithManyTies) {
  const Matrix x = grid(rng_, 8, 50, 53, 12);
  const std::vector<double> base = {0.0, -0.25, -0.25, 0.0, -1.0, -0.5, -0.5, -0.5};
  // Groups of 3, 0, 1 and 4 rows.
  check_top_k(x, base, {0, 3, 3, 4, 8}, 5);
  check_top_k(x, base, {0, 3, 3, 4, 8}, 1);
  check_top_k(x, base, {0, 8}, 40);
}

TEST_P(SearchOpsTest, TopKAllTied) {
  Matrix x(4, 6);
  std::fill(x.data.begin(), x.data.end(), -2.0f);
  check_top_k(x, {1.0, 1.0, 1.0, 1.0}, {0, 2, 4}, 5);
}

TEST_P(SearchOpsTest, TopKCountIsAtMostTheCandidates) {
  Matrix x(3, 3);
  x.fill_random(rng_, -3.0f, 0.0f);
  check_top_k(x, {-0.5, -1.5, 0.0}, {0, 1, 3}, 8);  // 3 and 6 candidates
  check_top_k(x, {-0.5, -1.5, 0.0}, {0, 3}, 9);      // exactly all
}

TEST_P(SearchOpsTest, TopKOverAVocabulary) {
  Matrix x(12, 8000, 8000);
  x.fill_random(rng_, -25.0f, 0.0f);
  std::vector<double> base(12);
  for (auto& b : base) b = std::uniform_real_distribution<double>(-10.0, 0.0)(rng_);
  // Equal best tokens in different rows of a group.
  x.at(0, 17) = x.at(1, 7999) = 0.0f;
  base[0] = base[1] = -0.125;
  check_top_k(x, base, {0, 4, 8, 12}, 8);
  check_top_k(x, base, {0, 1, 12}, 10);
}

// Masked tokens (-inf) still count as candidates when k exceeds the finite ones.
TEST_P(SearchOpsTest, TopKMaskedTokens) {
  Matrix x(3, 5);
  x.fill_random(rng_, -3.0f, 0.0f);
  for (int64_t r = 0; r < 3; ++r)
    for (int64_t c = 1; c < 5; ++c) x.at(r, c) = -kInf;
  check_top_k(x, {0.0, -1.0, -2.0}, {0, 3}, 6);
  check_top_k(x, {0.0, -1.0, -2.0}, {0, 1, 3}, 3);
}

// fill_column (end of sentence before the minimum length): that column of every row, and
// nothing else, including the padding past cols.
TEST_P(SearchOpsTest, FillColumnSetsOneColumnOfEveryRow) {
  Matrix x(5, 37, 40);
  x.fill_random(rng_);
  DeviceMatrix d(backend(), x);
  backend().fill_column(d.mut(), 2, -kInf);
  const Matrix got = d.download();
  for (int64_t r = 0; r < x.rows; ++r)
    for (int64_t c = 0; c < x.ld; ++c)
      EXPECT_EQ(got.at(r, c), c == 2 ? -kInf : x.at(r, c)) << r << ", " << c;
  EXPECT_INVALID_ARGUMENT(backend().fill_column(d.mut(), 37, 0.0f));
  EXPECT_INVALID_ARGUMENT(backend().fill_column(d.mut(), -1, 0.0f));
}

// edit_scores: bans become -inf, penalties divide positive scores and multiply negative
// ones, other entries and the padding stay as they were.
TEST_P(SearchOpsTest, EditScoresBansAndPenalises) {
  Matrix x(3, 6, 8);
  std::mt19937 rng(41);
  x.fill_random(rng, -2.0f, 2.0f);
  x.at(1, 2) = 1.5f;
  x.at(1, 3) = -1.5f;
  x.at(2, 0) = 0.0f;
  const std::vector<ScoreEdit> edits{{0, 5, 0.0f}, {1, 2, 1.25f}, {1, 3, 1.25f}, {2, 0, 2.0f}, {2, 4, 0.0f}};
  Matrix want = x;
  want.at(0, 5) = -INFINITY;
  want.at(1, 2) = 1.5f / 1.25f;
  want.at(1, 3) = -1.5f * 1.25f;
  want.at(2, 4) = -INFINITY;
  DeviceMatrix d(backend(), x);
  backend().edit_scores(d.mut(), edits.data(), static_cast<int64_t>(edits.size()));
  const Matrix got = d.download();
  for (int64_t r = 0; r < 3; ++r)
    for (int64_t c = 0; c < 6; ++c) EXPECT_EQ(got.at(r, c), want.at(r, c)) << r << "," << c;
  EXPECT_TRUE(got.padding_intact());
  backend().edit_scores(d.mut(), nullptr, 0);  // nothing to do
  const std::vector<ScoreEdit> outside{{3, 0, 0.0f}}, negative{{0, 0, -1.0f}};
  EXPECT_THROW(backend().edit_scores(d.mut(), outside.data(), 1), Error);
  EXPECT_THROW(backend().edit_scores(d.mut(), negative.data(), 1), Error);
}

TEST_P(SearchOpsTest, ReadScoresReadsTheEntries) {
  Matrix x(4, 9, 11);
  std::mt19937 rng(43);
  x.fill_random(rng);
  const DeviceMatrix d(backend(), x);
  const std::vector<ScoreIndex> entries{{0, 0}, {3, 8}, {2, 4}, {2, 4}};
  std::vector<float> values(entries.size(), -7.0f);
  backend().read_scores(d.view(), entries.data(), static_cast<int64_t>(entries.size()), values.data());
  for (size_t i = 0; i < entries.size(); ++i) EXPECT_EQ(values[i], x.at(entries[i].row, entries[i].column));
  const std::vector<ScoreIndex> outside{{4, 0}};
  EXPECT_THROW(backend().read_scores(d.view(), outside.data(), 1, values.data()), Error);
}

TUSK_INSTANTIATE_BACKEND_TESTS(SearchOpsTest);

}  // namespace
}  // namespace tusk::backends::test
