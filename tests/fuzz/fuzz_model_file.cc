// The .tusk reader (model_format/model_file): header, FlatBuffer metadata verification, the
// tensor and expert index, the vocabulary map, then every expert frame's load (pread, checksum,
// zstd). Mutated bytes would almost never pass the header and metadata checksums, so the
// harness re-stamps them (where the header locates the metadata inside the input) before
// opening: the checks behind the checksums get the fuzzer's attention. Every input must give a
// model or a tusk::Error; anything else (a crash, a sanitizer report, another exception) is a bug.
#include <algorithm>
#include <cstring>
#include <vector>

#include "common/error.h"
#include "memory_file.h"
#include "model_format/checksum.h"
#include "model_format/file_layout.h"
#include "model_format/model_file.h"

namespace layout = tusk::format::layout;

namespace {

void restamp_checksums(std::vector<uint8_t>& bytes) {
  if (bytes.size() < layout::kHeaderSize) return;
  layout::FileHeader header = layout::decode_header(bytes.data());
  const uint64_t off = header.metadata_offset, size = header.metadata_size;
  if (off <= bytes.size() && size <= bytes.size() - off)
    header.metadata_checksum = tusk::format::checksum64(bytes.data() + off, size);
  layout::encode_header(header, bytes.data());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static tusk_fuzz::MemoryFile file;
  // The first byte chooses: re-stamp checksums or not, verify tensor checksums or not, Copy or Map.
  if (size < 1) return 0;
  const uint8_t mode = data[0];
  std::vector<uint8_t> bytes(data + 1, data + size);
  if (mode & 1) restamp_checksums(bytes);
  const std::string& path = file.hold(bytes.data(), bytes.size());
  tusk::format::ModelFile::OpenOptions options;
  options.verify_checksums = (mode & 2) != 0;
  options.residency = (mode & 4) ? tusk::format::ModelFile::Residency::Map : tusk::format::ModelFile::Residency::Copy;
  try {
    const auto model = tusk::format::ModelFile::open(path, options);
    (void)model->tensor_infos();
    (void)model->section_stats();
    (void)model->parameter_count();
    for (const auto& id : model->expert_ids()) {
      try {
        (void)model->load_expert(id.stack, id.layer, id.expert);
      } catch (const tusk::Error&) {
      }
    }
  } catch (const tusk::Error&) {
  }
  return 0;
}
