// expert_ffn: every expert of a MoE layer in one call, against a double reference per group,
// with fp32 and packed experts mixed, groups of every size class (empty, decode-sized, several
// GEMM tiles), rows read and written through index maps; on the CPU, bit for bit the ops it
// stands for; and its argument checks.
#include <numeric>

#include "test_util.h"

namespace tusk::backends::test {
namespace {

using weight_layout::Layout;

// make_packed's scales grow with the row (0.01 per row), which at 128 rows gives weights in
// the hundreds and sums that cancel to far below their terms; an expert's are ~1e-2 instead.
void moderate_scales(Packed& p) {
  if (p.layout == Layout::F16) return;
  const int64_t groups = p.k / p.group;
  for (int64_t r = 0; r < p.n; ++r)
    for (int64_t g = 0; g < groups; ++g) {
      float& s = p.scales[r * groups + g];
      const float wanted = (p.layout == Layout::Int8 ? 0.0015f : 0.025f) * (1.0f + 0.05f * static_cast<float>(g));
      const float factor = wanted / s;
      s = wanted;
      for (int64_t c = g * p.group; c < (g + 1) * p.group; ++c) p.values[r * p.k + c] *= factor;
    }
}

// One expert's weights on the host (fp32 values, or packed and their values) and prepared.
struct HostExpert {
  bool f32 = false;
  Packed fc1p, fc2p;
  std::vector<float> fc1v, fc2v, b1, b2;  // values [out, in] and biases
};

struct ExpertFfnCase {
  int64_t d = 64, ffn = 128, tokens = 120;
  std::vector<int64_t> counts;  // positions per expert
  std::vector<int> kinds;       // per expert: -1 fp32, else a Layout value
};

class ExpertFfnTest : public BackendTest {
 protected:
  // Makes the experts, runs expert_ffn into a padded `out` of `slots_total` rows, returns it.
  Matrix run(const ExpertFfnCase& c, const Matrix& x, const std::vector<int64_t>& rows,
             const std::vector<int64_t>& slots, int64_t slots_total) {
    std::mt19937 rng(17);
    experts_.clear();
    groups_.clear();
    int64_t begin = 0;
    for (size_t e = 0; e < c.counts.size(); ++e) {
      HostExpert h;
      h.f32 = c.kinds[e] < 0;
      if (h.f32) {
        h.fc1v = random_vector(rng, c.ffn * c.d, -0.2f, 0.2f);
        h.fc2v = random_vector(rng, c.d * c.ffn, -0.2f, 0.2f);
      } else {
        const auto layout = static_cast<Layout>(c.kinds[e]);
        h.fc1p = make_packed(layout, c.ffn, c.d, 100 + static_cast<unsigned>(e), 64);
        h.fc2p = make_packed(layout, c.d, c.ffn, 200 + static_cast<unsigned>(e), 64);
        moderate_scales(h.fc1p);
        moderate_scales(h.fc2p);
        h.fc1v = h.fc1p.values;
        h.fc2v = h.fc2p.values;
      }
      h.b1 = random_vector(rng, c.ffn);
      h.b2 = random_vector(rng, c.d);
      experts_.push_back(std::move(h));
    }
    for (size_t e = 0; e < c.counts.size(); ++e) {
      const HostExpert& h = experts_[e];
      ExpertGroup g;
      auto operand = [&](const std::vector<float>& values, const Packed& p, const std::vector<float>& bias,
                         int64_t out, int64_t in) {
        LinearOperand l;
        if (h.f32)
          l.f32 = backend().prepare(values.data(), out * in, keep_);
        else
          l.packed = backend().prepare(p.view(), keep_);
        l.out = out;
        l.in = in;
        l.bias = backend().prepare(bias.data(), out, keep_);
        return l;
      };
      g.fc1 = operand(h.fc1v, h.fc1p, h.b1, c.ffn, c.d);
      g.fc2 = operand(h.fc2v, h.fc2p, h.b2, c.d, c.ffn);
      g.begin = begin;
      g.count = c.counts[e];
      begin += g.count;
      groups_.push_back(g);
    }
    const int64_t positions = begin;
    const DeviceMatrix dx(backend(), x);
    DeviceMatrix gathered(backend(), Matrix(std::max<int64_t>(positions, 1), c.d));
    DeviceMatrix hidden(backend(), Matrix(std::max<int64_t>(positions, 1), c.ffn));
    Matrix out_host(slots_total, c.d, c.d + 5);
    for (int64_t r = 0; r < slots_total; ++r)
      for (int64_t col = 0; col < c.d; ++col) out_host.at(r, col) = -99.0f;  // untouched rows keep this
    DeviceMatrix out(backend(), out_host);
    backend().expert_ffn(dx.view(), groups_.data(), static_cast<int64_t>(groups_.size()), rows.data(),
                         slots.data(), gathered.mut(), hidden.mut(), out.mut());
    return out.download();
  }

  // The reference: out[slots[p]] = fc2(relu(fc1(x[rows[p]]))), in double; -99 elsewhere.
  std::vector<double> reference(const ExpertFfnCase& c, const Matrix& x, const std::vector<int64_t>& rows,
                                const std::vector<int64_t>& slots, int64_t slots_total) {
    std::vector<double> want(static_cast<size_t>(slots_total * c.d), -99.0);
    int64_t p = 0;
    for (size_t e = 0; e < c.counts.size(); ++e) {
      const HostExpert& h = experts_[e];
      for (int64_t i = 0; i < c.counts[e]; ++i, ++p) {
        std::vector<double> hidden(static_cast<size_t>(c.ffn));
        for (int64_t j = 0; j < c.ffn; ++j) {
          double acc = h.b1[j];
          for (int64_t q = 0; q < c.d; ++q) acc += double(h.fc1v[j * c.d + q]) * x.at(rows[p], q);
          hidden[j] = std::max(acc, 0.0);
        }
        for (int64_t j = 0; j < c.d; ++j) {
          double acc = h.b2[j];
          for (int64_t q = 0; q < c.ffn; ++q) acc += double(h.fc2v[j * c.ffn + q]) * hidden[q];
          want[slots[p] * c.d + j] = acc;
        }
      }
    }
    return want;
  }

  std::vector<HostExpert> experts_;
  std::vector<ExpertGroup> groups_;
  std::vector<Tensor> keep_;
};

// Positions: random token rows (repeats allowed, as a token's two experts), distinct slots.
void make_positions(int64_t positions, int64_t tokens, int64_t slots_total, std::mt19937& rng,
                    std::vector<int64_t>& rows, std::vector<int64_t>& slots) {
  std::uniform_int_distribution<int64_t> token(0, tokens - 1);
  rows.resize(static_cast<size_t>(positions));
  for (auto& r : rows) r = token(rng);
  std::vector<int64_t> all(static_cast<size_t>(slots_total));
  std::iota(all.begin(), all.end(), 0);
  std::shuffle(all.begin(), all.end(), rng);
  slots.assign(all.begin(), all.begin() + positions);
}

TEST_P(ExpertFfnTest, MatchesTheReferenceForEveryWeightKindAndGroupSize) {
  ExpertFfnCase c;
  c.counts = {3, 0, 1, 9, 70, 8, 2};
  c.kinds = {-1, static_cast<int>(Layout::Int8), static_cast<int>(Layout::Int4), static_cast<int>(Layout::Int8),
             static_cast<int>(Layout::Int4), static_cast<int>(Layout::F16), -1};
  std::mt19937 rng(23);
  Matrix x(c.tokens, c.d, c.d + 3);
  x.fill_random(rng);
  const int64_t positions = std::accumulate(c.counts.begin(), c.counts.end(), int64_t{0});
  const int64_t slots_total = positions + 11;  // some rows of out are no position's
  std::vector<int64_t> rows, slots;
  make_positions(positions, c.tokens, slots_total, rng, rows, slots);
  const Matrix got = run(c, x, rows, slots, slots_total);
  // Packed products round activations to int16 on the CPU (relative ~1e-4 of a sum).
  expect_close(got, reference(c, x, rows, slots, slots_total), 2e-3);
}

TEST_P(ExpertFfnTest, OneExpertAtDecodeSize) {
  ExpertFfnCase c;
  c.tokens = 1;
  c.counts = {1};
  c.kinds = {static_cast<int>(Layout::Int4)};
  std::mt19937 rng(29);
  Matrix x(1, c.d);
  x.fill_random(rng);
  const std::vector<int64_t> rows{0}, slots{1};
  const Matrix got = run(c, x, rows, slots, 2);
  expect_close(got, reference(c, x, rows, slots, 2), 2e-3);
}

// On the CPU the call is the op sequence it replaced, bit for bit: gather, fc1, fc2, scatter.
TEST_P(ExpertFfnTest, CpuIsTheOpSequenceBitForBit) {
  if (backend().device() != Device::Cpu) GTEST_SKIP() << "other devices agree up to rounding only";
  ExpertFfnCase c;
  c.counts = {5, 33};
  c.kinds = {static_cast<int>(Layout::Int8), -1};
  std::mt19937 rng(31);
  Matrix x(c.tokens, c.d);
  x.fill_random(rng);
  std::vector<int64_t> rows, slots;
  make_positions(38, c.tokens, 38, rng, rows, slots);
  const Matrix got = run(c, x, rows, slots, 38);
  Matrix want(38, c.d, c.d + 5);
  for (size_t g = 0; g < groups_.size(); ++g) {
    const ExpertGroup& e = groups_[g];
    Matrix in(e.count, c.d), h(e.count, c.ffn), y(e.count, c.d);
    backend().gather_rows(x.view(), rows.data() + e.begin, in.mut());
    auto lin = [&](const LinearOperand& l, MatrixView a, Activation act, MutableMatrixView out) {
      if (l.f32)
        backend().linear(a, l.f32, l.out, l.bias, act, out);
      else
        backend().linear(a, l.packed, l.bias, act, out);
    };
    lin(e.fc1, in.view(), Activation::Relu, h.mut());
    lin(e.fc2, h.view(), Activation::None, y.mut());
    backend().scatter_rows(y.view(), slots.data() + e.begin, want.mut());
  }
  for (int64_t r = 0; r < 38; ++r)
    for (int64_t col = 0; col < c.d; ++col) ASSERT_EQ(got.at(r, col), want.at(r, col)) << r << "," << col;
}

TEST_P(ExpertFfnTest, RejectsBadGroupsAndIndices) {
  ExpertFfnCase c;
  c.counts = {2, 2};
  c.kinds = {-1, -1};
  std::mt19937 rng(37);
  Matrix x(4, c.d);
  x.fill_random(rng);
  std::vector<int64_t> rows{0, 1, 2, 3}, slots{0, 1, 2, 3};
  run(c, x, rows, slots, 4);  // makes valid groups_
  const DeviceMatrix dx(backend(), x);
  DeviceMatrix gathered(backend(), Matrix(4, c.d)), hidden(backend(), Matrix(4, c.ffn)), out(backend(), Matrix(4, c.d));
  auto call = [&](std::vector<ExpertGroup> groups, const std::vector<int64_t>& r, const std::vector<int64_t>& s,
                  MutableMatrixView h) {
    backend().expert_ffn(dx.view(), groups.data(), static_cast<int64_t>(groups.size()), r.data(), s.data(),
                         gathered.mut(), h, out.mut());
  };
  std::vector<ExpertGroup> gap = groups_;
  gap[1].begin = 3;  // positions must follow each other
  EXPECT_THROW(call(gap, rows, slots, hidden.mut()), Error);
  EXPECT_THROW(call(groups_, {0, 1, 2, 4}, slots, hidden.mut()), Error);  // a row outside x
  EXPECT_THROW(call(groups_, rows, {0, 1, 2, 9}, hidden.mut()), Error);   // a slot outside out
  MutableMatrixView narrow = hidden.mut();
  narrow.cols = c.ffn - 1;
  EXPECT_THROW(call(groups_, rows, slots, narrow), Error);
  std::vector<ExpertGroup> wrong = groups_;
  std::swap(wrong[0].fc1, wrong[0].fc2);  // fc1 must be [ffn, d]
  EXPECT_THROW(call(wrong, rows, slots, hidden.mut()), Error);
}

TUSK_INSTANTIATE_BACKEND_TESTS(ExpertFfnTest);

}  // namespace
}  // namespace tusk::backends::test
