// The model graph's weights: a verified ModelFile resolved into typed per-layer views, plus
// the tokenizer and the sinusoidal position table. Immutable after construction (the
// all-resident expert source is built on first use, once, thread-safely); shared by every
// translator on every thread.
#pragma once

#include <iosfwd>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "model_format/model_file.h"
#include "sdk/expert_source.h"
#include "sdk/tokenizer.h"
#include "sdk/weights.h"

namespace tusk::sdk {

struct EncoderLayer {
  int index = 0;
  LayerNormWeights self_attn_norm, ffn_norm;
  AttentionWeights self_attn;
  bool sparse = false;
  FfnWeights ffn;        // dense layers
  RouterWeights router;  // sparse layers
};

struct DecoderLayer {
  int index = 0;
  LayerNormWeights self_attn_norm, cross_attn_norm, ffn_norm;
  AttentionWeights self_attn, cross_attn;
  bool sparse = false;
  FfnWeights ffn;
  RouterWeights router;
};

class Model {
 public:
  // Opens and verifies the file, resolves every weight, loads the tokenizer.
  static std::shared_ptr<const Model> open(const std::string& path, bool verify_checksums);

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

  const MatrixWeights& embeddings() const { return embeddings_; }  // [vocab, d_model]
  const MatrixWeights& lm_head() const { return lm_head_; }        // [vocab, d_model]
  // Row p of the sinusoidal table: position p as the reference numbers it (pad_id + 1 first).
  const float* position(int64_t p) const { return positions_.data() + p * config().d_model; }
  // Longest token sequence (source ids, or decoder prefix) the position table covers.
  int64_t max_sequence_length() const { return config().max_position_embeddings; }
  float embedding_scale() const { return embedding_scale_; }

  const std::vector<EncoderLayer>& encoder_layers() const { return encoder_layers_; }
  const std::vector<DecoderLayer>& decoder_layers() const { return decoder_layers_; }
  const LayerNormWeights& encoder_final_norm() const { return encoder_final_norm_; }
  const LayerNormWeights& decoder_final_norm() const { return decoder_final_norm_; }

  // Human-readable summary for `tusk inspect`.
  std::string describe() const;
  void describe_expert_usage(std::ostream& out) const;

 private:
  Model() = default;
  void resolve_weights();
  void build_position_table();
  void check_experts(bool verify_checksums);

  std::shared_ptr<const format::ModelFile> file_;
  std::unique_ptr<Tokenizer> tokenizer_;
  mutable std::once_flag resident_once_;
  mutable std::unique_ptr<ExpertSource> resident_;
  uint64_t expert_bytes_total_ = 0, expert_bytes_largest_ = 0;
  MatrixWeights embeddings_;
  MatrixWeights lm_head_;
  float embedding_scale_ = 1.0f;
  std::vector<float> positions_;
  std::vector<EncoderLayer> encoder_layers_;
  std::vector<DecoderLayer> decoder_layers_;
  LayerNormWeights encoder_final_norm_, decoder_final_norm_;
};

}  // namespace tusk::sdk
