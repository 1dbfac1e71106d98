// Mixture-of-experts ops: NLLB-MoE top-2 routing (ties included), gathering an expert's rows,
// scattering its results back, and the gated combination of the two experts' outputs.
#include <cfloat>
#include <limits>
#include <set>

#include "test_util.h"

namespace tusk::backends::test {
namespace {

// The rule in backend.h, in double: first = the first maximum of the softmax (the first
// maximum logit: softmax keeps the order), second = the first maximum of the other logits,
// gates = (p1, p2) / max(p1 + p2, FLT_EPSILON).
ExpertRoute ref_route(const Matrix& logits, int64_t row) {
  const int64_t n = logits.cols;
  auto first_max = [&](int64_t skip) {
    int64_t best = -1;
    for (int64_t e = 0; e < n; ++e)
      if (e != skip && (best < 0 || logits.at(row, e) > logits.at(row, best))) best = e;
    return best;
  };
  const int64_t first = first_max(-1), second = first_max(first);
  const double m = logits.at(row, first);
  double sum = 0;
  for (int64_t e = 0; e < n; ++e) sum += std::exp(double(logits.at(row, e)) - m);
  const double p1 = 1.0 / sum, p2 = std::exp(double(logits.at(row, second)) - m) / sum;
  const double norm = std::max(p1 + p2, double(FLT_EPSILON));
  return {{static_cast<int32_t>(first), static_cast<int32_t>(second)},
          {static_cast<float>(p1 / norm), static_cast<float>(p2 / norm)}};
}

class MoeOpsTest : public BackendTest {
 protected:
  void check_routes(const Matrix& logits) {
    const DeviceMatrix d(backend(), logits);
    std::vector<ExpertRoute> routes(static_cast<size_t>(logits.rows),
                                    ExpertRoute{{-7, -7}, {-7.0f, -7.0f}});
    backend().route_top2(d.view(), routes.data());
    for (int64_t r = 0; r < logits.rows; ++r) {
      const ExpertRoute want = ref_route(logits, r);
      std::string row;
      for (int64_t e = 0; e < std::min<int64_t>(logits.cols, 16); ++e)
        row += std::to_string(logits.at(r, e)) + " ";
      EXPECT_EQ(routes[r].expert[0], want.expert[0]) << "row " << r << ": " << row;
      EXPECT_EQ(routes[r].expert[1], want.expert[1]) << "row " << r << ": " << row;
      EXPECT_NEAR(routes[r].gate[0], want.gate[0], 1e-6) << "row " << r << ": " << row;
      EXPECT_NEAR(routes[r].gate[1], want.gate[1], 1e-6) << "row " << r << ": " << row;
    }
  }
  std::mt19937 rng_{5};
};

// Logits on a coarse grid: equal logits are common (ties), unequal ones far apart.
Matrix grid_logits(std::mt19937& rng, int64_t tokens, int64_t experts, int steps) {
  Matrix m(tokens, experts, experts + 3);
  std::uniform_int_distribution<int> pick(-steps, steps);
  for (int64_t r = 0; r < tokens; ++r)
    for (int64_t e = 0; e < experts; ++e) m.at(r, e) = 0.25f * static_cast<float>(pick(rng));
  return m;
}

TEST_P(MoeOpsTest, RouteTop2RandomLogits) {
  for (int64_t experts : {2, 3, 8, 64, 128}) {
    Matrix logits(37, experts, experts + 1);
    logits.fill_random(rng_, -4.0f, 4.0f);
    check_routes(logits);
  }
}

TEST_P(MoeOpsTest, RouteTop2TiesPickTheLowestIndex) {
  for (int64_t experts : {2, 4, 8, 128}) check_routes(grid_logits(rng_, 200, experts, 3));
  // Hand-made ties: every logit equal; the top tied; the runner-up tied; top and runner-up
  // equal at the end of the row.
  Matrix m(4, 5);
  const float rows[4][5] = {{1, 1, 1, 1, 1}, {0, 2, -1, 2, 2}, {3, 1, 0, 1, 1}, {0, 0, 0, 5, 5}};
  for (int r = 0; r < 4; ++r)
    for (int e = 0; e < 5; ++e) m.at(r, e) = rows[r][e];
  check_routes(m);
}

TEST_P(MoeOpsTest, RouteTop2LargeLogitsAndUnderflow) {
  Matrix m(4, 4);
  const float rows[4][4] = {{100, -100, 99.5f, 0}, {0, -200, -300, -250}, {-80, -81, -90, -95},
                            {60, 60, -60, 10}};
  for (int r = 0; r < 4; ++r)
    for (int e = 0; e < 4; ++e) m.at(r, e) = rows[r][e];
  check_routes(m);
}

TEST_P(MoeOpsTest, RouteTop2InfiniteLogits) {
  const float inf = std::numeric_limits<float>::infinity();
  Matrix m(3, 4);
  const float rows[3][4] = {{-inf, 2, -inf, -inf}, {-inf, -inf, -inf, 1}, {0, -inf, 0, -inf}};
  for (int r = 0; r < 3; ++r)
    for (int e = 0; e < 4; ++e) m.at(r, e) = rows[r][e];
  check_routes(m);
}

TEST_P(MoeOpsTest, RouteTop2ManyTokens) {
  check_routes(grid_logits(rng_, 1000, 128, 40));
}

TEST_P(MoeOpsTest, RouteTop2RejectsFewerThanTwoExperts) {
  const DeviceMatrix one(backend(), Matrix(3, 1));
  std::vector<ExpertRoute> routes(3);
  EXPECT_INVALID_ARGUMENT(backend().route_top2(one.view(), routes.data()));
}

TEST_P(MoeOpsTest, GatherRowsCopiesTheChosenRows) {
  for (const auto& [rows, cols] : std::vector<std::pair<int64_t, int64_t>>{{10, 33}, {300, 512}}) {
    Matrix x(rows, cols, cols + 7);
    x.fill_random(rng_);
    std::uniform_int_distribution<int64_t> pick(0, rows - 1);
    std::vector<int64_t> index = {3, 3, 0, rows - 1, 5};  // repeats allowed
    for (int i = 0; i < 200; ++i) index.push_back(pick(rng_));
    const DeviceMatrix dx(backend(), x);
    DeviceMatrix out(backend(), Matrix(static_cast<int64_t>(index.size()), cols, cols + 2));
    backend().gather_rows(dx.view(), index.data(), out.mut());
    const Matrix got = out.download();
    for (size_t i = 0; i < index.size(); ++i)
      for (int64_t c = 0; c < cols; ++c)
        ASSERT_EQ(got.at(i, c), x.at(index[i], c)) << "row " << i << " col " << c;
    EXPECT_TRUE(got.padding_intact());
  }
}

TEST_P(MoeOpsTest, ScatterRowsWritesOnlyTheChosenRows) {
  for (const auto& [rows, cols] : std::vector<std::pair<int64_t, int64_t>>{{10, 33}, {300, 512}}) {
    Matrix before(rows, cols, cols + 1);
    before.fill_random(rng_);
    // A random half of the rows, in random order.
    std::vector<int64_t> all(static_cast<size_t>(rows));
    for (int64_t r = 0; r < rows; ++r) all[r] = r;
    std::shuffle(all.begin(), all.end(), rng_);
    const std::vector<int64_t> index(all.begin(), all.begin() + rows / 2);
    Matrix x(static_cast<int64_t>(index.size()), cols, cols + 4);
    x.fill_random(rng_, 5.0f, 6.0f);
    const DeviceMatrix dx(backend(), x);
    DeviceMatrix out(backend(), before);
    backend().scatter_rows(dx.view(), index.data(), out.mut());
    const Matrix got = out.download();
    const std::set<int64_t> written(index.begin(), index.end());
    for (int64_t r = 0; r < rows; ++r) {
      if (written.count(r) != 0) continue;
      for (int64_t c = 0; c < cols; ++c)
        ASSERT_EQ(got.at(r, c), before.at(r, c)) << "untouched row " << r << " changed";
    }
    for (size_t i = 0; i < index.size(); ++i)
      for (int64_t c = 0; c < cols; ++c)
        ASSERT_EQ(got.at(index[i], c), x.at(i, c)) << "row " << index[i] << " col " << c;
    EXPECT_TRUE(got.padding_intact());
  }
}

// An expert's round trip: gather its tokens, scatter them back: the same matrix.
TEST_P(MoeOpsTest, GatherThenScatterRestoresRows) {
  Matrix x(20, 16);
  x.fill_random(rng_);
  const std::vector<int64_t> index = {19, 4, 7, 0, 11};
  const DeviceMatrix dx(backend(), x);
  DeviceMatrix picked(backend(), Matrix(5, 16));
  Matrix zeros(20, 16);
  std::fill(zeros.data.begin(), zeros.data.end(), 0.0f);
  DeviceMatrix back(backend(), zeros);
  backend().gather_rows(dx.view(), index.data(), picked.mut());
  backend().scatter_rows(picked.view(), index.data(), back.mut());
  const Matrix got = back.download();
  for (int64_t r = 0; r < 20; ++r) {
    const bool chosen = std::find(index.begin(), index.end(), r) != index.end();
    for (int64_t c = 0; c < 16; ++c) EXPECT_EQ(got.at(r, c), chosen ? x.at(r, c) : 0.0f);
  }
}

TEST_P(MoeOpsTest, CombineTop2WeighsBothExperts) {
  for (const auto& [tokens, cols] : std::vector<std::pair<int64_t, int64_t>>{{7, 33}, {400, 512}}) {
    Matrix first(tokens, cols, cols + 3), second(tokens, cols, cols + 9);
    first.fill_random(rng_);
    second.fill_random(rng_);
    std::uniform_real_distribution<float> gate(0.0f, 1.0f);
    std::vector<ExpertRoute> routes(static_cast<size_t>(tokens));
    for (auto& r : routes) {
      const float g = gate(rng_);
      r = {{0, 1}, {g, 1.0f - g}};
    }
    routes[0].gate[0] = 1.0f, routes[0].gate[1] = 0.0f;
    const DeviceMatrix df(backend(), first), ds(backend(), second);
    DeviceMatrix out(backend(), Matrix(tokens, cols, cols + 1));
    backend().combine_top2(df.view(), ds.view(), routes.data(), out.mut());
    std::vector<double> want(static_cast<size_t>(tokens * cols));
    for (int64_t t = 0; t < tokens; ++t)
      for (int64_t c = 0; c < cols; ++c)
        want[t * cols + c] = double(routes[t].gate[0]) * first.at(t, c) +
                             double(routes[t].gate[1]) * second.at(t, c);
    expect_close(out.download(), want, 1e-6);
  }
}

TEST_P(MoeOpsTest, RejectsMismatchedShapes) {
  const DeviceMatrix x(backend(), Matrix(4, 8)), x6(backend(), Matrix(4, 6)),
      x3(backend(), Matrix(3, 8));
  DeviceMatrix out(backend(), Matrix(4, 8)), out6(backend(), Matrix(4, 6));
  const std::vector<int64_t> index = {0, 1, 2, 3};
  EXPECT_INVALID_ARGUMENT(backend().gather_rows(x.view(), index.data(), out6.mut()));
  EXPECT_INVALID_ARGUMENT(backend().scatter_rows(x.view(), index.data(), out6.mut()));
  std::vector<ExpertRoute> routes(4, ExpertRoute{{0, 1}, {0.5f, 0.5f}});
  EXPECT_INVALID_ARGUMENT(backend().combine_top2(x.view(), x3.view(), routes.data(), out.mut()));
  EXPECT_INVALID_ARGUMENT(backend().combine_top2(x.view(), x6.view(), routes.data(), out.mut()));
  EXPECT_INVALID_ARGUMENT(backend().combine_top2(x.view(), x.view(), routes.data(), out6.mut()));
}

TEST_P(MoeOpsTest, RejectsRowsOutOfRange) {
  Matrix x(4, 8);
  x.fill_random(rng_);
  // Two rows more than the views claim: an unchecked access stays in allocated memory.
  const DeviceMatrix dx(backend(), x, 2);
  DeviceMatrix out(backend(), Matrix(2, 8), 2), big(backend(), Matrix(4, 8), 2);
  const std::vector<int64_t> past = {0, 4}, negative = {-1, 0};
  EXPECT_INVALID_ARGUMENT(backend().gather_rows(dx.view(), past.data(), out.mut()));
  EXPECT_INVALID_ARGUMENT(backend().gather_rows(dx.view(), negative.data(), out.mut()));
  const DeviceMatrix two(backend(), Matrix(2, 8));
  EXPECT_INVALID_ARGUMENT(backend().scatter_rows(two.view(), past.data(), big.mut()));
}

TUSK_INSTANTIATE_BACKEND_TESTS(MoeOpsTest);

}  // namespace
}  // namespace tusk::backends::test
