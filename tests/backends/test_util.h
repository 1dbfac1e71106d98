// Shared pieces of the backend tests: strided test matrices, random data, naive references
// (double accumulation, written for clarity, not speed) and a tolerance check.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <memory>
#include <ostream>
#include <random>
#include <string>
#include <vector>

#include "backends/backend.h"
#include "common/error.h"

namespace tusk::backends {

// Failure messages name a Device parameter ("cpu") rather than dump its bytes; gtest finds
// PrintTo by argument-dependent lookup, so it lives in Device's namespace.
inline void PrintTo(Device device, std::ostream* os) { *os << device_name(device); }

}  // namespace tusk::backends

namespace tusk::backends::test {

// A row-major matrix with a leading dimension that may exceed cols (a sub-view); the
// padding is filled with a sentinel so tests can check that ops never write it.
struct Matrix {
  int64_t rows, cols, ld;
  std::vector<float> data;

  static constexpr float kPad = 12345.0f;

  Matrix(int64_t r, int64_t c, int64_t ld_ = -1)
      : rows(r), cols(c), ld(ld_ < 0 ? c : ld_), data(std::max<int64_t>(r * ld, 1), kPad) {}

  float& at(int64_t r, int64_t c) { return data[r * ld + c]; }
  float at(int64_t r, int64_t c) const { return data[r * ld + c]; }
  MatrixView view() const { return {data.data(), rows, cols, ld}; }
  MutableMatrixView mut() { return {data.data(), rows, cols, ld}; }

  void fill_random(std::mt19937& rng, float lo = -1.0f, float hi = 1.0f) {
    std::uniform_real_distribution<float> dist(lo, hi);
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t c = 0; c < cols; ++c) at(r, c) = dist(rng);
  }
  bool padding_intact() const {
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t c = cols; c < ld; ++c)
        if (at(r, c) != kPad) return false;
    return true;
  }
};

inline std::vector<float> random_vector(std::mt19937& rng, int64_t n, float lo = -1.0f,
                                        float hi = 1.0f) {
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> v(static_cast<size_t>(n));
  for (auto& x : v) x = dist(rng);
  return v;
}

// |got - want| <= tol * max(1, |want|) over every element of the logical matrix.
inline void expect_close(const Matrix& got, const std::vector<double>& want, double tol) {
  ASSERT_EQ(static_cast<int64_t>(want.size()), got.rows * got.cols);
  int reported = 0;
  for (int64_t r = 0; r < got.rows; ++r) {
    for (int64_t c = 0; c < got.cols; ++c) {
      const double w = want[r * got.cols + c];
      const double g = got.at(r, c);
      if (!(std::abs(g - w) <= tol * std::max(1.0, std::abs(w))) && reported++ < 5) {
        ADD_FAILURE() << "at (" << r << ", " << c << "): got " << g << ", want " << w;
      }
    }
  }
  EXPECT_TRUE(got.padding_intact()) << "an op wrote into the padding beyond cols";
}

// ---- naive references (outputs are dense rows x cols) ----

inline std::vector<double> ref_linear(const Matrix& x, const std::vector<float>& w, int64_t n,
                                      const float* bias, Activation act) {
  std::vector<double> y(x.rows * n);
  for (int64_t i = 0; i < x.rows; ++i) {
    for (int64_t j = 0; j < n; ++j) {
      double acc = bias ? bias[j] : 0.0;
      for (int64_t p = 0; p < x.cols; ++p) acc += double(x.at(i, p)) * w[j * x.cols + p];
      y[i * n + j] = act == Activation::Relu ? std::max(acc, 0.0) : acc;
    }
  }
  return y;
}

inline std::vector<double> ref_layer_norm(const Matrix& x, const std::vector<float>& gamma,
                                          const std::vector<float>& beta, double eps) {
  std::vector<double> y(x.rows * x.cols);
  for (int64_t r = 0; r < x.rows; ++r) {
    double mean = 0, var = 0;
    for (int64_t c = 0; c < x.cols; ++c) mean += x.at(r, c);
    mean /= x.cols;
    for (int64_t c = 0; c < x.cols; ++c) var += (x.at(r, c) - mean) * (x.at(r, c) - mean);
    var /= x.cols;
    for (int64_t c = 0; c < x.cols; ++c)
      y[r * x.cols + c] = (x.at(r, c) - mean) / std::sqrt(var + eps) * gamma[c] + beta[c];
  }
  return y;
}

inline std::vector<double> ref_log_softmax(const Matrix& x) {
  std::vector<double> y(x.rows * x.cols);
  for (int64_t r = 0; r < x.rows; ++r) {
    double m = -INFINITY, s = 0;
    for (int64_t c = 0; c < x.cols; ++c) m = std::max(m, double(x.at(r, c)));
    for (int64_t c = 0; c < x.cols; ++c) s += std::exp(x.at(r, c) - m);
    for (int64_t c = 0; c < x.cols; ++c) y[r * x.cols + c] = x.at(r, c) - m - std::log(s);
  }
  return y;
}

inline std::vector<double> ref_softmax(const Matrix& x) {
  std::vector<double> y = ref_log_softmax(x);
  for (auto& v : y) v = std::exp(v);
  return y;
}

// Query row i attends key/value rows ranges[i].begin + j * stride, j < count (zeros when
// count is 0), scores scaled by 1/sqrt(head_dim).
inline std::vector<double> ref_attention(const Matrix& q, const Matrix& k, const Matrix& v,
                                         int heads, const std::vector<KeyRange>& ranges) {
  const int64_t hd = q.cols / heads;
  std::vector<double> out(q.rows * q.cols, 0.0);
  for (int h = 0; h < heads; ++h) {
    for (int64_t i = 0; i < q.rows; ++i) {
      const KeyRange& r = ranges[i];
      std::vector<double> p(static_cast<size_t>(r.count));
      double m = -INFINITY, s = 0;
      for (int64_t j = 0; j < r.count; ++j) {
        const int64_t key = r.begin + j * r.stride;
        double d = 0;
        for (int64_t c = 0; c < hd; ++c) d += double(q.at(i, h * hd + c)) * k.at(key, h * hd + c);
        p[j] = d / std::sqrt(double(hd));
        m = std::max(m, p[j]);
      }
      for (int64_t j = 0; j < r.count; ++j) s += (p[j] = std::exp(p[j] - m));
      for (int64_t j = 0; j < r.count; ++j)
        for (int64_t c = 0; c < hd; ++c)
          out[i * q.cols + h * hd + c] += p[j] / s * v.at(r.begin + j * r.stride, h * hd + c);
    }
  }
  return out;
}

// One sequence's ranges: every key, or (causal) the keys up to the query's absolute position
// q_offset + i.
inline std::vector<KeyRange> sequence_ranges(int64_t tq, int64_t tk, bool causal,
                                             int64_t q_offset = 0) {
  std::vector<KeyRange> ranges(static_cast<size_t>(tq));
  for (int64_t i = 0; i < tq; ++i)
    ranges[i] = {0, causal ? std::min(tk, q_offset + i + 1) : tk, 1};
  return ranges;
}

// ---- packed weights: random [n, k] matrices in a stored layout ----

// A packed matrix's bytes and scales ([n, k / group]), and the fp32 values they stand for.
struct Packed {
  weight_layout::Layout layout = weight_layout::Layout::Int8;
  int64_t n = 0, k = 0, group = 0;
  std::vector<unsigned char> bytes;
  std::vector<float> scales, values;
  PackedMatrix view() const {
    return {layout, bytes.data(),
            layout == weight_layout::Layout::F16 ? nullptr : scales.data(), n, k, group};
  }
};

inline uint16_t exact_half(int v) {  // small integers / 8 are exact halves
  const float f = static_cast<float>(v) / 8.0f;
  if (f == 0.0f) return 0;
  uint32_t bits;
  std::memcpy(&bits, &f, 4);
  const uint32_t sign = (bits >> 16) & 0x8000u;
  const int exp = static_cast<int>((bits >> 23) & 0xff) - 127 + 15;
  return static_cast<uint16_t>(sign | (exp << 10) | ((bits >> 13) & 0x3ffu));
}

// group <= 0: one scale per row (group = k). Scales differ per row and per group, so a
// backend that reads the wrong scale shows.
inline Packed make_packed(weight_layout::Layout layout, int64_t n, int64_t k, unsigned seed,
                          int64_t group = 0) {
  using weight_layout::Layout;
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> q4(-8, 7), q8(-127, 127), h(-64, 64);
  Packed p{layout, n, k, group > 0 ? group : k, {}, {}, {}};
  p.bytes.resize(weight_layout::packed_bytes(layout, n, k));
  p.values.resize(static_cast<size_t>(n * k));
  if (layout == Layout::F16) {
    std::vector<uint16_t> halves(p.values.size());
    for (size_t i = 0; i < halves.size(); ++i) {
      const int v = h(rng);
      halves[i] = exact_half(v);
      p.values[i] = static_cast<float>(v) / 8.0f;
    }
    weight_layout::pack_weights(layout, halves.data(), n, k, p.bytes.data());
    return p;
  }
  const int64_t groups = k / p.group;
  for (int64_t r = 0; r < n; ++r)
    for (int64_t g = 0; g < groups; ++g)
      p.scales.push_back(0.01f * static_cast<float>(r + 1) + 0.001f * static_cast<float>(g));
  std::vector<int8_t> q(p.values.size());
  for (int64_t r = 0; r < n; ++r) {
    for (int64_t c = 0; c < k; ++c) {
      q[r * k + c] = static_cast<int8_t>(layout == Layout::Int4 ? q4(rng) : q8(rng));
      p.values[r * k + c] = static_cast<float>(q[r * k + c]) * p.scales[r * groups + c / p.group];
    }
  }
  weight_layout::pack_weights(layout, q.data(), n, k, p.bytes.data());
  return p;
}

// ---- the conformance suite: every available device, with 1 and 2 threads ----

struct BackendParam {
  Device device;
  int threads;
};

inline std::ostream& operator<<(std::ostream& os, const BackendParam& p) {
  return os << device_name(p.device) << "/threads" << p.threads;
}

inline std::vector<BackendParam> backend_params() {
  std::vector<BackendParam> params;
  for (Device device : available_devices())
    for (int threads : {1, 2}) params.push_back({device, threads});
  return params;
}

// Test name fragments: gtest names allow only letters, digits and underscores.
inline std::string device_param_name(Device device) {
  std::string name = device_name(device);
  for (char& c : name)
    if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
  return name;
}

inline std::string param_name(const BackendParam& p) {
  return device_param_name(p.device) + "_threads" + std::to_string(p.threads);
}

inline std::string backend_test_name(const ::testing::TestParamInfo<BackendParam>& info) {
  return param_name(info.param);
}

class BackendTest : public ::testing::TestWithParam<BackendParam> {
 protected:
  void SetUp() override {
    backend_ = make_backend({GetParam().device, GetParam().threads});
    ASSERT_NE(backend_, nullptr);
    ASSERT_EQ(backend_->device(), GetParam().device);
  }
  Backend& backend() { return *backend_; }

 private:
  std::unique_ptr<Backend> backend_;
};

#define TUSK_INSTANTIATE_BACKEND_TESTS(suite)                                            \
  INSTANTIATE_TEST_SUITE_P(Devices, suite, ::testing::ValuesIn(backend_params()), \
                           backend_test_name)

// Tests that choose their own thread counts (argument checks and edge cases take one; some
// compare two) run once per available device and make their backends with make().
class DeviceTest : public ::testing::TestWithParam<Device> {
 protected:
  Device device() const { return GetParam(); }
  std::unique_ptr<Backend> make(int threads) const {
    std::unique_ptr<Backend> backend = make_backend({GetParam(), threads});
    if (backend == nullptr || backend->device() != GetParam())
      throw Error(ErrorCode::Internal, "make_backend gave no backend of the requested device");
    return backend;
  }
};

inline std::string device_test_name(const ::testing::TestParamInfo<Device>& info) {
  return device_param_name(info.param);
}

#define TUSK_INSTANTIATE_DEVICE_TESTS(suite)                                              \
  INSTANTIATE_TEST_SUITE_P(Devices, suite, ::testing::ValuesIn(available_devices()), \
                           device_test_name)

// ---- device memory: the suite hands ops memory of the backend's device ----

// A host Matrix copied into a tensor of the backend's device, padding included ([rows, ld]),
// so the padding check still sees what an op wrote beyond cols.
class DeviceMatrix {
 public:
  DeviceMatrix(Backend& backend, const Matrix& host)
      : backend_(&backend), rows_(host.rows), cols_(host.cols), ld_(host.ld),
        tensor_(backend.allocate(DType::F32, {host.rows, host.ld})) {
    backend.upload(host.data.data(), tensor_);
  }
  // Rows [0, rows) of a tensor holding `extra_rows` more: an op that reads or writes past
  // the view stays inside the allocation (for tests of out-of-range arguments).
  DeviceMatrix(Backend& backend, const Matrix& host, int64_t extra_rows)
      : DeviceMatrix(backend, padded_rows(host, extra_rows)) {
    rows_ = host.rows;
  }

  const float* data() const { return static_cast<const float*>(tensor_.data()); }
  float* data() { return static_cast<float*>(tensor_.data()); }
  MatrixView view() const { return {data(), rows_, cols_, ld_}; }
  MutableMatrixView mut() { return {data(), rows_, cols_, ld_}; }
  // Columns [col, col + cols) of every row (e.g. the K half of a fused K|V buffer).
  MatrixView columns(int64_t col, int64_t cols) const { return {data() + col, rows_, cols, ld_}; }

  Matrix download() const {
    Matrix host(tensor_.shape()[0], cols_, ld_);
    backend_->download(tensor_, host.data.data());
    host.rows = rows_;
    return host;
  }

 private:
  static Matrix padded_rows(const Matrix& host, int64_t extra_rows) {
    Matrix m(host.rows + extra_rows, host.cols, host.ld);
    std::copy(host.data.begin(), host.data.begin() + host.rows * host.ld, m.data.begin());
    return m;
  }

  Backend* backend_;
  int64_t rows_, cols_, ld_;
  Tensor tensor_;
};

// Writes a host matrix into a device view the backend handed out (a KvCache step) with
// gather_rows, the one op that copies rows into any view; waits before the source goes.
inline void write_view(Backend& backend, const Matrix& host, MutableMatrixView dst) {
  DeviceMatrix src(backend, host);
  std::vector<int64_t> rows(static_cast<size_t>(host.rows));
  for (int64_t r = 0; r < host.rows; ++r) rows[r] = r;
  backend.gather_rows(src.view(), rows.data(), dst);
  backend.fence()->wait();
}

// The op must throw tusk::Error with InvalidArgument.
#define EXPECT_INVALID_ARGUMENT(statement)                                       \
  do {                                                                           \
    try {                                                                        \
      statement;                                                                 \
      ADD_FAILURE() << "no tusk::Error from: " #statement;                       \
    } catch (const ::tusk::Error& e) {                                           \
      EXPECT_EQ(e.code(), ::tusk::ErrorCode::InvalidArgument) << e.what();       \
    }                                                                            \
  } while (0)

}  // namespace tusk::backends::test
