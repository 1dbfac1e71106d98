#include <cstdint>
#include <cstring>

#include "common/error.h"
#include "model_format/model_file.h"

namespace tusk::format {

ExpertWeights::ExpertWeights(const ExpertWeights& other) { *this = other; }

ExpertWeights& ExpertWeights::operator=(const ExpertWeights& other) {
  if (this == &other) return *this;
  if (other.storage_.empty()) {
    storage_.clear();
    data_offset_ = data_size_ = 0;
    tensors_ = other.tensors_;
    return *this;
  }
  // A plain vector copy could land at another alignment and would leave the views pointing into
  // `other`: re-align and re-point instead.
  std::vector<unsigned char> storage(other.data_size_ + 63);
  const size_t offset = (64 - reinterpret_cast<uintptr_t>(storage.data()) % 64) % 64;
  std::memcpy(storage.data() + offset, other.storage_.data() + other.data_offset_, other.data_size_);
  const unsigned char* old_base = other.storage_.data() + other.data_offset_;
  std::vector<std::pair<std::string, TensorView>> tensors = other.tensors_;
  for (auto& entry : tensors) {
    const auto* p = static_cast<const unsigned char*>(entry.second.data);
    entry.second.data = storage.data() + offset + (p - old_base);
  }
  storage_ = std::move(storage);
  data_offset_ = offset;
  data_size_ = other.data_size_;
  tensors_ = std::move(tensors);
  return *this;
}

const TensorView& ExpertWeights::tensor(std::string_view name) const {
  for (const auto& entry : tensors_) {
    if (entry.first == name) return entry.second;
  }
  throw Error(ErrorCode::InvalidModel, "expert has no tensor '" + std::string(name) + "'");
}

}  // namespace tusk::format
