// Reading Hugging Face safetensors checkpoints: one file, or a sharded set named by
// model.safetensors.index.json. Our own reader: the header is validated strictly before any
// tensor is touched (header length, JSON shape, dtypes, offsets inside the data area, size ==
// dtype size * elements, the data area covered exactly once), the file is mmap'ed, and any
// problem is a tusk::Error (InvalidModel or Io) naming the file and the tensor, never a crash.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.h"

namespace tusk::format {

// Every dtype the safetensors format defines; only F32, F16 and BF16 convert to float.
enum class SafetensorsDType : uint8_t {
  BOOL, U8, I8, F8_E4M3, F8_E5M2, I16, U16, F16, BF16, I32, U32, F32, I64, U64, F64
};

const char* safetensors_dtype_name(SafetensorsDType t);
size_t safetensors_dtype_size(SafetensorsDType t);  // bytes per element

// IEEE half and bfloat16 (given as their bit patterns) to float, exact for every input
// including subnormals, infinities and NaN (the payload is kept).
float f16_to_f32(uint16_t bits);
float bf16_to_f32(uint16_t bits);

struct SafetensorsTensor {
  std::string name;
  SafetensorsDType dtype = SafetensorsDType::F32;
  std::vector<int64_t> shape;
  uint64_t begin = 0;  // offsets into the data area (after the header)
  uint64_t end = 0;

  uint64_t bytes() const { return end - begin; }
  uint64_t elements() const;
};

// One .safetensors file, mmap'ed read-only. Immutable after open; safe to share across threads.
class SafetensorsFile {
 public:
  // Throws Io if the file can't be opened or mapped, InvalidModel if it is malformed.
  static std::unique_ptr<SafetensorsFile> open(const std::string& path);
  ~SafetensorsFile();
  SafetensorsFile(const SafetensorsFile&) = delete;
  SafetensorsFile& operator=(const SafetensorsFile&) = delete;

  const std::string& path() const { return path_; }
  std::vector<std::string> names() const;  // sorted
  bool has(std::string_view name) const;
  const SafetensorsTensor& info(std::string_view name) const;  // throws InvalidModel if missing
  // The tensor's bytes as stored (little-endian), a view into the mapping.
  std::string_view raw(std::string_view name) const;
  // Converts an F32, F16 or BF16 tensor to float; other dtypes throw Unsupported. Then
  // releases the tensor's mapped pages, so reading a checkpoint tensor by tensor keeps one
  // tensor in memory, not every page read so far.
  std::vector<float> read_as_f32(std::string_view name) const;
  // Elements [first, first + count) of the tensor as floats into out, dropping the whole pages
  // they fill once read (Unsupported for other dtypes; Internal if outside the tensor).
  void read_range_as_f32(std::string_view name, uint64_t first, uint64_t count, float* out) const;
  // Drops the tensor's pages from this process (they are read from the file again if a view
  // of them is used later). Views stay valid.
  void release(std::string_view name) const;
  // The optional "__metadata__" string map.
  const std::map<std::string, std::string>& metadata() const { return metadata_; }

 private:
  SafetensorsFile() = default;
  void parse_header(std::string_view header, uint64_t data_size);

  std::string path_;
  const unsigned char* map_ = nullptr;
  size_t map_size_ = 0;
  const unsigned char* data_ = nullptr;  // start of the data area
  std::map<std::string, SafetensorsTensor, std::less<>> tensors_;
  std::map<std::string, std::string> metadata_;
};

// A checkpoint as one namespace of tensors, whether it is one file or sharded.
class SafetensorsCheckpoint {
 public:
  // `path` is a folder (model.safetensors preferred, as transformers does, else
  // model.safetensors.index.json), a .safetensors file, or an index .json file.
  // For an index, every tensor of its weight_map must be in its shard and every tensor of
  // a shard must be in the weight_map; shard names must be plain file names in the folder.
  static SafetensorsCheckpoint open(const std::string& path);

  std::vector<std::string> names() const;  // sorted
  bool has(std::string_view name) const;
  const SafetensorsTensor& info(std::string_view name) const;  // throws InvalidModel if missing
  std::string_view raw(std::string_view name) const;
  std::vector<float> read_as_f32(std::string_view name) const;  // releases pages, as above
  void read_range_as_f32(std::string_view name, uint64_t first, uint64_t count, float* out) const;
  void release(std::string_view name) const;
  // The file holding `name` (for messages).
  const std::string& file_of(std::string_view name) const;
  // The single file or the index file the checkpoint was opened from (for messages).
  const std::string& source() const { return source_; }
  size_t shard_count() const { return shards_.size(); }

 private:
  const SafetensorsFile& shard_of(std::string_view name) const;

  std::vector<std::shared_ptr<const SafetensorsFile>> shards_;
  std::map<std::string, size_t, std::less<>> where_;  // tensor -> index into shards_
  std::string source_;
};

}  // namespace tusk::format
