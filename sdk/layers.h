// Small building blocks the encoder and decoder share: linear layers, dense FFN, norms,
// residual adds, all on row-major [tokens, features] activations.
#pragma once

#include <algorithm>
#include <vector>

#include "backends/backend.h"
#include "sdk/model.h"

namespace tusk::sdk {

using backends::Backend;
using backends::MatrixView;
using backends::MutableMatrixView;

// A growable activation buffer on the backend's device, viewed as [rows, cols]; growing keeps
// capacity so steady-state batches do not allocate. The host never reads it: ops do.
class Activations {
 public:
  explicit Activations(Backend& backend) : backend_(&backend) {}

  MutableMatrixView shape(int64_t rows, int64_t cols) {
    const int64_t need = rows * cols;
    if (need > capacity_) {
      capacity_ = std::max(need, 2 * capacity_);
      buffer_ = backend_->allocate(backends::DType::F32, {capacity_});
    }
    rows_ = rows;
    cols_ = cols;
    return view();
  }
  MutableMatrixView view() { return {static_cast<float*>(buffer_.data()), rows_, cols_, cols_}; }
  MatrixView cview() const { return {static_cast<const float*>(buffer_.data()), rows_, cols_, cols_}; }
  // Rows [begin, begin + count).
  MatrixView rows(int64_t begin, int64_t count) const {
    return {static_cast<const float*>(buffer_.data()) + begin * cols_, count, cols_, cols_};
  }
  int64_t rows() const { return rows_; }
  int64_t cols() const { return cols_; }
  // Rows of `cols` that fit without reallocating (shape() keeps the contents up to them).
  int64_t capacity_rows(int64_t cols) const { return cols > 0 ? capacity_ / cols : 0; }
  // Room for rows x cols (the contents are not kept when it grows).
  void reserve(int64_t rows, int64_t cols) {
    if (rows * cols > capacity_) {
      capacity_ = rows * cols;
      buffer_ = backend_->allocate(backends::DType::F32, {capacity_});
    }
  }

 private:
  Backend* backend_;
  backends::Tensor buffer_;
  int64_t capacity_ = 0;
  int64_t rows_ = 0, cols_ = 0;
};

inline MatrixView as_const(MutableMatrixView v) { return {v.data, v.rows, v.cols, v.ld}; }

// y = act(x @ w^T + bias) for fp32 or packed weights.
inline void matmul(Backend& b, const MatrixWeights& w, const float* bias, MatrixView x,
                   MutableMatrixView y, backends::Activation act = backends::Activation::None) {
  if (w.is_f32())
    b.linear(x, w.f32, w.out, bias, act, y);
  else
    b.linear(x, w.packed, bias, act, y);
}

inline void linear(Backend& b, const LinearWeights& w, MatrixView x, MutableMatrixView y,
                   backends::Activation act = backends::Activation::None) {
  matmul(b, w.weight, w.bias, x, y, act);
}

inline backends::LinearOperand operand(const LinearWeights& w) {
  return {w.weight.f32, w.weight.packed, w.out, w.in, w.bias};
}

inline void layer_norm(Backend& b, const LayerNormWeights& w, float eps, MatrixView x,
                       MutableMatrixView y) {
  b.layer_norm(x, w.gamma, w.beta, eps, y);
}

// y = fc2(relu(fc1(x))), hidden is scratch.
inline void dense_ffn(Backend& b, const FfnWeights& w, MatrixView x, Activations& hidden,
                      MutableMatrixView y) {
  auto h = hidden.shape(x.rows, w.fc1.out);
  linear(b, w.fc1, x, h, backends::Activation::Relu);
  linear(b, w.fc2, as_const(h), y);
}

}  // namespace tusk::sdk
