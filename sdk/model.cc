#include "sdk/model.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <sstream>

#include "common/error.h"
#include "sdk/weight_views.h"

namespace tusk::sdk {

namespace {

// The architecture's view of the dense tensors: norms, attention, FFNs and routers by name.
class LayerWeights {
 public:
  explicit LayerWeights(const format::ModelFile& file) : views_(file.tensors(), file.path()) {}

  const WeightViews& views() const { return views_; }
  LayerNormWeights norm(const std::string& prefix, int64_t d) const {
    return {views_.f32(prefix + ".weight", {d}), views_.f32(prefix + ".bias", {d})};
  }
  AttentionWeights attention(const std::string& prefix, int64_t d) const {
    return {views_.linear(prefix + ".q_proj", d, d), views_.linear(prefix + ".k_proj", d, d),
            views_.linear(prefix + ".v_proj", d, d), views_.linear(prefix + ".out_proj", d, d)};
  }
  // Dense layers fill `dense`; sparse ones fill `router` (fp32: routing runs in fp32).
  void ffn(const std::string& prefix, bool sparse, int64_t d, int64_t ffn_dim, int experts,
           FfnWeights* dense, RouterWeights* router) const {
    if (sparse) {
      *router = {views_.f32(prefix + ".router.classifier.weight", {experts, d}), experts};
    } else {
      *dense = {views_.linear(prefix + ".fc1", ffn_dim, d), views_.linear(prefix + ".fc2", d, ffn_dim)};
    }
  }

 private:
  WeightViews views_;
};

}  // namespace

std::shared_ptr<const Model> Model::open(const std::string& path, const format::ModelFile::OpenOptions& options) {
  const bool verify_checksums = options.verify_checksums;
  std::shared_ptr<Model> model(new Model());
  model->file_ = format::ModelFile::open(path, options);
  const auto& c = model->config();
  if (c.architecture != format::kArchNllbMoe && c.architecture != format::kArchM2M100)
    throw Error(ErrorCode::Unsupported, path + ": architecture '" + c.architecture +
                                            "' is not supported (this engine runs nllb-moe and m2m100)");
  if (c.activation != "relu")
    throw Error(ErrorCode::Unsupported, path + ": activation '" + c.activation + "' is not supported");
  // The position table is built eagerly; a hostile file must not make it huge.
  constexpr int32_t kMaxPositions = 1 << 16;
  if (c.max_position_embeddings < 4 || c.max_position_embeddings > kMaxPositions)
    throw Error(ErrorCode::InvalidModel, path + ": max_position_embeddings " +
                                             std::to_string(c.max_position_embeddings) +
                                             " is outside [4, " + std::to_string(kMaxPositions) + "]");
  if (c.d_model < 4 || c.d_model % 2 != 0)
    throw Error(ErrorCode::InvalidModel, path + ": d_model must be even and at least 4 for sinusoidal positions");
  if (c.encoder_sparse_step > 0 || c.decoder_sparse_step > 0) {
    if (c.experts_per_token != 2) throw Error(ErrorCode::Unsupported, path + ": only top-2 routing is supported");
  }
  // After the weights: the embedding's verified shape bounds vocab_size, which sizes the
  // tokenizer's tables.
  model->resolve_weights();
  model->tokenizer_ =
      std::make_unique<Tokenizer>(model->file_->tokenizer_model(), model->file_->vocabulary(), c.unk_id, c.eos_id);
  if (model->tokenizer_->size() > c.vocab_size)
    throw Error(ErrorCode::InvalidModel, path + ": the tokenizer defines more tokens than the model's vocabulary");
  model->build_position_table();
  model->build_embedding();
  model->check_experts(verify_checksums);
  return model;
}

// Every expert must be there, and with verify_checksums its frame must decode: the promise of
// TUSK_OPT_VERIFY_CHECKSUMS ("all weight checksums at open") now that experts load lazily.
// Each is decoded and dropped at once, so this costs time but never more than one expert.
void Model::check_experts(bool verify_checksums) {
  for (const ExpertKey& key : all_experts(config())) {
    if (!file_->has_expert(key.stack, key.layer, key.expert))
      throw Error(ErrorCode::InvalidModel, file_->path() + ": " + key.describe() + " is missing");
    const uint64_t bytes = file_->expert_raw_bytes(key.stack, key.layer, key.expert);
    expert_bytes_total_ += bytes;
    if (bytes > expert_bytes_largest_) expert_bytes_largest_ = bytes;
    if (verify_checksums) decode_expert(*file_, key);
  }
}

std::shared_ptr<const PreparedWeights> Model::weights_for(backends::Backend& backend) const {
  std::lock_guard<std::mutex> lock(prepared_mutex_);
  auto& prepared = prepared_[{backend.device(), backend.device_index()}];
  if (!prepared) prepared = prepare_weights(weights_, backend);
  return prepared;
}

ExpertSource& Model::resident_experts() const {
  // If decoding throws, call_once lets the next caller try again.
  std::call_once(resident_once_, [this] { resident_ = std::make_unique<ResidentExpertSource>(*file_); });
  return *resident_;
}

void Model::resolve_weights() {
  const auto& c = config();
  const LayerWeights w(*file_);
  const int64_t d = c.d_model;
  embeddings_ = w.views().matrix("model.shared.weight", c.vocab_size, d);
  weights_.lm_head = w.views().has("lm_head.weight") ? w.views().matrix("lm_head.weight", c.vocab_size, d)
                                                     : embeddings_;

  for (int i = 0; i < c.encoder_layers; ++i) {
    const std::string p = "model.encoder.layers." + std::to_string(i);
    EncoderLayer l;
    l.index = i;
    l.sparse = c.encoder_layer_is_sparse(i);
    l.self_attn_norm = w.norm(p + ".self_attn_layer_norm", d);
    l.self_attn = w.attention(p + ".self_attn", d);
    l.ffn_norm = w.norm(p + ".ff_layer_norm", d);
    w.ffn(p + ".ffn", l.sparse, d, c.encoder_ffn_dim, c.num_experts, &l.ffn, &l.router);
    weights_.encoder.push_back(l);
  }
  for (int i = 0; i < c.decoder_layers; ++i) {
    const std::string p = "model.decoder.layers." + std::to_string(i);
    DecoderLayer l;
    l.index = i;
    l.sparse = c.decoder_layer_is_sparse(i);
    l.self_attn_norm = w.norm(p + ".self_attn_layer_norm", d);
    l.self_attn = w.attention(p + ".self_attn", d);
    l.cross_attn_norm = w.norm(p + ".cross_attention_layer_norm", d);
    l.cross_attn = w.attention(p + ".cross_attention", d);
    l.ffn_norm = w.norm(p + ".ff_layer_norm", d);
    w.ffn(p + ".ffn", l.sparse, d, c.decoder_ffn_dim, c.num_experts, &l.ffn, &l.router);
    weights_.decoder.push_back(l);
  }
  weights_.encoder_final_norm = w.norm("model.encoder.layer_norm", d);
  weights_.decoder_final_norm = w.norm("model.decoder.layer_norm", d);
}

// Sinusoidal positions as fairseq/NLLB build them: sin in the first half of the columns, cos
// in the second, row pad_id zeroed; token i of a sequence uses row i + pad_id + 1.
void Model::build_position_table() {
  const auto& c = config();
  const int64_t d = c.d_model, half = d / 2;
  const int64_t rows = int64_t{c.max_position_embeddings} + c.pad_id + 1;
  positions_.assign(rows * d, 0.0f);
  const double step = std::log(10000.0) / static_cast<double>(half - 1);
  for (int64_t p = 0; p < rows; ++p) {
    if (p == c.pad_id) continue;
    for (int64_t j = 0; j < half; ++j) {
      // float32 frequencies and products, as the reference computes them.
      const float freq = std::exp(static_cast<float>(j) * -static_cast<float>(step));
      const float angle = static_cast<float>(p) * freq;
      positions_[p * d + j] = std::sin(angle);
      positions_[p * d + half + j] = std::cos(angle);
    }
  }
}

void Model::build_embedding() {
  const auto& c = config();
  backends::EmbeddingTable& e = weights_.embedding;
  e.f32 = embeddings_.f32;
  e.packed = embeddings_.packed;
  e.rows = embeddings_.out;
  e.cols = embeddings_.in;
  e.scale = c.scale_embedding ? std::sqrt(static_cast<float>(c.d_model)) : 1.0f;
  e.positions = positions_.data();
  e.position_rows = static_cast<int64_t>(positions_.size()) / c.d_model;
}

std::string Model::describe() const {
  const auto& c = config();
  std::ostringstream o;
  o << "file:          " << file_->path() << " (format v" << file_->format_version() << ", "
    << file_->file_size() << " bytes)\n";
  o << "architecture:  " << c.architecture << "\n";
  o << "  d_model " << c.d_model << ", vocab " << c.vocab_size << ", max positions "
    << c.max_position_embeddings << "\n";
  o << "  encoder: " << c.encoder_layers << " layers, " << c.encoder_heads << " heads, ffn "
    << c.encoder_ffn_dim << ", sparse every " << c.encoder_sparse_step << "\n";
  o << "  decoder: " << c.decoder_layers << " layers, " << c.decoder_heads << " heads, ffn "
    << c.decoder_ffn_dim << ", sparse every " << c.decoder_sparse_step << "\n";
  if (c.num_experts > 0 && (c.encoder_sparse_step > 0 || c.decoder_sparse_step > 0))
    o << "  experts: " << c.num_experts << " per sparse layer, top-" << c.experts_per_token
      << ", output scale folded " << c.expert_output_scale_folded << "\n";
  else
    o << "  experts: none (a dense feed-forward in every layer)\n";
  const format::Vocabulary& v = file_->vocabulary();
  o << "vocabulary:    " << (v.recorded() ? v.kind : std::string("sentencepiece (no table: piece ids are model ids)"))
    << ", " << tokenizer_->size() << " tokens";
  if (!v.added_tokens.empty()) o << " (" << v.added_tokens.size() << " added)";
  o << "\n";
  const uint64_t total = file_->parameter_count(), experts = file_->expert_parameter_count();
  o << "parameters:    " << total << " (" << experts << " in experts, " << (total - experts)
    << " dense)\n";
  // code=token(id): either form is accepted wherever a language is asked for.
  o << "languages:    ";
  for (const auto& l : file_->languages()) o << " " << l.code << "=" << l.token << "(" << l.token_id << ")";
  o << "\nsections:\n";
  for (const auto& s : file_->section_stats()) {
    o << "  " << s.kind << ": " << s.items << " items, " << s.stored_bytes << " bytes stored, "
      << s.raw_bytes << " raw";
    if (s.raw_bytes > 0)
      o << ", ratio " << static_cast<double>(s.stored_bytes) / static_cast<double>(s.raw_bytes);
    o << "\n";
  }
  describe_expert_usage(o);
  return o.str();
}

// Per calibrated pair: the sentences, then per sparse layer its experts by use, most used
// first, as expert:share of that layer's uses.
void Model::describe_expert_usage(std::ostream& o) const {
  const auto& usage = file_->expert_usage();
  if (usage.empty()) {
    o << "expert usage:  none (not calibrated: no warm start)\n";
    return;
  }
  o << "expert usage:  " << usage.size() << " language pairs (calibration; warm start loads a pair's most used)\n";
  const std::vector<format::ExpertId> ids = file_->expert_ids();
  for (const format::PairUsage& u : usage) {
    o << "  " << u.source << "-" << u.target << " (" << u.sentences << " sentences):\n";
    size_t i = 0;
    while (i < ids.size()) {
      size_t j = i;
      uint64_t layer_total = 0;
      std::vector<std::pair<uint32_t, int>> ranked;
      while (j < ids.size() && ids[j].stack == ids[i].stack && ids[j].layer == ids[i].layer) {
        layer_total += u.counts[j];
        ranked.push_back({u.counts[j], ids[j].expert});
        ++j;
      }
      std::stable_sort(ranked.begin(), ranked.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
      o << "    " << (ids[i].stack == format::Stack::Encoder ? "encoder" : "decoder") << " layer " << ids[i].layer << ":";
      for (const auto& [count, expert] : ranked) {
        if (count == 0) break;
        char share[16];
        std::snprintf(share, sizeof share, "%.0f%%", 100.0 * count / static_cast<double>(layer_total));
        o << " " << expert << ":" << share;
      }
      o << "\n";
      i = j;
    }
  }
}

}  // namespace tusk::sdk
