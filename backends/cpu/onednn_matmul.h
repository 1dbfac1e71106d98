// y = act(x @ w^T + bias) through oneDNN's matmul, with primitives cached per shape.
// Creating a oneDNN primitive costs far more than running one at our sizes (d_model 256,
// vocab 8000, m from 1 to a few thousand), so each distinct shape is built once and reused.
#pragma once

#include <cstddef>
#include <cstdint>
#include <list>
#include <unordered_map>
#include <vector>

#include <oneapi/dnnl/dnnl.hpp>

#include "backends/backend.h"

namespace tusk::backends::cpu {

class OneDnnMatmul {
 public:
  // `threads` is the OpenMP thread count used to build and run every primitive.
  OneDnnMatmul(int threads, std::size_t max_cached = 256);

  // Shapes are checked by the caller. Throws tusk::Error(Internal) when oneDNN fails.
  void run(MatrixView x, const float* w, int64_t n, const float* bias, Activation act,
           MutableMatrixView y);

  std::size_t cached_primitives() const { return cache_.size(); }

 private:
  struct Key {
    int64_t m, k, n, lda, ldc;
    bool has_bias;
    Activation act;
    bool operator==(const Key& o) const {
      return m == o.m && k == o.k && n == o.n && lda == o.lda && ldc == o.ldc &&
             has_bias == o.has_bias && act == o.act;
    }
  };
  struct KeyHash {
    std::size_t operator()(const Key& key) const;
  };
  // A primitive plus memory objects bound to its descriptors and the argument list that
  // names them; each call only swaps the data pointers in (set_data_handle), so running a
  // cached shape allocates nothing.
  struct Entry {
    dnnl::matmul primitive;
    dnnl::memory src, weights, bias, dst;
    std::vector<dnnl_exec_arg_t> args;
  };
  using LruList = std::list<Key>;  // front = most recently used
  struct Slot {
    Entry entry;
    LruList::iterator lru_pos;
  };

  Entry& lookup(const Key& key, MatrixView x, const float* w, const float* bias,
                MutableMatrixView y);
  Entry build(const Key& key, MatrixView x, const float* w, const float* bias,
              MutableMatrixView y) const;

  int threads_;
  std::size_t max_cached_;
  dnnl::engine engine_;
  dnnl::stream stream_;
  std::unordered_map<Key, Slot, KeyHash> cache_;
  LruList lru_;
};

}  // namespace tusk::backends::cpu
