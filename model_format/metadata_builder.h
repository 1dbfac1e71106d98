// Plain records of everything the metadata FlatBuffer holds, and the one function that
// serializes them. The writer fills the records as weights stream out; tests fill them by hand
// to craft files a correct writer would never produce.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "model_format/model_config.h"
#include "model_format/model_file.h"
#include "model_format/tensor_types.h"
#include "model_format/vocabulary.h"

namespace tusk::format {

enum class Compression : uint8_t { None = 0, Zstd = 1 };

struct DenseTensorRecord {
  std::string name;
  DType dtype = DType::F32;
  std::vector<int64_t> shape;
  uint64_t offset = 0;  // absolute file offset
  uint64_t size = 0;
  uint64_t checksum = 0;
  std::optional<QuantStats> stats = std::nullopt;  // quantization error, when measured
  std::optional<weight_layout::Layout> layout = std::nullopt;  // packed weights only
};

struct ExpertTensorRecord {
  std::string name;
  DType dtype = DType::F32;
  std::vector<int64_t> shape;
  uint64_t offset = 0;  // from the start of the decoded frame
  uint64_t size = 0;
  std::optional<QuantStats> stats = std::nullopt;  // quantization error, when measured
  std::optional<weight_layout::Layout> layout = std::nullopt;  // packed weights only
};

struct ExpertRecord {
  Stack stack = Stack::Encoder;
  int32_t layer = 0;
  int32_t expert = 0;
  uint64_t offset = 0;  // absolute file offset
  uint64_t stored_size = 0;
  uint64_t raw_size = 0;
  Compression compression = Compression::None;
  uint64_t checksum = 0;  // of the stored bytes
  std::vector<ExpertTensorRecord> tensors;
};

using PairUsageRecord = PairUsage;  // model_file.h

struct MetadataRecord {
  ModelConfig config;
  std::vector<Language> languages;
  std::string tokenizer;
  std::vector<DenseTensorRecord> tensors;
  std::vector<ExpertRecord> experts;
  std::string quantization;  // the converter's summary of its choices; empty: none recorded
  std::vector<PairUsageRecord> expert_usage;  // empty: not calibrated (the field stays absent)
  Vocabulary vocabulary;  // not recorded(): the field stays absent (a file from before it)
};

// The metadata FlatBuffer (file identifier "TUSK"). Items keep the order of the records, so the
// bytes depend only on the records.
std::vector<unsigned char> build_metadata(const MetadataRecord& metadata);

// The header flags these records need (file_layout.h): kFlagVocabularyIds when the vocabulary
// maps ids other than one to one.
uint32_t header_flags(const MetadataRecord& metadata);

}  // namespace tusk::format
