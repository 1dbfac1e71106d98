#include "backends/tensor.h"

#include "backends/backend.h"

#include <string>

#include "common/error.h"

namespace tusk::backends {

const char* device_name(Device device) {
  switch (device) {
    case Device::Cpu:
      return "cpu";
    case Device::Cuda:
      return "cuda";
  }
  return "unknown";
}

const char* compute_name(Compute compute) {
  switch (compute) {
    case Compute::F32: return "fp32";
    case Compute::F16: return "fp16";
    case Compute::BF16: return "bf16";
  }
  return "unknown";
}

size_t dtype_size(DType dtype) {
  switch (dtype) {
    case DType::F32:
    case DType::I32:
      return 4;
  }
  return 0;
}

namespace {

std::vector<int64_t> contiguous_strides(const std::vector<int64_t>& shape) {
  std::vector<int64_t> strides(shape.size());
  int64_t s = 1;
  for (size_t i = shape.size(); i-- > 0;) {
    strides[i] = s;
    s *= shape[i];
  }
  return strides;
}

void check_shape(const std::vector<int64_t>& shape) {
  for (int64_t d : shape)
    if (d < 0) throw Error(ErrorCode::InvalidArgument, "tensor: a dimension is negative");
}

}  // namespace

Tensor Tensor::borrow(Device device, DType dtype, void* data, std::vector<int64_t> shape,
                      std::vector<int64_t> strides) {
  check_shape(shape);
  if (strides.empty()) strides = contiguous_strides(shape);
  if (strides.size() != shape.size())
    throw Error(ErrorCode::InvalidArgument, "tensor: strides and shape differ in rank");
  Tensor t;
  t.device_ = device;
  t.dtype_ = dtype;
  t.shape_ = std::move(shape);
  t.strides_ = std::move(strides);
  t.data_ = data;
  return t;
}

Tensor Tensor::own(Device device, DType dtype, std::shared_ptr<void> buffer,
                   std::vector<int64_t> shape) {
  Tensor t = borrow(device, dtype, buffer.get(), std::move(shape));
  t.owner_ = std::move(buffer);
  return t;
}

bool Tensor::contiguous() const { return strides_ == contiguous_strides(shape_); }

int64_t Tensor::elements() const {
  int64_t n = 1;
  for (int64_t d : shape_) n *= d;
  return n;
}

MatrixView Tensor::matrix() const {
  if (shape_.size() != 2 || dtype_ != DType::F32 || (shape_[1] > 1 && strides_[1] != 1) ||
      strides_[0] < shape_[1])
    throw Error(ErrorCode::InvalidArgument,
                "tensor: a matrix view needs a 2-D F32 tensor with unit column stride");
  return {static_cast<const float*>(data_), shape_[0], shape_[1], strides_[0]};
}

MutableMatrixView Tensor::mutable_matrix() {
  const MatrixView m = matrix();
  return {static_cast<float*>(data_), m.rows, m.cols, m.ld};
}

}  // namespace tusk::backends
