// Host work shared by the backends (backends/host_ops.h): the beam merge of per-row best
// entries, which the CUDA backend's top_k uses, against the CPU backend's top_k over whole
// groups; and where CUDA stands on this machine.
#include <algorithm>
#include <vector>

#include "backends/host_ops.h"
#include "test_util.h"

namespace tusk::backends::test {
namespace {

// Row r's best `row_k` entries by (value descending, column ascending), as the device's
// row_top_k produces them.
void row_best(const Matrix& x, int row_k, std::vector<float>& values, std::vector<int32_t>& columns,
              std::vector<int32_t>& counts) {
  values.assign(x.rows * row_k, 0.0f);
  columns.assign(x.rows * row_k, -1);
  counts.assign(x.rows, 0);
  for (int64_t r = 0; r < x.rows; ++r) {
    std::vector<int32_t> order(x.cols);
    for (int32_t c = 0; c < x.cols; ++c) order[c] = c;
    std::stable_sort(order.begin(), order.end(), [&](int32_t a, int32_t b) { return x.at(r, a) > x.at(r, b); });
    counts[r] = std::min<int32_t>(row_k, static_cast<int32_t>(x.cols));
    for (int i = 0; i < counts[r]; ++i) {
      values[r * row_k + i] = x.at(r, order[i]);
      columns[r * row_k + i] = order[i];
    }
  }
}

TEST(HostOps, RowMergeGivesTheCpuTopK) {
  std::mt19937 rng(3);
  auto cpu = make_cpu_backend(1);
  for (int k : {1, 3, 8, 40}) {
    Matrix x(7, 5);  // small rows: k may exceed a row's entries
    x.fill_random(rng);
    x.at(2, 1) = x.at(2, 3);  // a tie inside a row
    const std::vector<double> base{0.0, -1.0, -0.5, -2.0, 0.0, -0.25, -3.0};
    const std::vector<int64_t> groups{0, 3, 3, 7};  // an empty group in the middle
    const int64_t group_count = static_cast<int64_t>(groups.size()) - 1;
    std::vector<BeamCandidate> want(group_count * k), got(group_count * k);
    std::vector<int64_t> want_counts(group_count), got_counts(group_count);
    cpu->top_k(x.view(), base.data(), groups.data(), group_count, k, want.data(), want_counts.data());
    const int row_k = std::min<int>(k, static_cast<int>(x.cols));
    std::vector<float> values;
    std::vector<int32_t> columns, counts;
    row_best(x, row_k, values, columns, counts);
    host::merge_row_top_k(values.data(), columns.data(), counts.data(), row_k, base.data(), groups.data(),
                          group_count, k, got.data(), got_counts.data());
    for (int64_t g = 0; g < group_count; ++g) {
      ASSERT_EQ(got_counts[g], want_counts[g]) << "k " << k << " group " << g;
      for (int64_t i = 0; i < got_counts[g]; ++i) {
        const BeamCandidate& a = got[g * k + i];
        const BeamCandidate& b = want[g * k + i];
        EXPECT_EQ(a.score, b.score) << "k " << k << " group " << g << " rank " << i;
        EXPECT_EQ(a.logprob, x.at(a.row, a.token));
        EXPECT_EQ(a.score, base[a.row] + a.logprob);
      }
    }
  }
}

// The conformance suite runs over available_devices(); say so when CUDA is not among them.
TEST(HostOps, CudaConformanceRunsOrSaysWhyNot) {
  const std::vector<Device> devices = available_devices();
  if (std::find(devices.begin(), devices.end(), Device::Cuda) == devices.end())
    GTEST_SKIP() << "the backend suite runs on the CPU only here: " << cuda_unavailable_reason();
  EXPECT_TRUE(cuda_unavailable_reason().empty());
}

}  // namespace
}  // namespace tusk::backends::test
