// The model graph's weights: a verified ModelFile resolved into typed per-layer views, plus
// the tokenizer and the sinusoidal position table. Immutable after construction (the
// all-resident expert source is built on first use, once, thread-safely); shared by every
// translator on every thread.
#pragma once

#include <iosfwd>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "model_format/model_file.h"
#include "sdk/expert_source.h"
#include "sdk/tokenizer.h"
#include "sdk/prepared_weights.h"
#include "sdk/weights.h"

namespace tusk::sdk {

class Model {
 public:
  // Opens and verifies the file (options: checksums, Copy or Map residency: model_file.h),
  // resolves every weight, loads the tokenizer.
  static std::shared_ptr<const Model> open(const std::string& path, const format::ModelFile::OpenOptions& options);

  const format::ModelFile& file() const { return *file_; }
  std::shared_ptr<const format::ModelFile> shared_file() const { return file_; }
  const format::ModelConfig& config() const { return file_->config(); }
  const Tokenizer& tokenizer() const { return *tokenizer_; }
  // Every expert decoded and kept, shared by the translators without a budget. Decoded on the
  // first call (not at open), so a model whose translators all page never holds them all.
  ExpertSource& resident_experts() const;
  // Decoded bytes of all experts, and of the largest one (the smallest workable budget).
  uint64_t expert_bytes_total() const { return expert_bytes_total_; }
  uint64_t expert_bytes_largest() const { return expert_bytes_largest_; }

  // The dense weights as the file holds them (host memory: the model's copy or mapping of the
  // file, and the position table).
  const GraphWeights& host_weights() const { return weights_; }
  // The dense weights prepared for `backend`'s device: made on the first call per device, then
  // shared by every translator on it.
  std::shared_ptr<const PreparedWeights> weights_for(backends::Backend& backend) const;
  // The position-table row of token i of a sequence, as the reference numbers positions
  // (pad_id + 1 first).
  int32_t position_row(int64_t i) const { return static_cast<int32_t>(i + config().pad_id + 1); }
  // Longest token sequence (source ids, or decoder prefix) the position table covers.
  int64_t max_sequence_length() const { return config().max_position_embeddings; }


  // Human-readable summary for `tusk inspect`.
  std::string describe() const;
  void describe_expert_usage(std::ostream& out) const;

 private:
  Model() = default;
  void resolve_weights();
  void build_position_table();
  void build_embedding();  // after resolve_weights and build_position_table
  void check_experts(bool verify_checksums);

  std::shared_ptr<const format::ModelFile> file_;
  std::unique_ptr<Tokenizer> tokenizer_;
  mutable std::once_flag resident_once_;
  mutable std::unique_ptr<ExpertSource> resident_;
  uint64_t expert_bytes_total_ = 0, expert_bytes_largest_ = 0;
  MatrixWeights embeddings_;
  std::vector<float> positions_;
  GraphWeights weights_;
  mutable std::mutex prepared_mutex_;
  // Per device: its kind and index (two GPUs hold two copies).
  mutable std::map<std::pair<backends::Device, int>, std::shared_ptr<const PreparedWeights>> prepared_;
};

}  // namespace tusk::sdk
