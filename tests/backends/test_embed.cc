// embed(): scale * table[id] + positions[position] from fp32 and packed (int8, int4, fp16)
// tables, against the table's values in double.
#include <string>
#include <tuple>

#include "test_util.h"

namespace tusk::backends::test {
namespace {

using weight_layout::Layout;

enum class TableKind { F32, Int8, Int4, F16 };

const char* kind_name(TableKind kind) {
  switch (kind) {
    case TableKind::F32: return "f32";
    case TableKind::Int8: return "int8";
    case TableKind::Int4: return "int4";
    case TableKind::F16: return "fp16";
  }
  return "?";
}

// A table of `rows` (+ `extra_rows` past the end, so an unchecked out-of-range id reads
// allocated memory) and its positions, made readable by the backend with prepare() as the
// model's weights are.
struct DeviceTable {
  std::vector<float> values, positions;  // what the table means, on the host
  std::vector<float> f32;                // the host weights prepare() was given
  Packed packed;
  std::vector<Tensor> keep;
  EmbeddingTable table;

  DeviceTable(Backend& backend, TableKind kind, int64_t rows, int64_t cols, int64_t position_rows,
              float scale, int64_t extra_rows = 0) {
    std::mt19937 rng(17);
    const int64_t stored = rows + extra_rows;
    if (kind == TableKind::F32) {
      f32 = values = random_vector(rng, stored * cols);
      table.f32 = backend.prepare(f32.data(), stored * cols, keep);
    } else {
      const Layout layout = kind == TableKind::Int8   ? Layout::Int8
                            : kind == TableKind::Int4 ? Layout::Int4
                                                      : Layout::F16;
      // Groups of 64 columns: the scale of a column depends on its group.
      packed = make_packed(layout, stored, cols, 23, 64);
      values = packed.values;
      table.packed = backend.prepare(packed.view(), keep);
      table.packed.n = rows;  // the rows past `rows` only back the out-of-range test
    }
    positions = random_vector(rng, (position_rows + extra_rows) * cols);
    table.positions = backend.prepare(positions.data(), (position_rows + extra_rows) * cols, keep);
    table.rows = rows;
    table.cols = cols;
    table.scale = scale;
    table.position_rows = position_rows;
  }

  std::vector<double> reference(const std::vector<int32_t>& ids,
                                const std::vector<int32_t>& pos) const {
    const int64_t cols = table.cols;
    std::vector<double> out(ids.size() * cols);
    for (size_t i = 0; i < ids.size(); ++i)
      for (int64_t c = 0; c < cols; ++c)
        out[i * cols + c] = double(table.scale) * values[ids[i] * cols + c] +
                            double(positions[pos[i] * cols + c]);
    return out;
  }
};

class EmbedTest : public ::testing::TestWithParam<std::tuple<BackendParam, TableKind>> {
 protected:
  void SetUp() override {
    const BackendParam& p = std::get<0>(GetParam());
    backend_ = make_backend({p.device, p.threads});
  }
  TableKind kind() const { return std::get<1>(GetParam()); }
  std::unique_ptr<Backend> backend_;
};

void check_embed(Backend& backend, TableKind kind, int64_t n, float scale, unsigned seed) {
  const int64_t rows = 50, cols = 128, position_rows = 20;
  const DeviceTable t(backend, kind, rows, cols, position_rows, scale);
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int32_t> id(0, rows - 1), position(0, position_rows - 1);
  std::vector<int32_t> ids(static_cast<size_t>(n)), pos(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    ids[i] = id(rng);
    pos[i] = position(rng);
  }
  // The first and last rows of both tables, and a repeated pair.
  ids[0] = 0, pos[0] = position_rows - 1;
  if (n > 2) ids[1] = rows - 1, pos[1] = 0, ids[2] = ids[1], pos[2] = pos[1];

  DeviceMatrix out(backend, Matrix(n, cols, cols + 5));
  backend.embed(t.table, ids.data(), pos.data(), out.mut());
  expect_close(out.download(), t.reference(ids, pos), 1e-6);
}

TEST_P(EmbedTest, MatchesScaledRowsPlusPositions) {
  check_embed(*backend_, kind(), 9, 1.0f, 3);
  check_embed(*backend_, kind(), 9, std::sqrt(128.0f), 4);
}

TEST_P(EmbedTest, OneRowAndManyRows) {
  check_embed(*backend_, kind(), 1, 2.5f, 5);
  check_embed(*backend_, kind(), 300, 0.5f, 6);  // enough rows for a parallel path
}

TEST_P(EmbedTest, RejectsOutOfRangeIdsAndPositions) {
  // Tables hold one more row than they claim: an unchecked read stays in allocated memory.
  const DeviceTable t(*backend_, kind(), 10, 128, 4, 1.0f, /*extra_rows=*/1);
  DeviceMatrix out(*backend_, Matrix(2, 128));
  const std::vector<int32_t> good = {0, 1};
  const std::vector<int32_t> bad_id = {0, 10}, negative_id = {-1, 0}, bad_position = {4, 0};
  EXPECT_INVALID_ARGUMENT(backend_->embed(t.table, bad_id.data(), good.data(), out.mut()));
  EXPECT_INVALID_ARGUMENT(backend_->embed(t.table, negative_id.data(), good.data(), out.mut()));
  EXPECT_INVALID_ARGUMENT(backend_->embed(t.table, good.data(), bad_position.data(), out.mut()));
}

TEST_P(EmbedTest, RejectsAnOutputOfAnotherWidth) {
  const DeviceTable t(*backend_, kind(), 10, 128, 4, 1.0f);
  DeviceMatrix out(*backend_, Matrix(2, 127, 128));
  const std::vector<int32_t> ids = {0, 1};
  EXPECT_INVALID_ARGUMENT(backend_->embed(t.table, ids.data(), ids.data(), out.mut()));
}

INSTANTIATE_TEST_SUITE_P(
    Devices, EmbedTest,
    ::testing::Combine(::testing::ValuesIn(backend_params()),
                       ::testing::Values(TableKind::F32, TableKind::Int8, TableKind::Int4,
                                         TableKind::F16)),
    [](const ::testing::TestParamInfo<std::tuple<BackendParam, TableKind>>& info) {
      return param_name(std::get<0>(info.param)) + "_" + kind_name(std::get<1>(info.param));
    });

}  // namespace
}  // namespace tusk::backends::test
