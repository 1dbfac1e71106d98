// Helpers shared by the .tusk format tests: a scratch directory, a tiny synthetic model written
// with ModelWriter, raw file access, and a way to assemble hand-made files.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "common/error.h"
#include "model_format/metadata_builder.h"
#include "model_format/model_file.h"
#include "model_format/model_writer.h"

namespace tusk::format::testing {

using Bytes = std::vector<unsigned char>;

// A fresh directory, removed with everything in it when the object dies.
class ScratchDir {
 public:
  ScratchDir();
  ~ScratchDir();
  std::string path(const std::string& name) const { return dir_ + "/" + name; }
  std::vector<std::string> entries() const;  // file names inside, sorted

 private:
  std::string dir_;
};

ModelConfig tiny_config();  // d_model 8, one layer per stack, two experts, every layer sparse

// What the tiny model holds, so tests can compare what they read back.
struct TinyModel {
  ModelConfig config = tiny_config();
  std::string tokenizer;                 // stand-in bytes for a SentencePiece model
  std::vector<float> embed;              // "embed" f32 [32, 8]
  std::vector<float> norm;               // "norm.weight" f32 [8]
  std::vector<unsigned char> packed;     // "packed" i4 [2, 64] (64 bytes, arbitrary nibbles)
  std::vector<float> packed_scales;      // "packed.scales" f32 [2, 1]: one scale per row
  std::vector<float> zeros_fc1, zeros_fc2;    // expert (encoder 0, 0): all zeros, compresses
  std::vector<float> random_fc1, random_fc2;  // expert (encoder 0, 1): random bits, stays raw
  std::vector<float> bias_fc1, bias_fc2;      // the biases of both experts
};

TinyModel make_tiny_model(uint32_t seed = 7);
// Writes `model` with ModelWriter (zstd level 3).
void write_tiny_model(const std::string& path, const TinyModel& model);

Bytes read_bytes(const std::string& path);
void write_bytes(const std::string& path, const Bytes& bytes);

// After editing the metadata of `file` in place, recompute the metadata and header checksums
// so the damage reaches the checks behind them.
void reseal(Bytes& file);
// Header fields of `file` (no checks).
uint64_t metadata_offset(const Bytes& file);
uint64_t metadata_size(const Bytes& file);

// A whole file: header, then `weights` placed at byte 64, then `metadata` (records offsets are
// absolute, so weights[i] sits at file offset 64 + i).
Bytes assemble_file(const Bytes& weights, const MetadataRecord& metadata);

// Opens `path` and expects tusk::Error with `code` and a message containing every `parts`.
void expect_open_error(const std::string& path, ErrorCode code,
                       const std::vector<std::string>& parts, bool verify_checksums = true);

// Reads every tensor byte and loads every expert the config can name, tolerating tusk::Error
// from load_expert: proves an opened file hands out only memory it owns.
void touch_everything(const ModelFile& file);

}  // namespace tusk::format::testing
