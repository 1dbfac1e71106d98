#include "backends/op_checks.h"

#include <cmath>
#include <string>

#include "common/error.h"

namespace tusk::backends::checks {
namespace {

void require(bool ok, const char* op, const char* what, const char* name = nullptr) {
  if (ok) return;
  std::string message = std::string(op) + ": ";
  if (name != nullptr) message += std::string(name) + " ";
  throw Error(ErrorCode::InvalidArgument, message + what);
}

template <typename View>
void require_view(const View& v, const char* op, const char* name) {
  require(v.rows >= 0 && v.cols >= 0, op, "has a negative size", name);
  require(v.ld >= v.cols, op, "has ld < cols", name);
  require(v.data != nullptr || v.rows == 0 || v.cols == 0, op, "is null", name);
}

// count host row indices, each in [0, limit).
void require_row_indices(const int64_t* rows, int64_t count, int64_t limit, const char* op,
                         const char* what) {
  require(rows != nullptr || count == 0, op, "row indices are null");
  for (int64_t i = 0; i < count; ++i) require(rows[i] >= 0 && rows[i] < limit, op, what);
}

template <typename A, typename B>
bool same_shape(const A& a, const B& b) {
  return a.rows == b.rows && a.cols == b.cols;
}

}  // namespace

void linear(MatrixView x, const float* w, int64_t n, MutableMatrixView y) {
  require_view(x, "linear", "x");
  require_view(y, "linear", "y");
  require(n >= 0 && y.rows == x.rows && y.cols == n, "linear", "y must be [x.rows, n]");
  require(w != nullptr || n == 0 || x.cols == 0, "linear", "w is null");
}

// A packed matrix a kernel can read: data, scales where its layout has them, valid shape.
void require_packed(const PackedMatrix& w, const char* op) {
  require(w.data != nullptr || w.n == 0, op, "packed weights are null");
  require(w.layout == weight_layout::Layout::F16 || w.scales != nullptr || w.n == 0, op,
          "packed weights have no scales");
  require(w.n == 0 || weight_layout::check_shape(w.layout, w.n, w.k, w.group) == nullptr, op,
          "packed weights break their layout's shape rules");
}

void linear(MatrixView x, const PackedMatrix& w, MutableMatrixView y) {
  require_view(x, "linear", "x");
  require_view(y, "linear", "y");
  require(y.rows == x.rows && y.cols == w.n && x.cols == w.k, "linear",
          "shapes must be x [m, w.k] and y [m, w.n]");
  require_packed(w, "linear");
}

void dequantize_row(const PackedMatrix& w, int64_t row, const float* out) {
  require(row >= 0 && row < w.n, "dequantize_row", "row is outside the matrix");
  require(w.data != nullptr && out != nullptr, "dequantize_row", "a pointer is null");
  require_packed(w, "dequantize_row");
}

void add_scaled(MatrixView x, MutableMatrixView y) {
  require_view(x, "add_scaled", "x");
  require_view(y, "add_scaled", "y");
  require(same_shape(x, y), "add_scaled", "x and y differ in shape");
}

void layer_norm(MatrixView x, const float* gamma, const float* beta, MutableMatrixView y) {
  require_view(x, "layer_norm", "x");
  require_view(y, "layer_norm", "y");
  require(same_shape(x, y), "layer_norm", "x and y differ in shape");
  require(x.cols == 0 || (gamma != nullptr && beta != nullptr), "layer_norm",
          "gamma and beta are required");
}

void attention(MatrixView q, MatrixView k, MatrixView v, int heads, const KeyRange* ranges,
               MutableMatrixView out) {
  const char* op = "attention";
  require_view(q, op, "q");
  require_view(k, op, "k");
  require_view(v, op, "v");
  require_view(out, op, "out");
  require(heads > 0 && q.cols % heads == 0, op, "q.cols must be a multiple of heads");
  require(k.cols == q.cols && same_shape(k, v), op, "k and v must be [tk, q.cols]");
  require(same_shape(q, out), op, "out must have q's shape");
  require(ranges != nullptr || q.rows == 0, op, "ranges are null");
  for (int64_t i = 0; i < q.rows; ++i) {
    const KeyRange& r = ranges[i];
    require(r.count >= 0 && r.stride >= 1 && r.begin >= 0 &&
                (r.count == 0 || r.begin + (r.count - 1) * r.stride < k.rows),
            op, "a key range is outside k");
  }
}

void cached_attention(MatrixView q, int heads, MutableMatrixView out) {
  require_view(q, "attention", "q");
  require_view(out, "attention", "out");
  require(heads > 0 && q.cols % heads == 0, "attention", "q.cols must be a multiple of heads");
  require(same_shape(q, out), "attention", "out must have q's shape");
}

void embed(const EmbeddingTable& table, const int32_t* ids, const int32_t* positions,
           MutableMatrixView out) {
  const char* op = "embed";
  require_view(out, op, "out");
  require(out.cols == table.cols, op, "out must have the table's columns");
  require(table.f32 != nullptr ||
              (table.packed.data != nullptr && table.packed.n == table.rows && table.packed.k == table.cols),
          op, "the table has no weights of its shape");
  require(table.positions != nullptr || out.rows == 0, op, "the position table is null");
  require((ids != nullptr && positions != nullptr) || out.rows == 0, op, "ids or positions are null");
  for (int64_t i = 0; i < out.rows; ++i) {
    require(ids[i] >= 0 && ids[i] < table.rows, op, "a token id is outside the table");
    require(positions[i] >= 0 && positions[i] < table.position_rows, op,
            "a position is outside the position table");
  }
}

void route_top2(MatrixView logits, const ExpertRoute* routes) {
  require_view(logits, "route_top2", "logits");
  require(logits.cols >= 2 || logits.rows == 0, "route_top2", "needs at least 2 experts");
  require(routes != nullptr || logits.rows == 0, "route_top2", "routes are null");
}

void gather_rows(MatrixView x, const int64_t* rows, MutableMatrixView out) {
  require_view(x, "gather_rows", "x");
  require_view(out, "gather_rows", "out");
  require(x.cols == out.cols, "gather_rows", "x and out differ in columns");
  require_row_indices(rows, out.rows, x.rows, "gather_rows", "a row index is outside x");
}

void scatter_rows(MatrixView x, const int64_t* rows, MutableMatrixView out) {
  require_view(x, "scatter_rows", "x");
  require_view(out, "scatter_rows", "out");
  require(x.cols == out.cols, "scatter_rows", "x and out differ in columns");
  require_row_indices(rows, x.rows, out.rows, "scatter_rows", "a row index is outside out");
}

int64_t expert_ffn(MatrixView x, const ExpertGroup* groups, int64_t count, const int64_t* rows, const int64_t* slots,
                   MutableMatrixView gathered, MutableMatrixView hidden, MutableMatrixView out) {
  const char* op = "expert_ffn";
  require_view(x, op, "x");
  require_view(gathered, op, "gathered");
  require_view(hidden, op, "hidden");
  require_view(out, op, "out");
  require(count >= 0 && (groups != nullptr || count == 0), op, "groups are null");
  require(out.cols == x.cols && gathered.cols == x.cols, op, "x, gathered and out differ in columns");
  int64_t positions = 0;
  for (int64_t g = 0; g < count; ++g) {
    const ExpertGroup& e = groups[g];
    require(e.begin == positions && e.count >= 0, op, "groups must cover positions 0.. in order");
    positions += e.count;
    for (const LinearOperand* l : {&e.fc1, &e.fc2}) {
      require(l->f32 != nullptr || l->packed.data != nullptr, op, "an expert has no weights");
      if (l->f32 != nullptr) continue;
      require(l->packed.n == l->out && l->packed.k == l->in, op, "an expert's packed weights differ from its shape");
      require_packed(l->packed, op);
    }
    require(e.fc1.in == x.cols && e.fc2.out == x.cols && e.fc2.in == e.fc1.out, op,
            "an expert must be fc1 [ffn, d] and fc2 [d, ffn]");
    require(e.fc1.out <= hidden.cols, op, "hidden is narrower than an expert's ffn");
  }
  require(gathered.rows >= positions && hidden.rows >= positions, op, "the scratch has fewer rows than positions");
  require_row_indices(rows, positions, x.rows, op, "a row index is outside x");
  require_row_indices(slots, positions, out.rows, op, "a slot is outside out");
  return positions;
}

void combine_top2(MatrixView first, MatrixView second, const ExpertRoute* routes,
                  MutableMatrixView out) {
  require_view(first, "combine_top2", "first");
  require_view(second, "combine_top2", "second");
  require_view(out, "combine_top2", "out");
  require(same_shape(first, out) && same_shape(second, out), "combine_top2",
          "first, second and out differ in shape");
  require(routes != nullptr || out.rows == 0, "combine_top2", "routes are null");
}

void fill_column(MutableMatrixView x, int64_t column) {
  require_view(x, "fill_column", "x");
  require(column >= 0 && column < x.cols, "fill_column", "the column is outside x");
}

void edit_scores(MutableMatrixView x, const ScoreEdit* edits, int64_t count) {
  require_view(x, "edit_scores", "x");
  require(count >= 0 && (edits != nullptr || count == 0), "edit_scores", "edits are null");
  for (int64_t i = 0; i < count; ++i) {
    const ScoreEdit& e = edits[i];
    require(e.row >= 0 && e.row < x.rows && e.column >= 0 && e.column < x.cols, "edit_scores",
            "an edit is outside x");
    require(e.penalty >= 0.0f && std::isfinite(e.penalty), "edit_scores", "a penalty is negative or not finite");
  }
}

void read_scores(MatrixView x, const ScoreIndex* entries, int64_t count, const float* values) {
  require_view(x, "read_scores", "x");
  require(count >= 0 && ((entries != nullptr && values != nullptr) || count == 0), "read_scores",
          "entries or values are null");
  for (int64_t i = 0; i < count; ++i)
    require(entries[i].row >= 0 && entries[i].row < x.rows && entries[i].column >= 0 && entries[i].column < x.cols,
            "read_scores", "an entry is outside x");
}

void argmax_log_softmax(MatrixView logits, int64_t excluded, const int32_t* ids, const float* logprobs) {
  require_view(logits, "argmax_log_softmax", "logits");
  require(excluded == -1 || (excluded >= 0 && excluded < logits.cols), "argmax_log_softmax",
          "the excluded column is outside the logits");
  require((ids != nullptr && logprobs != nullptr) || logits.rows == 0, "argmax_log_softmax",
          "ids or logprobs are null");
}

void top_k(MatrixView x, const int64_t* group_begin, int64_t groups, int k) {
  require_view(x, "top_k", "x");
  require(k >= 1 && groups >= 0, "top_k", "needs k >= 1 and groups >= 0");
  require(groups == 0 || (group_begin[0] >= 0 && group_begin[groups] <= x.rows), "top_k",
          "the groups are outside x");
  for (int64_t g = 0; g < groups; ++g)
    require(group_begin[g] <= group_begin[g + 1], "top_k", "the groups are out of order");
}

void rows_op(MutableMatrixView x, const char* op) { require_view(x, op, "x"); }

void transfer(const Tensor& t, Device device, const char* op) {
  require(t.device() == device && t.contiguous(), op, "needs a contiguous tensor of this device");
}

int64_t allocate(const std::vector<int64_t>& shape) {
  int64_t n = 1;
  for (int64_t d : shape) {
    require(d >= 0, "allocate", "a dimension is negative");
    n *= d;
  }
  return n;
}

bool kv_reorder(const std::vector<int32_t>& parents, int64_t hyps) {
  const int64_t new_h = static_cast<int64_t>(parents.size());
  bool identity = new_h == hyps;
  for (int64_t j = 0; j < new_h; ++j) {
    if (parents[j] < -1 || parents[j] >= hyps)
      throw Error(ErrorCode::InvalidArgument, "kv cache: reorder names a hypothesis it does not hold");
    identity = identity && parents[j] == j;
  }
  return identity;
}

void kv_append(int64_t hyps, int64_t steps, int64_t cache_hyps) {
  if (hyps <= 0 || (steps > 0 && hyps != cache_hyps))
    throw Error(ErrorCode::InvalidArgument,
                "kv cache: a step must hold as many hypotheses as the steps before (" +
                    std::to_string(cache_hyps) + "), got " + std::to_string(hyps));
}

}  // namespace tusk::backends::checks
