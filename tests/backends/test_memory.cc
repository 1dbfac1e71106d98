// Tensors and backend memory: what allocate() hands out, upload/download round trips, borrowed
// views with strides, and the 2-D matrix views ops take.
#include <cstring>
#include <limits>

#include "test_util.h"

namespace tusk::backends::test {
namespace {

class MemoryTest : public BackendTest {};

TEST_P(MemoryTest, AllocateGivesAnOwnedContiguousTensorOfThisDevice) {
  for (DType dtype : {DType::F32, DType::I32}) {
    const Tensor t = backend().allocate(dtype, {3, 5, 7});
    EXPECT_EQ(t.device(), backend().device());
    EXPECT_EQ(t.dtype(), dtype);
    EXPECT_EQ(t.shape(), (std::vector<int64_t>{3, 5, 7}));
    EXPECT_TRUE(t.owns_buffer());
    EXPECT_TRUE(t.contiguous());
    EXPECT_FALSE(t.empty());
    EXPECT_EQ(t.elements(), 105);
    EXPECT_EQ(t.bytes(), 105u * 4u);
  }
  const Tensor matrix = backend().allocate(DType::F32, {4, 6});
  EXPECT_EQ(matrix.bytes(), 96u);
}

TEST_P(MemoryTest, AllocatedTensorsHaveRowMajorStrides) {
  EXPECT_EQ(backend().allocate(DType::F32, {3, 5, 7}).strides(), (std::vector<int64_t>{35, 7, 1}));
  EXPECT_EQ(backend().allocate(DType::I32, {9}).strides(), (std::vector<int64_t>{1}));
}

TEST_P(MemoryTest, F32RoundTripIsBitExact) {
  std::mt19937 rng(1);
  std::vector<float> host = random_vector(rng, 6 * 37, -1e3f, 1e3f);
  // Values a lossy copy would change: signed zero, infinities, NaN, a denormal.
  host[0] = -0.0f;
  host[1] = std::numeric_limits<float>::infinity();
  host[2] = -std::numeric_limits<float>::infinity();
  host[3] = std::numeric_limits<float>::quiet_NaN();
  host[4] = std::numeric_limits<float>::denorm_min();
  Tensor t = backend().allocate(DType::F32, {6, 37});
  backend().upload(host.data(), t);
  std::vector<float> back(host.size(), 7.0f);
  backend().download(t, back.data());
  EXPECT_EQ(std::memcmp(host.data(), back.data(), t.bytes()), 0);
}

TEST_P(MemoryTest, I32RoundTripIsExact) {
  std::vector<int32_t> host(1000);
  for (size_t i = 0; i < host.size(); ++i) host[i] = static_cast<int32_t>(i * 2654435761u);
  host[0] = std::numeric_limits<int32_t>::min();
  host[1] = std::numeric_limits<int32_t>::max();
  Tensor t = backend().allocate(DType::I32, {10, 100});
  backend().upload(host.data(), t);
  std::vector<int32_t> back(host.size(), 0);
  backend().download(t, back.data());
  EXPECT_EQ(back, host);
}

TEST_P(MemoryTest, TensorsDoNotShareMemory) {
  const std::vector<float> a(64, 1.0f), b(64, 2.0f);
  Tensor ta = backend().allocate(DType::F32, {64});
  Tensor tb = backend().allocate(DType::F32, {64});
  backend().upload(a.data(), ta);
  backend().upload(b.data(), tb);
  std::vector<float> back(64);
  backend().download(ta, back.data());
  EXPECT_EQ(back, a);
  backend().download(tb, back.data());
  EXPECT_EQ(back, b);
}

TEST_P(MemoryTest, ACopyKeepsTheBufferAlive) {
  const std::vector<float> host = {1, 2, 3, 4, 5, 6};
  Tensor copy;
  EXPECT_TRUE(copy.empty());
  EXPECT_FALSE(copy.owns_buffer());
  {
    Tensor t = backend().allocate(DType::F32, {2, 3});
    backend().upload(host.data(), t);
    copy = t;
  }
  EXPECT_TRUE(copy.owns_buffer());
  std::vector<float> back(6);
  backend().download(copy, back.data());
  EXPECT_EQ(back, host);
}

TEST_P(MemoryTest, MatrixViewsOfAnAllocatedMatrix) {
  Tensor t = backend().allocate(DType::F32, {4, 6});
  const MatrixView m = static_cast<const Tensor&>(t).matrix();
  EXPECT_EQ(m.data, t.data());
  EXPECT_EQ(m.rows, 4);
  EXPECT_EQ(m.cols, 6);
  EXPECT_EQ(m.ld, 6);
  const MutableMatrixView w = t.mutable_matrix();
  EXPECT_EQ(w.data, t.data());
  EXPECT_EQ(w.rows, 4);
  EXPECT_EQ(w.cols, 6);
  EXPECT_EQ(w.ld, 6);
}

TEST_P(MemoryTest, MatrixRefusesNon2dAndNonF32Tensors) {
  Tensor vec = backend().allocate(DType::F32, {6});
  Tensor cube = backend().allocate(DType::F32, {2, 3, 4});
  Tensor ints = backend().allocate(DType::I32, {2, 3});
  for (Tensor* t : {&vec, &cube, &ints}) {
    EXPECT_THROW(static_cast<const Tensor&>(*t).matrix(), Error);
    EXPECT_THROW(t->mutable_matrix(), Error);
  }
}

// Host weights become op operands through prepare(), whatever the device does with them.
TEST_P(MemoryTest, PreparedWeightsFeedTheOps) {
  std::mt19937 rng(4);
  const int64_t m = 3, k = 64, n = 5;
  Matrix x(m, k);
  x.fill_random(rng);
  const DeviceMatrix dx(backend(), x);
  std::vector<Tensor> keep;
  const std::vector<float> w = random_vector(rng, n * k);
  const float* pw = backend().prepare(w.data(), n * k, keep);
  DeviceMatrix y(backend(), Matrix(m, n, n + 1));
  backend().linear(dx.view(), pw, n, nullptr, Activation::None, y.mut());
  expect_close(y.download(), ref_linear(x, w, n, nullptr, Activation::None), 1e-4);

  const Packed packed = make_packed(weight_layout::Layout::Int8, n, k, 6, 32);
  const PackedMatrix pp = backend().prepare(packed.view(), keep);
  EXPECT_EQ(pp.n, n);
  EXPECT_EQ(pp.k, k);
  backend().linear(dx.view(), pp, nullptr, Activation::None, y.mut());
  // Activations are rounded to int16 for int8 weights (see test_packed.cc).
  expect_close(y.download(), ref_linear(x, packed.values, n, nullptr, Activation::None), 2e-3);
}

TEST_P(MemoryTest, ThreadsAndFences) {
  EXPECT_EQ(backend().threads(), GetParam().threads);
  EXPECT_GE(make_backend({GetParam().device, 0})->threads(), 1);  // 0: every core
  Tensor t = backend().allocate(DType::F32, {4, 4});
  const std::vector<float> host(16, 1.0f);
  backend().upload(host.data(), t);
  backend().add_scaled(t.matrix(), 2.0f, t.mutable_matrix());
  const FencePtr fence = backend().fence();
  ASSERT_NE(fence, nullptr);
  fence->wait();
  EXPECT_TRUE(fence->done());
  std::vector<float> back(16);
  backend().download(t, back.data());
  EXPECT_EQ(back, std::vector<float>(16, 3.0f));
}

TUSK_INSTANTIATE_BACKEND_TESTS(MemoryTest);

// Borrowed tensors name host memory; they need no backend.
TEST(BorrowedTensor, ContiguousByDefault) {
  std::vector<float> host(12);
  Tensor t = Tensor::borrow(Device::Cpu, DType::F32, host.data(), {3, 4});
  EXPECT_EQ(t.device(), Device::Cpu);
  EXPECT_EQ(t.dtype(), DType::F32);
  EXPECT_EQ(t.shape(), (std::vector<int64_t>{3, 4}));
  EXPECT_FALSE(t.owns_buffer());
  EXPECT_FALSE(t.empty());
  EXPECT_TRUE(t.contiguous());
  EXPECT_EQ(t.data(), host.data());
  EXPECT_EQ(t.elements(), 12);
  EXPECT_EQ(t.bytes(), 48u);
  const MatrixView m = static_cast<const Tensor&>(t).matrix();
  EXPECT_EQ(m.data, host.data());
  EXPECT_EQ(m.rows, 3);
  EXPECT_EQ(m.cols, 4);
  EXPECT_EQ(m.ld, 4);
}

TEST(BorrowedTensor, RowStrideBecomesTheMatrixLd) {
  std::vector<float> host(3 * 10, 0.0f);
  Tensor t = Tensor::borrow(Device::Cpu, DType::F32, host.data() + 2, {3, 4}, {10, 1});
  EXPECT_EQ(t.strides(), (std::vector<int64_t>{10, 1}));
  EXPECT_FALSE(t.contiguous());
  EXPECT_FALSE(t.owns_buffer());
  EXPECT_EQ(t.elements(), 12);
  const MutableMatrixView m = t.mutable_matrix();
  EXPECT_EQ(m.data, host.data() + 2);
  EXPECT_EQ(m.rows, 3);
  EXPECT_EQ(m.cols, 4);
  EXPECT_EQ(m.ld, 10);
  m.data[1 * m.ld + 3] = 5.0f;  // the view writes the borrowed memory
  EXPECT_EQ(host[2 + 10 + 3], 5.0f);
}

TEST(BorrowedTensor, ExplicitRowMajorStridesAreContiguous) {
  std::vector<float> host(24);
  EXPECT_TRUE(Tensor::borrow(Device::Cpu, DType::F32, host.data(), {2, 3, 4}, {12, 4, 1}).contiguous());
  EXPECT_FALSE(Tensor::borrow(Device::Cpu, DType::F32, host.data(), {2, 3, 2}, {12, 4, 1}).contiguous());
  EXPECT_FALSE(Tensor::borrow(Device::Cpu, DType::F32, host.data(), {3, 4}, {1, 3}).contiguous());
}

TEST(BorrowedTensor, MatrixNeedsUnitColumnStride2dAndF32) {
  std::vector<float> host(64);
  const Tensor column_major = Tensor::borrow(Device::Cpu, DType::F32, host.data(), {3, 4}, {1, 3});
  EXPECT_THROW(column_major.matrix(), Error);
  const Tensor cube = Tensor::borrow(Device::Cpu, DType::F32, host.data(), {2, 2, 2});
  EXPECT_THROW(cube.matrix(), Error);
  const Tensor vec = Tensor::borrow(Device::Cpu, DType::F32, host.data(), {8});
  EXPECT_THROW(vec.matrix(), Error);
  Tensor ints = Tensor::borrow(Device::Cpu, DType::I32, host.data(), {4, 4});
  EXPECT_THROW(ints.mutable_matrix(), Error);
  EXPECT_THROW(static_cast<const Tensor&>(ints).matrix(), Error);
}

TEST(OwnedTensor, KeepsItsBufferAlive) {
  auto buffer = std::shared_ptr<void>(new float[6], [](void* p) { delete[] static_cast<float*>(p); });
  {
    Tensor t = Tensor::own(Device::Cpu, DType::F32, buffer, {2, 3});
    EXPECT_TRUE(t.owns_buffer());
    EXPECT_TRUE(t.contiguous());
    EXPECT_EQ(t.data(), buffer.get());
    EXPECT_EQ(t.bytes(), 24u);
    EXPECT_GT(buffer.use_count(), 1);
  }
  EXPECT_EQ(buffer.use_count(), 1);
}

}  // namespace
}  // namespace tusk::backends::test
