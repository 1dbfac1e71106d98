#include "model_format/metadata_builder.h"

#include <flatbuffers/flatbuffers.h>

#include "common/error.h"
#include "model_format/file_layout.h"
#include "model_format/tusk_model_generated.h"

namespace tusk::format {
namespace {

flatbuffers::Offset<fb::Config> build_config(flatbuffers::FlatBufferBuilder& b, const ModelConfig& c) {
  const auto architecture = b.CreateString(c.architecture);
  const auto activation = b.CreateString(c.activation);
  fb::ConfigBuilder config(b);
  config.add_architecture(architecture);
  config.add_vocab_size(c.vocab_size);
  config.add_d_model(c.d_model);
  config.add_encoder_layers(c.encoder_layers);
  config.add_decoder_layers(c.decoder_layers);
  config.add_encoder_heads(c.encoder_heads);
  config.add_decoder_heads(c.decoder_heads);
  config.add_encoder_ffn_dim(c.encoder_ffn_dim);
  config.add_decoder_ffn_dim(c.decoder_ffn_dim);
  config.add_num_experts(c.num_experts);
  config.add_experts_per_token(c.experts_per_token);
  config.add_encoder_sparse_step(c.encoder_sparse_step);
  config.add_decoder_sparse_step(c.decoder_sparse_step);
  config.add_max_position_embeddings(c.max_position_embeddings);
  config.add_pad_id(c.pad_id);
  config.add_bos_id(c.bos_id);
  config.add_eos_id(c.eos_id);
  config.add_unk_id(c.unk_id);
  config.add_decoder_start_id(c.decoder_start_id);
  config.add_scale_embedding(c.scale_embedding);
  config.add_layer_norm_eps(c.layer_norm_eps);
  config.add_activation(activation);
  config.add_expert_output_scale_folded(c.expert_output_scale_folded);
  return config.Finish();
}

fb::DType to_fb(DType t) { return static_cast<fb::DType>(t); }

// Recorded explicitly for every packed weight (ByDType is for files from before the field).
fb::WeightLayout to_fb(const std::optional<weight_layout::Layout>& l) {
  if (!l) return fb::WeightLayout::ByDType;
  switch (*l) {
    case weight_layout::Layout::Int8: return fb::WeightLayout::Int8;
    case weight_layout::Layout::Int4: return fb::WeightLayout::Int4;
    case weight_layout::Layout::F16: return fb::WeightLayout::F16;
  }
  return fb::WeightLayout::ByDType;
}

// Null when there is nothing to record, so the field stays absent.
const fb::QuantStats* to_fb(const std::optional<QuantStats>& stats, fb::QuantStats* storage) {
  if (!stats) return nullptr;
  *storage = fb::QuantStats(stats->max_abs_error, stats->relative_rms);
  return storage;
}

flatbuffers::Offset<fb::Vocabulary> build_vocabulary(flatbuffers::FlatBufferBuilder& b, const Vocabulary& v) {
  if (!v.recorded()) return {};
  std::vector<flatbuffers::Offset<fb::AddedToken>> added;
  for (const AddedToken& t : v.added_tokens)
    added.push_back(fb::CreateAddedTokenDirect(b, t.content.c_str(), t.id, t.special));
  return fb::CreateVocabularyDirect(b, v.kind.c_str(), &v.piece_ids, &added,
                                    static_cast<fb::Detokenizer>(v.detokenizer),
                                    v.clean_up_tokenization_spaces);
}

}  // namespace

std::vector<unsigned char> build_metadata(const MetadataRecord& m) {
  flatbuffers::FlatBufferBuilder b(64 * 1024 + m.tokenizer.size());
  // Store every field, even those equal to the schema default, so the file says what it means
  // without relying on defaults a future schema might read differently.
  b.ForceDefaults(true);

  const auto config = build_config(b, m.config);

  std::vector<flatbuffers::Offset<fb::Language>> languages;
  for (const Language& l : m.languages) {
    languages.push_back(fb::CreateLanguageDirect(b, l.code.c_str(), l.token.c_str(), l.token_id));
  }
  const auto languages_vec = b.CreateVector(languages);

  const auto tokenizer = b.CreateVector(reinterpret_cast<const uint8_t*>(m.tokenizer.data()),
                                        m.tokenizer.size());

  std::vector<flatbuffers::Offset<fb::Tensor>> tensors;
  for (const DenseTensorRecord& t : m.tensors) {
    fb::QuantStats stats;
    tensors.push_back(fb::CreateTensorDirect(b, t.name.c_str(), to_fb(t.dtype), &t.shape, t.offset,
                                             t.size, t.checksum, to_fb(t.stats, &stats), to_fb(t.layout)));
  }
  const auto tensors_vec = b.CreateVector(tensors);

  std::vector<flatbuffers::Offset<fb::Expert>> experts;
  for (const ExpertRecord& e : m.experts) {
    std::vector<flatbuffers::Offset<fb::ExpertTensor>> inner;
    for (const ExpertTensorRecord& t : e.tensors) {
      fb::QuantStats stats;
      inner.push_back(fb::CreateExpertTensorDirect(b, t.name.c_str(), to_fb(t.dtype), &t.shape,
                                                   t.offset, t.size, to_fb(t.stats, &stats), to_fb(t.layout)));
    }
    experts.push_back(fb::CreateExpertDirect(
        b, static_cast<fb::Stack>(e.stack), e.layer, e.expert, e.offset, e.stored_size, e.raw_size,
        static_cast<fb::Compression>(e.compression), e.checksum, &inner));
  }
  const auto experts_vec = b.CreateVector(experts);

  // Absent rather than empty when nothing was recorded, as in files from before quantization.
  const auto quantization =
      m.quantization.empty() ? flatbuffers::Offset<flatbuffers::String>() : b.CreateString(m.quantization);

  flatbuffers::Offset<flatbuffers::Vector<flatbuffers::Offset<fb::ExpertUsage>>> usage_vec;
  if (!m.expert_usage.empty()) {
    std::vector<flatbuffers::Offset<fb::ExpertUsage>> usage;
    for (const PairUsageRecord& u : m.expert_usage)
      usage.push_back(fb::CreateExpertUsageDirect(b, u.source.c_str(), u.target.c_str(), u.sentences, &u.counts));
    usage_vec = b.CreateVector(usage);
  }

  const auto vocabulary = build_vocabulary(b, m.vocabulary);
  b.Finish(fb::CreateModel(b, config, languages_vec, tokenizer, tensors_vec, experts_vec, quantization,
                           usage_vec, vocabulary),
           fb::ModelIdentifier());
  return std::vector<unsigned char>(b.GetBufferPointer(), b.GetBufferPointer() + b.GetSize());
}

uint32_t header_flags(const MetadataRecord& m) {
  return m.vocabulary.recorded() && m.vocabulary.kind != "sentencepiece" ? layout::kFlagVocabularyIds : 0u;
}

}  // namespace tusk::format
