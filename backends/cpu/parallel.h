// Small helpers for intra-op parallelism on the CPU backend (OpenMP, the runtime oneDNN
// uses in this build, so our loops and oneDNN's share one thread pool).
#pragma once

#include <cstdint>

#include <omp.h>

namespace tusk::backends::cpu {

// Below this many scalar operations a parallel region costs more than it saves.
constexpr int64_t kMinParallelWork = int64_t{1} << 14;

inline bool worth_parallel(int threads, int64_t work) {
  return threads > 1 && work >= kMinParallelWork;
}

// Sets the calling thread's OpenMP thread count for the lifetime of the scope and restores
// it after. oneDNN reads omp_get_max_threads() of the calling thread both when it creates a
// primitive (to size per-thread scratch) and when it executes, and that ICV is per thread,
// so we set it right around our oneDNN calls instead of process-wide.
class OmpThreadsScope {
 public:
  explicit OmpThreadsScope(int threads) : saved_(omp_get_max_threads()) {
    if (threads != saved_) omp_set_num_threads(threads);
  }
  ~OmpThreadsScope() {
    if (omp_get_max_threads() != saved_) omp_set_num_threads(saved_);
  }
  OmpThreadsScope(const OmpThreadsScope&) = delete;
  OmpThreadsScope& operator=(const OmpThreadsScope&) = delete;

 private:
  int saved_;
};

}  // namespace tusk::backends::cpu
