// Shared pieces of the backend tests: strided test matrices, random data, naive references
// (double accumulation, written for clarity, not speed) and a tolerance check.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include "backends/backend.h"

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

inline std::vector<double> ref_attention(const Matrix& q, const Matrix& k, const Matrix& v,
                                         int heads, bool causal, int64_t q_offset) {
  const int64_t hd = q.cols / heads;
  std::vector<double> out(q.rows * q.cols, 0.0);
  std::vector<double> p(k.rows);
  for (int h = 0; h < heads; ++h) {
    for (int64_t i = 0; i < q.rows; ++i) {
      const int64_t n_keys = causal ? std::min(k.rows, q_offset + i + 1) : k.rows;
      double m = -INFINITY, s = 0;
      for (int64_t j = 0; j < n_keys; ++j) {
        double d = 0;
        for (int64_t c = 0; c < hd; ++c) d += double(q.at(i, h * hd + c)) * k.at(j, h * hd + c);
        p[j] = d / std::sqrt(double(hd));
        m = std::max(m, p[j]);
      }
      for (int64_t j = 0; j < n_keys; ++j) s += (p[j] = std::exp(p[j] - m));
      for (int64_t j = 0; j < n_keys; ++j)
        for (int64_t c = 0; c < hd; ++c)
          out[i * q.cols + h * hd + c] += p[j] / s * v.at(j, h * hd + c);
    }
  }
  return out;
}

}  // namespace tusk::backends::test
