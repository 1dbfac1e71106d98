// Verifies the metadata FlatBuffer of a .tusk file and checks every claim it makes (config
// sanity, language ids, each tensor's and expert frame's offset, size, alignment, dtype/shape
// agreement, duplicates) against the file's real extent, turning it into plain records.
// Throws tusk::Error(InvalidModel) with "<file>: <what is wrong>".
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "model_format/metadata_builder.h"

namespace tusk::format {

// Where the metadata sits in the file; weights may use any other byte after the header.
struct FileExtent {
  uint64_t file_size = 0;
  uint64_t metadata_offset = 0;
  uint64_t metadata_size = 0;
  uint32_t flags = 0;  // the header's (file_layout.h), known ones only
  uint64_t metadata_checksum = 0;
};

struct CheckedMetadata {
  MetadataRecord records;      // tensors sorted by name, experts by (stack, layer, expert);
                               // records.tokenizer stays empty: see `tokenizer`
  std::string_view tokenizer;  // points into the metadata bytes
};

// A name read from a file, made safe for an error message: at most 80 bytes shown, anything
// outside printable ASCII written as \xNN.
std::string printable_name(std::string_view name);

CheckedMetadata read_metadata(const unsigned char* metadata, const FileExtent& extent,
                              const std::string& file_label);

}  // namespace tusk::format
