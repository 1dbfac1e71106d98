#include "backends/cuda/cuda_context.h"

#include <algorithm>
#include <cstring>
#include <string>

#include "common/error.h"

namespace tusk::backends::cuda {

void check(cudaError_t status, const char* what) {
  if (status == cudaSuccess) return;
  cudaGetLastError();  // clear a sticky-free error so the next call starts clean
  const ErrorCode code = status == cudaErrorMemoryAllocation ? ErrorCode::OutOfMemory : ErrorCode::Internal;
  throw Error(code, std::string("CUDA: ") + what + ": " + cudaGetErrorString(status));
}

void check(cublasStatus_t status, const char* what) {
  if (status == CUBLAS_STATUS_SUCCESS) return;
  const ErrorCode code = status == CUBLAS_STATUS_ALLOC_FAILED ? ErrorCode::OutOfMemory : ErrorCode::Internal;
  throw Error(code, std::string("cuBLAS: ") + what + ": " + cublasGetStatusString(status));
}

namespace {
constexpr size_t kStageInitial = 1 << 20;
constexpr size_t kAlign = 256;
size_t round_up(size_t n) { return (n + kAlign - 1) / kAlign * kAlign; }

char* pinned_alloc(size_t bytes) {
  void* p = nullptr;
  check(cudaMallocHost(&p, bytes), "cudaMallocHost");
  return static_cast<char*>(p);
}

char* device_alloc(size_t bytes) {
  void* p = nullptr;
  check(cudaMalloc(&p, bytes), "cudaMalloc");
  return static_cast<char*>(p);
}
}  // namespace

Context::Context(int device) : device_(device) {
  check(cudaSetDevice(device), "cudaSetDevice");
  check(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking), "cudaStreamCreate");
  check(cublasCreate(&cublas_), "cublasCreate");
  check(cublasSetStream(cublas_, stream_), "cublasSetStream");
  // fp32 products in fp32 (no TF32): the CPU engine is the reference.
  check(cublasSetMathMode(cublas_, CUBLAS_DEFAULT_MATH), "cublasSetMathMode");
  // Keep freed memory in the stream-ordered pool instead of returning it to the driver.
  cudaMemPool_t pool;
  check(cudaDeviceGetDefaultMemPool(&pool, device), "cudaDeviceGetDefaultMemPool");
  uint64_t keep = UINT64_MAX;
  check(cudaMemPoolSetAttribute(pool, cudaMemPoolAttrReleaseThreshold, &keep), "cudaMemPoolSetAttribute");
  stage_capacity_ = kStageInitial;
  stage_host_ = pinned_alloc(stage_capacity_);
  stage_device_ = device_alloc(stage_capacity_);
  reserve_host(kStageInitial);
  check(cudaStreamCreateWithFlags(&upload_stream_, cudaStreamNonBlocking), "cudaStreamCreate");
  check(cudaEventCreateWithFlags(&allocated_, cudaEventDisableTiming), "cudaEventCreate");
  check(cudaEventCreateWithFlags(&uploaded_, cudaEventDisableTiming), "cudaEventCreate");
  for (UploadSlot& slot : upload_slots_) {
    slot.pinned = pinned_alloc(kUploadSlotBytes);
    check(cudaEventCreateWithFlags(&slot.copied, cudaEventDisableTiming), "cudaEventCreate");
  }
}

Context::~Context() {
  cudaSetDevice(device_);
  if (upload_stream_) cudaStreamSynchronize(upload_stream_);
  if (stream_) cudaStreamSynchronize(stream_);
  for (UploadSlot& slot : upload_slots_) {
    if (slot.pinned) cudaFreeHost(slot.pinned);
    if (slot.copied) cudaEventDestroy(slot.copied);
  }
  if (allocated_) cudaEventDestroy(allocated_);
  if (uploaded_) cudaEventDestroy(uploaded_);
  if (upload_stream_) cudaStreamDestroy(upload_stream_);
  for (const auto& [host, device] : retired_) {
    cudaFreeHost(host);
    cudaFree(device);
  }
  for (void* p : scratch_)
    if (p) cudaFree(p);
  if (stage_device_) cudaFree(stage_device_);
  if (stage_host_) cudaFreeHost(stage_host_);
  if (back_host_) cudaFreeHost(back_host_);
  if (cublas_) cublasDestroy(cublas_);
  if (stream_) cudaStreamDestroy(stream_);
}

void Context::make_current() const { check(cudaSetDevice(device_), "cudaSetDevice"); }

void* Context::allocate(size_t bytes) {
  void* p = nullptr;
  check(cudaMallocAsync(&p, bytes == 0 ? kAlign : bytes, stream_), "cudaMallocAsync");
  return p;
}

void Context::free_async(void* p) {
  if (p == nullptr) return;
  cudaSetDevice(device_);
  cudaFreeAsync(p, stream_);
}

void Context::synchronize() {
  check(cudaStreamSynchronize(stream_), "cudaStreamSynchronize");
  stage_used_ = 0;  // every staged copy has landed, and every kernel that read one has run
  for (const auto& [host, device] : retired_) {
    check(cudaFreeHost(host), "cudaFreeHost");
    check(cudaFree(device), "cudaFree");
  }
  retired_.clear();
}

const void* Context::put(const void* host, size_t bytes) {
  if (bytes == 0) return stage_device_;
  const size_t need = round_up(bytes);
  if (stage_used_ + need > stage_capacity_) {
    // Earlier puts may not have been read yet: a fresh, larger arena; the full one waits for
    // the next synchronize().
    size_t capacity = std::max<size_t>(2 * stage_capacity_, kStageInitial);
    while (capacity < need) capacity *= 2;
    retired_.emplace_back(stage_host_, stage_device_);
    stage_host_ = nullptr;
    stage_device_ = nullptr;
    stage_capacity_ = stage_used_ = 0;  // an allocation failure leaves no arena behind
    stage_host_ = pinned_alloc(capacity);
    char* device = nullptr;
    try {
      device = device_alloc(capacity);
    } catch (...) {
      cudaFreeHost(stage_host_);
      stage_host_ = nullptr;
      throw;
    }
    stage_device_ = device;
    stage_capacity_ = capacity;
  }
  char* h = stage_host_ + stage_used_;
  char* d = stage_device_ + stage_used_;
  std::memcpy(h, host, bytes);
  check(cudaMemcpyAsync(d, h, bytes, cudaMemcpyHostToDevice, stream_), "control upload");
  stage_used_ += need;
  return d;
}

void Context::upload_async(void* device, const void* host, size_t bytes) {
  if (bytes == 0) return;
  // The destination was allocated in stream order on stream_: the upload stream waits for it.
  check(cudaEventRecord(allocated_, stream_), "cudaEventRecord");
  check(cudaStreamWaitEvent(upload_stream_, allocated_, 0), "cudaStreamWaitEvent");
  const auto* src = static_cast<const char*>(host);
  auto* dst = static_cast<char*>(device);
  for (size_t done = 0; done < bytes;) {
    UploadSlot& slot = upload_slots_[next_upload_slot_];
    next_upload_slot_ = (next_upload_slot_ + 1) % kUploadSlots;
    if (slot.used) check(cudaEventSynchronize(slot.copied), "cudaEventSynchronize");  // its last copy
    const size_t n = std::min(kUploadSlotBytes, bytes - done);
    std::memcpy(slot.pinned, src + done, n);
    check(cudaMemcpyAsync(dst + done, slot.pinned, n, cudaMemcpyHostToDevice, upload_stream_), "weight upload");
    check(cudaEventRecord(slot.copied, upload_stream_), "cudaEventRecord");
    slot.used = true;
    done += n;
  }
  // Work enqueued on stream_ from now on runs after the copies.
  check(cudaEventRecord(uploaded_, upload_stream_), "cudaEventRecord");
  check(cudaStreamWaitEvent(stream_, uploaded_, 0), "cudaStreamWaitEvent");
}

void Context::reserve_host(size_t bytes) {
  if (bytes <= back_capacity_) return;
  size_t capacity = back_capacity_ == 0 ? kStageInitial : back_capacity_;
  while (capacity < bytes) capacity *= 2;
  if (back_host_) check(cudaFreeHost(back_host_), "cudaFreeHost");
  back_host_ = nullptr;
  back_capacity_ = 0;  // an allocation failure leaves no buffer behind
  back_host_ = pinned_alloc(capacity);
  back_capacity_ = capacity;
}

const void* Context::read_back(const void* device, size_t bytes) {
  reserve_host(bytes);
  if (bytes > 0) check(cudaMemcpyAsync(back_host_, device, bytes, cudaMemcpyDeviceToHost, stream_), "read back");
  synchronize();
  return back_host_;
}

void* Context::scratch(int slot, size_t bytes) {
  if (bytes > scratch_bytes_[slot]) {
    free_async(scratch_[slot]);
    scratch_[slot] = allocate(round_up(bytes));
    scratch_bytes_[slot] = round_up(bytes);
  }
  return scratch_[slot];
}

}  // namespace tusk::backends::cuda
