// Device tensors: memory a backend allocated (owned) or someone else's memory (borrowed), with
// the device it lives on, its element type, shape and strides. Ops take 2-D views of tensors
// (MatrixView); a tensor is what owns or names the buffer behind them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

namespace tusk::backends {

enum class Device { Cpu, Cuda };

const char* device_name(Device device);

enum class DType { F32, I32 };

size_t dtype_size(DType dtype);

// A read-only fp32 matrix: rows x cols, row stride ld elements (>= cols), on the device of the
// tensor it views.
struct MatrixView {
  const float* data;
  int64_t rows, cols, ld;
};
struct MutableMatrixView {
  float* data;
  int64_t rows, cols, ld;
};

class Tensor {
 public:
  Tensor() = default;

  // A view of memory the caller keeps alive. Empty strides: contiguous row-major.
  static Tensor borrow(Device device, DType dtype, void* data, std::vector<int64_t> shape,
                       std::vector<int64_t> strides = {});
  // A tensor that keeps `buffer` alive (backends build these in allocate()); contiguous. The
  // buffer is freed when the last tensor holding it goes: an asynchronous backend's deleter
  // must order that after the work already given (a stream-ordered free).
  static Tensor own(Device device, DType dtype, std::shared_ptr<void> buffer,
                    std::vector<int64_t> shape);

  Device device() const { return device_; }
  DType dtype() const { return dtype_; }
  const std::vector<int64_t>& shape() const { return shape_; }
  const std::vector<int64_t>& strides() const { return strides_; }  // in elements
  bool owns_buffer() const { return owner_ != nullptr; }
  bool empty() const { return data_ == nullptr; }
  bool contiguous() const;
  int64_t elements() const;
  size_t bytes() const { return static_cast<size_t>(elements()) * dtype_size(dtype_); }

  void* data() { return data_; }
  const void* data() const { return data_; }

  // A 2-D F32 tensor with unit column stride as a matrix view; throws otherwise.
  MatrixView matrix() const;
  MutableMatrixView mutable_matrix();

 private:
  Device device_ = Device::Cpu;
  DType dtype_ = DType::F32;
  std::vector<int64_t> shape_, strides_;
  void* data_ = nullptr;
  std::shared_ptr<void> owner_;  // null when borrowed
};

}  // namespace tusk::backends
