// The byte layout of a .tusk file (format version 1), shared by the writer and the reader.
//
//   offset 0      fixed header, kHeaderSize bytes (below)
//   offset 64     weights, in the order they were added:
//                   dense tensor  raw bytes, starts kDenseAlignment (64) aligned
//                   expert frame  zstd frame or raw bytes, starts kExpertAlignment (4096) aligned
//                 gaps between items are zero bytes
//   metadata_offset (kMetadataAlignment aligned)
//                 the metadata FlatBuffer (schema/tusk_model.fbs), metadata_size bytes
//   file_size     end of file: nothing follows the metadata
//
// The metadata is written last so weights can stream to disk while a converter runs; the header,
// written at the very end, locates it.
//
// Fixed header, all integers little-endian:
//   0  char[4] magic "TUSK"
//   4  u32     format_version (1); stays at this offset in every version
//   8  u32     flags: features a reader must know to read the file right; a reader refuses
//              a file with a flag it does not know (bit 0: kFlagVocabularyIds)
//   12 u32     header_size (64)
//   16 u64     metadata_offset
//   24 u64     metadata_size
//   32 u64     file_size (the whole file, so truncation is caught before anything is read)
//   40 u64     metadata_checksum (checksum64 of the metadata bytes)
//   48 u64     reserved, 0
//   56 u64     header_checksum (checksum64 of bytes 0..55)
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "model_format/checksum.h"

namespace tusk::format::layout {

constexpr char kMagic[4] = {'T', 'U', 'S', 'K'};
constexpr uint32_t kFormatVersion = 1;
constexpr uint32_t kHeaderSize = 64;
constexpr uint64_t kDenseAlignment = 64;
constexpr uint64_t kExpertAlignment = 4096;
constexpr uint64_t kExpertTensorAlignment = 64;  // inside a decoded frame
constexpr uint64_t kMetadataAlignment = 64;

// Model ids are not SentencePiece ids: they go through the vocabulary table (an NLLB
// vocabulary). Readers from before the table would read the ids wrong, and refuse the file
// for this flag instead; files whose ids are piece ids leave it clear and stay readable.
constexpr uint32_t kFlagVocabularyIds = 1u << 0;
constexpr uint32_t kKnownFlags = kFlagVocabularyIds;

struct FileHeader {
  uint32_t format_version = kFormatVersion;
  uint32_t flags = 0;
  uint32_t header_size = kHeaderSize;
  uint64_t metadata_offset = 0;
  uint64_t metadata_size = 0;
  uint64_t file_size = 0;
  uint64_t metadata_checksum = 0;
  uint64_t reserved = 0;
  uint64_t header_checksum = 0;  // filled in by encode_header, read back by decode_header
};

namespace detail {
inline void store_le(unsigned char* out, uint64_t value, int bytes) {
  for (int i = 0; i < bytes; ++i) out[i] = static_cast<unsigned char>(value >> (8 * i));
}
inline uint64_t load_le(const unsigned char* in, int bytes) {
  uint64_t value = 0;
  for (int i = 0; i < bytes; ++i) value |= static_cast<uint64_t>(in[i]) << (8 * i);
  return value;
}
}  // namespace detail

// Serializes `header` (magic included) and computes its header_checksum.
inline void encode_header(const FileHeader& header, unsigned char out[kHeaderSize]) {
  std::memcpy(out, kMagic, 4);
  detail::store_le(out + 4, header.format_version, 4);
  detail::store_le(out + 8, header.flags, 4);
  detail::store_le(out + 12, header.header_size, 4);
  detail::store_le(out + 16, header.metadata_offset, 8);
  detail::store_le(out + 24, header.metadata_size, 8);
  detail::store_le(out + 32, header.file_size, 8);
  detail::store_le(out + 40, header.metadata_checksum, 8);
  detail::store_le(out + 48, header.reserved, 8);
  detail::store_le(out + 56, checksum64(out, 56), 8);
}

// Reads the fields back without judging them (the reader checks magic, version and checksum).
inline FileHeader decode_header(const unsigned char in[kHeaderSize]) {
  FileHeader header;
  header.format_version = static_cast<uint32_t>(detail::load_le(in + 4, 4));
  header.flags = static_cast<uint32_t>(detail::load_le(in + 8, 4));
  header.header_size = static_cast<uint32_t>(detail::load_le(in + 12, 4));
  header.metadata_offset = detail::load_le(in + 16, 8);
  header.metadata_size = detail::load_le(in + 24, 8);
  header.file_size = detail::load_le(in + 32, 8);
  header.metadata_checksum = detail::load_le(in + 40, 8);
  header.reserved = detail::load_le(in + 48, 8);
  header.header_checksum = detail::load_le(in + 56, 8);
  return header;
}

inline bool has_magic(const unsigned char in[kHeaderSize]) {
  return std::memcmp(in, kMagic, 4) == 0;
}

// Rounds up to a power-of-two alignment; false if that overflows.
inline bool align_up(uint64_t value, uint64_t alignment, uint64_t* out) {
  uint64_t bumped;
  if (__builtin_add_overflow(value, alignment - 1, &bumped)) return false;
  *out = bumped & ~(alignment - 1);
  return true;
}

}  // namespace tusk::format::layout
