// attention() with a KeyRange per query row: a batch of variable-length sentences in one call
// (each row attends its own sentence), strided keys (time-major batches), empty ranges, fused
// K|V buffers, against the double reference.
#include <numeric>
#include <thread>

#include "test_util.h"

namespace tusk::backends::test {
namespace {

constexpr double kTol = 1e-5;

class AttentionRangesTest : public BackendTest {
 protected:
  // Runs attention on device copies of q, k, v and checks it against the reference.
  void check(const Matrix& q, const Matrix& k, const Matrix& v, int heads,
             const std::vector<KeyRange>& ranges) {
    const DeviceMatrix dq(backend(), q), dk(backend(), k), dv(backend(), v);
    DeviceMatrix out(backend(), Matrix(q.rows, q.cols, q.ld + 2));
    backend().attention(dq.view(), dk.view(), dv.view(), heads, ranges.data(), out.mut());
    expect_close(out.download(), ref_attention(q, k, v, heads, ranges), kTol);
  }
};

Matrix random_matrix(std::mt19937& rng, int64_t rows, int64_t cols, int64_t ld = -1) {
  Matrix m(rows, cols, ld);
  m.fill_random(rng);
  return m;
}

// Rows of sentences of these lengths, one after another: row offsets.
std::vector<int64_t> offsets(const std::vector<int64_t>& lengths) {
  std::vector<int64_t> begin(lengths.size() + 1, 0);
  std::partial_sum(lengths.begin(), lengths.end(), begin.begin() + 1);
  return begin;
}

TEST_P(AttentionRangesTest, EncoderBatchEachRowAttendsItsOwnSentence) {
  const std::vector<int64_t> lengths = {5, 1, 12, 3, 9};
  const std::vector<int64_t> begin = offsets(lengths);
  const int64_t t = begin.back(), d = 4 * 16;
  std::mt19937 rng(1);
  const Matrix q = random_matrix(rng, t, d, d + 3), k = random_matrix(rng, t, d),
               v = random_matrix(rng, t, d);
  std::vector<KeyRange> ranges;
  for (size_t s = 0; s < lengths.size(); ++s)
    for (int64_t i = 0; i < lengths[s]; ++i) ranges.push_back({begin[s], lengths[s], 1});
  check(q, k, v, 4, ranges);
}

TEST_P(AttentionRangesTest, BatchEqualsOneCallPerSentence) {
  const std::vector<int64_t> lengths = {7, 3, 11};
  const std::vector<int64_t> begin = offsets(lengths);
  const int64_t t = begin.back(), d = 2 * 8;
  std::mt19937 rng(2);
  const Matrix q = random_matrix(rng, t, d), k = random_matrix(rng, t, d),
               v = random_matrix(rng, t, d);
  const DeviceMatrix dq(backend(), q), dk(backend(), k), dv(backend(), v);
  std::vector<KeyRange> ranges;
  for (size_t s = 0; s < lengths.size(); ++s)
    for (int64_t i = 0; i < lengths[s]; ++i) ranges.push_back({begin[s], lengths[s], 1});
  DeviceMatrix batch(backend(), Matrix(t, d));
  backend().attention(dq.view(), dk.view(), dv.view(), 2, ranges.data(), batch.mut());
  const Matrix together = batch.download();
  for (size_t s = 0; s < lengths.size(); ++s) {
    const int64_t b = begin[s], n = lengths[s];
    const MatrixView sq{dq.data() + b * d, n, d, d}, sk{dk.data() + b * d, n, d, d},
        sv{dv.data() + b * d, n, d, d};
    DeviceMatrix alone(backend(), Matrix(n, d));
    const std::vector<KeyRange> own = sequence_ranges(n, n, false);
    backend().attention(sq, sk, sv, 2, own.data(), alone.mut());
    const Matrix a = alone.download();
    for (int64_t i = 0; i < n; ++i)
      for (int64_t c = 0; c < d; ++c)
        EXPECT_NEAR(a.at(i, c), together.at(b + i, c), 1e-6) << "sentence " << s << " row " << i;
  }
}

TEST_P(AttentionRangesTest, DecoderPrefillBatchIsCausalPerSentence) {
  const std::vector<int64_t> lengths = {4, 8, 1, 6};
  const std::vector<int64_t> begin = offsets(lengths);
  const int64_t t = begin.back(), d = 3 * 5;
  std::mt19937 rng(3);
  const Matrix q = random_matrix(rng, t, d), k = random_matrix(rng, t, d),
               v = random_matrix(rng, t, d);
  std::vector<KeyRange> ranges;
  for (size_t s = 0; s < lengths.size(); ++s)
    for (int64_t i = 0; i < lengths[s]; ++i) ranges.push_back({begin[s], i + 1, 1});
  check(q, k, v, 3, ranges);
}

// A time-major batch: step t of sentence b is row t * batch + b, so sentence b's keys are rows
// b, b + batch, ... (stride = batch).
TEST_P(AttentionRangesTest, StridedKeysOfATimeMajorBatch) {
  const std::vector<int64_t> lengths = {7, 4, 2};
  const int64_t batch = 3, steps = 7, d = 2 * 16;
  std::mt19937 rng(4);
  const Matrix k = random_matrix(rng, steps * batch, d, d + 1),
               v = random_matrix(rng, steps * batch, d);
  // Queries: every step of every sentence, full (cross-attention-like) and causal.
  std::vector<KeyRange> full, causal;
  for (int64_t t = 0; t < steps; ++t) {
    for (int64_t b = 0; b < batch; ++b) {
      full.push_back({b, lengths[b], batch});
      causal.push_back({b, std::min(t + 1, lengths[b]), batch});
    }
  }
  const Matrix q = random_matrix(rng, steps * batch, d);
  check(q, k, v, 2, full);
  check(q, k, v, 2, causal);
}

TEST_P(AttentionRangesTest, EmptyRangesGiveZeroRows) {
  const int64_t tq = 6, tk = 5, d = 2 * 4;
  std::mt19937 rng(5);
  const Matrix q = random_matrix(rng, tq, d), k = random_matrix(rng, tk, d),
               v = random_matrix(rng, tk, d);
  const std::vector<KeyRange> ranges = {{0, 0, 1}, {0, 5, 1}, {3, 0, 1},
                                        {1, 2, 2}, {4, 0, 3}, {2, 1, 1}};
  const DeviceMatrix dq(backend(), q), dk(backend(), k), dv(backend(), v);
  Matrix garbage(tq, d, d + 1);
  garbage.fill_random(rng, 50.0f, 60.0f);  // every row must be overwritten
  DeviceMatrix out(backend(), garbage);
  backend().attention(dq.view(), dk.view(), dv.view(), 2, ranges.data(), out.mut());
  const Matrix got = out.download();
  expect_close(got, ref_attention(q, k, v, 2, ranges), kTol);
  for (int64_t i : {0, 2, 4})
    for (int64_t c = 0; c < d; ++c) EXPECT_EQ(got.at(i, c), 0.0f) << "row " << i << " col " << c;
}

TEST_P(AttentionRangesTest, AllRangesEmpty) {
  std::mt19937 rng(6);
  const Matrix q = random_matrix(rng, 3, 8), k = random_matrix(rng, 4, 8),
               v = random_matrix(rng, 4, 8);
  const std::vector<KeyRange> ranges(3, KeyRange{0, 0, 1});
  check(q, k, v, 1, ranges);
}

TEST_P(AttentionRangesTest, OneKeyCopiesItsValue) {
  std::mt19937 rng(7);
  const Matrix q = random_matrix(rng, 4, 12), k = random_matrix(rng, 9, 12),
               v = random_matrix(rng, 9, 12);
  const std::vector<KeyRange> ranges = {{8, 1, 1}, {0, 1, 5}, {3, 1, 1}, {3, 1, 1}};
  check(q, k, v, 3, ranges);
}

// K and V as the two halves of one [tk, 2d] buffer (a fused projection's output).
TEST_P(AttentionRangesTest, KeysAndValuesAsHalvesOfOneBuffer) {
  const int64_t tq = 10, tk = 13, heads = 4, d = heads * 8;
  std::mt19937 rng(8);
  const Matrix q = random_matrix(rng, tq, d, 3 * d), kv = random_matrix(rng, tk, 2 * d);
  Matrix k(tk, d), v(tk, d);
  for (int64_t r = 0; r < tk; ++r) {
    for (int64_t c = 0; c < d; ++c) {
      k.at(r, c) = kv.at(r, c);
      v.at(r, c) = kv.at(r, d + c);
    }
  }
  std::vector<KeyRange> ranges;
  for (int64_t i = 0; i < tq; ++i) ranges.push_back({i % 3, tk - i % 3 - (i % 2) * 2, 1});
  const DeviceMatrix dq(backend(), q), dkv(backend(), kv);
  DeviceMatrix out(backend(), Matrix(tq, d, 2 * d));
  backend().attention(dq.view(), dkv.columns(0, d), dkv.columns(d, d), heads, ranges.data(),
                      out.mut());
  expect_close(out.download(), ref_attention(q, k, v, heads, ranges), kTol);
}

// Random overlapping ranges of every stride over many rows and heads (the threaded path).
TEST_P(AttentionRangesTest, RandomRanges) {
  const int64_t tq = 150, tk = 90, heads = 4, d = heads * 32;
  std::mt19937 rng(9);
  const Matrix q = random_matrix(rng, tq, d), k = random_matrix(rng, tk, d),
               v = random_matrix(rng, tk, d);
  std::vector<KeyRange> ranges;
  std::uniform_int_distribution<int64_t> pick(0, tk - 1), stride_of(1, 7);
  for (int64_t i = 0; i < tq; ++i) {
    const int64_t begin = pick(rng), stride = stride_of(rng);
    const int64_t most = (tk - 1 - begin) / stride + 1;
    ranges.push_back({begin, std::uniform_int_distribution<int64_t>(0, most)(rng), stride});
  }
  check(q, k, v, static_cast<int>(heads), ranges);
}

// Backends are used by one thread each; separate backends run side by side (one Translator
// per thread), so no op may keep state beyond its instance.
TEST_P(AttentionRangesTest, SeparateBackendsRunConcurrently) {
  const int64_t tq = 64, tk = 64, heads = 4, d = heads * 16;
  std::mt19937 rng(11);
  const Matrix q = random_matrix(rng, tq, d), k = random_matrix(rng, tk, d),
               v = random_matrix(rng, tk, d);
  std::vector<KeyRange> ranges;
  for (int64_t i = 0; i < tq; ++i) ranges.push_back({i % 7, tk - i % 7 - i % 5, 1});
  const std::vector<double> want = ref_attention(q, k, v, static_cast<int>(heads), ranges);
  auto run = [&] {
    auto backend = make_backend({GetParam().device, GetParam().threads});
    const DeviceMatrix dq(*backend, q), dk(*backend, k), dv(*backend, v);
    DeviceMatrix out(*backend, Matrix(tq, d));
    for (int repeat = 0; repeat < 20; ++repeat) {
      backend->attention(dq.view(), dk.view(), dv.view(), static_cast<int>(heads),
                         ranges.data(), out.mut());
      expect_close(out.download(), want, kTol);
    }
  };
  std::thread a(run), b(run);
  a.join();
  b.join();
}

TEST_P(AttentionRangesTest, RejectsRangesPastTheKeys) {
  std::mt19937 rng(10);
  const Matrix q = random_matrix(rng, 2, 8);
  Matrix kv(4, 8);
  kv.fill_random(rng);
  // Keys hold 2 rows more than the views claim: an unchecked read stays in allocated memory.
  const DeviceMatrix dq(backend(), q), dk(backend(), kv, 2), dv(backend(), kv, 2);
  DeviceMatrix out(backend(), Matrix(2, 8));
  for (const KeyRange bad : {KeyRange{3, 2, 1}, KeyRange{4, 1, 1}, KeyRange{0, 3, 2},
                             KeyRange{-1, 1, 1}}) {
    const KeyRange ranges[2] = {{0, 4, 1}, bad};
    EXPECT_INVALID_ARGUMENT(
        backend().attention(dq.view(), dk.view(), dv.view(), 2, ranges, out.mut()));
  }
}

TEST_P(AttentionRangesTest, RejectsMismatchedShapes) {
  const DeviceMatrix q(backend(), Matrix(2, 8)), k(backend(), Matrix(3, 8)),
      short_v(backend(), Matrix(2, 8)), narrow_k(backend(), Matrix(3, 4));
  DeviceMatrix out(backend(), Matrix(2, 8)), short_out(backend(), Matrix(1, 8));
  const std::vector<KeyRange> ranges = sequence_ranges(2, 2, false);
  EXPECT_INVALID_ARGUMENT(
      backend().attention(q.view(), k.view(), short_v.view(), 2, ranges.data(), out.mut()));
  EXPECT_INVALID_ARGUMENT(
      backend().attention(q.view(), narrow_k.view(), k.view(), 2, ranges.data(), out.mut()));
  EXPECT_INVALID_ARGUMENT(
      backend().attention(q.view(), k.view(), k.view(), 2, ranges.data(), short_out.mut()));
}

TUSK_INSTANTIATE_BACKEND_TESTS(AttentionRangesTest);

}  // namespace
}  // namespace tusk::backends::test
