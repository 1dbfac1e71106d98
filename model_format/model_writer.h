// Writing a .tusk file. Weights stream to a temporary file as they are added (a converter
// never holds the whole model in memory); finish() appends the metadata, patches the header
// and renames the file into place. Output depends only on what was added and in which order,
// so the same input gives the same bytes. Destroying an unfinished writer removes the
// temporary file.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "model_format/model_config.h"
#include "model_format/model_file.h"
#include "model_format/tensor_types.h"
#include "model_format/vocabulary.h"

namespace tusk::format {

class ModelWriter {
 public:
  explicit ModelWriter(const std::string& path);  // throws Io if the temp file can't be made
  ~ModelWriter();
  ModelWriter(const ModelWriter&) = delete;
  ModelWriter& operator=(const ModelWriter&) = delete;

  void set_config(const ModelConfig& config);
  void set_tokenizer(const std::string& sentencepiece_model_bytes);
  void add_language(const Language& language);
  void set_vocabulary(const Vocabulary& vocabulary);
  // The converter's quantization choices in words, shown by `tusk inspect`.
  void set_quantization(const std::string& summary);
  // Dense tensors: stored raw, 64-byte aligned, with a checksum (and tensor.stats, if set).
  void add_dense(const TensorData& tensor);
  // One expert frame holding its tensors back to back; zstd-compressed at zstd_level when that
  // saves at least 1/4 of the bytes, else stored raw. Frames start 4096-aligned.
  void add_expert(Stack stack, int layer, int expert, const std::vector<TensorData>& tensors,
                  int zstd_level);
  // Writes metadata and header, fsyncs and renames over `path`.
  void finish();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Replaces the expert usage table of the model at `path` (empty: removes it), keeping every
// other byte of meaning: the weights are copied as they are, the metadata is rebuilt with the
// new table, and the result is verified and renamed over `path`, so a failure leaves the
// original untouched. Counts must match the model's experts (PairUsage::counts), languages
// its language table; else InvalidArgument.
void replace_expert_usage(const std::string& path, const std::vector<PairUsage>& usage);

}  // namespace tusk::format
