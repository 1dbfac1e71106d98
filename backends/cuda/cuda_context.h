// What a CUDA backend, its tensors and its KV caches share: the device, one stream (all work
// of a backend is ordered on it), the cuBLAS handle, the staging buffers for control arrays
// going down and results coming back, and a second stream with pinned buffers for weight
// uploads, so copying weights (experts paged in) overlaps the work in flight. Held by
// shared_ptr, so a tensor freed after its backend still frees on a live stream.
#pragma once

#include <cublas_v2.h>
#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <utility>
#include <vector>

namespace tusk::backends::cuda {

// Throws tusk::Error (OutOfMemory for allocation failures, Internal otherwise) naming `what`.
void check(cudaError_t status, const char* what);
void check(cublasStatus_t status, const char* what);

class Context {
 public:
  explicit Context(int device);
  ~Context();
  Context(const Context&) = delete;
  Context& operator=(const Context&) = delete;

  int device() const { return device_; }
  cudaStream_t stream() const { return stream_; }
  cublasHandle_t cublas() const { return cublas_; }
  // Makes this context's device current on the calling thread (a backend may move between
  // threads, one at a time).
  void make_current() const;

  // Stream-ordered device memory (freed with free_async: after the work already enqueued).
  void* allocate(size_t bytes);
  void free_async(void* p);

  // Copies a host control array to device memory valid for the work enqueued next (a staging
  // arena, recycled once the stream has caught up). Arrays put for one op stay valid together:
  // a full arena is replaced by a larger one, the old one freed at the next synchronize().
  const void* put(const void* host, size_t bytes);
  template <typename T>
  const T* put_array(const T* host, int64_t count) {
    return static_cast<const T*>(put(host, static_cast<size_t>(count) * sizeof(T)));
  }

  // Copies device bytes back after the work before them, waiting for them: the host array is
  // valid until the next read_back.
  const void* read_back(const void* device, size_t bytes);

  // Copies host bytes into device memory on the upload stream, through pinned buffers (the
  // host bytes are free again when it returns); work enqueued on stream() afterwards sees
  // them. `device` must be memory allocated on stream() before the call.
  void upload_async(void* device, const void* host, size_t bytes);

  // A device scratch buffer of at least `bytes`, reused call after call (stream order keeps
  // uses apart); slot picks one of a few independent buffers.
  void* scratch(int slot, size_t bytes);

  void synchronize();

 private:
  void reserve_host(size_t bytes);

  int device_;
  cudaStream_t stream_ = nullptr;
  cublasHandle_t cublas_ = nullptr;
  // Staging: pinned host and device arenas of the same size, filled in step.
  char* stage_host_ = nullptr;
  char* stage_device_ = nullptr;
  size_t stage_capacity_ = 0, stage_used_ = 0;
  std::vector<std::pair<char*, char*>> retired_;  // full arenas (host, device), freed once synced
  // Results coming back (pinned).
  char* back_host_ = nullptr;
  size_t back_capacity_ = 0;
  // Weight uploads: their stream, a ring of pinned buffers each with the event of its last
  // copy, and the events that order the two streams.
  struct UploadSlot {
    char* pinned = nullptr;
    cudaEvent_t copied = nullptr;
    bool used = false;
  };
  static constexpr int kUploadSlots = 4;
  static constexpr size_t kUploadSlotBytes = size_t{8} << 20;
  cudaStream_t upload_stream_ = nullptr;
  UploadSlot upload_slots_[kUploadSlots];
  int next_upload_slot_ = 0;
  cudaEvent_t allocated_ = nullptr, uploaded_ = nullptr;
  static constexpr int kScratchSlots = 4;
  void* scratch_[kScratchSlots] = {};
  size_t scratch_bytes_[kScratchSlots] = {};
};

}  // namespace tusk::backends::cuda
