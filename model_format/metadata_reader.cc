#include "model_format/metadata_reader.h"

#include <flatbuffers/flatbuffers.h>

#include <algorithm>
#include <cmath>
#include <optional>
#include <tuple>

#include "common/error.h"
#include "model_format/file_layout.h"
#include "model_format/quantized_tensors.h"
#include "model_format/shape_math.h"
#include "model_format/tusk_model_generated.h"

namespace tusk::format {
namespace {

// Model > Expert > ExpertTensor > shape is 4 deep; 16 leaves room for appended fields. The
// table cap bounds the verifier's work on a file whose offsets all point at one table (a real
// model has a few thousand tables).
constexpr flatbuffers::uoffset_t kVerifierMaxDepth = 16;
constexpr flatbuffers::uoffset_t kVerifierMaxTables = 1000000;
// A decoded expert bigger than this is taken as damage, not as something to allocate.
constexpr uint64_t kMaxExpertRawBytes = 4ULL << 30;

using std::to_string;

std::string printable(std::string_view text) {
  constexpr size_t kMaxShown = 80;
  std::string out;
  for (size_t i = 0; i < text.size() && i < kMaxShown; ++i) {
    const unsigned char c = static_cast<unsigned char>(text[i]);
    if (c >= 0x20 && c < 0x7f && c != '\\') {
      out += static_cast<char>(c);
    } else {
      static const char kHex[] = "0123456789abcdef";
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  if (text.size() > kMaxShown) out += "...";
  return out;
}

std::string shape_text(const flatbuffers::Vector<int64_t>& shape) {
  std::string out = "[";
  for (flatbuffers::uoffset_t i = 0; i < shape.size(); ++i) {
    if (i == kMaxTensorRank) {
      out += ", ... (" + to_string(shape.size()) + " dims)";
      break;
    }
    if (i > 0) out += ", ";
    out += to_string(shape.Get(i));
  }
  return out + "]";
}

std::string stack_name(Stack stack) { return stack == Stack::Encoder ? "encoder" : "decoder"; }

std::string expert_label(Stack stack, int32_t layer, int32_t expert) {
  return "expert frame (" + stack_name(stack) + " layer " + to_string(layer) + ", expert " +
         to_string(expert) + ")";
}

// Sorts `items` and returns one that occurs more than once, or nullptr.
const std::string_view* first_duplicate(std::vector<std::string_view>& items) {
  std::sort(items.begin(), items.end());
  const auto twice = std::adjacent_find(items.begin(), items.end());
  return twice == items.end() ? nullptr : &*twice;
}

std::string_view view_of(const flatbuffers::String* s) {
  return s ? std::string_view(s->c_str(), s->size()) : std::string_view();
}

std::optional<QuantStats> stats_of(const fb::QuantStats* s) {
  if (!s) return std::nullopt;
  return QuantStats{s->max_abs_error(), s->relative_rms()};
}

// Every I4/I8 tensor of `tensors` has valid scales and every scales tensor a quantized owner;
// returns "" or the problem.
template <typename Records>
std::string quantization_problem(const Records& tensors) {
  std::vector<TensorShapeRef> refs;
  refs.reserve(tensors.size());
  for (const auto& t : tensors) refs.push_back({t.name, t.dtype, &t.shape});
  return check_quantized_tensors(refs);
}

class Checker {
 public:
  Checker(const FileExtent& extent, const std::string& file) : extent_(extent), file_(file) {}

  [[noreturn]] void fail(const std::string& message) const {
    throw Error(ErrorCode::InvalidModel, file_ + ": " + message);
  }

  ModelConfig check_config(const fb::Config& c) const;
  std::vector<Language> check_languages(const fb::Model& model, const ModelConfig& config) const;
  std::vector<DenseTensorRecord> check_dense_tensors(const fb::Model& model) const;
  std::vector<ExpertRecord> check_experts(const fb::Model& model, const ModelConfig& config) const;
  std::vector<PairUsageRecord> check_expert_usage(const fb::Model& model, const std::vector<Language>& languages,
                                                  size_t experts) const;
  Vocabulary check_vocabulary(const fb::Model& model, const ModelConfig& config) const;

 private:
  // A byte range of weights: aligned, inside the file, clear of the header and the metadata.
  void check_span(const std::string& what, uint64_t offset, uint64_t size, uint64_t alignment) const;

  // dtype known, shape valid, size == dtype_bytes(dtype, elements); fills dtype and shape.
  template <typename FbTensor>
  void check_tensor_shape(const std::string& what, const FbTensor& t, DType* dtype,
                          std::vector<int64_t>* shape) const;
  // The tensor's byte layout: the recorded one, which must be a layout of its dtype, or (as in
  // files before the field) the one its dtype has; none for plain dtypes.
  template <typename FbTensor>
  std::optional<weight_layout::Layout> check_layout(const std::string& what, const FbTensor& t, DType dtype) const;

  const FileExtent& extent_;
  const std::string& file_;
};

template <typename FbTensor>
std::optional<weight_layout::Layout> Checker::check_layout(const std::string& what, const FbTensor& t,
                                                           DType dtype) const {
  weight_layout::Layout by_dtype;
  const bool packed = packed_layout(dtype, &by_dtype);
  const auto recorded = static_cast<uint8_t>(t.layout());
  if (recorded == static_cast<uint8_t>(fb::WeightLayout::ByDType))
    return packed ? std::optional<weight_layout::Layout>(by_dtype) : std::nullopt;
  if (recorded > static_cast<uint8_t>(fb::WeightLayout::F16)) fail(what + " has unknown layout " + to_string(recorded));
  const auto l = static_cast<weight_layout::Layout>(recorded - 1);
  if (!packed || dtype_of(l) != dtype)
    fail(what + " has layout " + weight_layout::layout_name(l) + ", which does not store dtype " + dtype_name(dtype));
  return l;
}

void Checker::check_span(const std::string& what, uint64_t offset, uint64_t size,
                         uint64_t alignment) const {
  if (offset % alignment != 0) {
    fail(what + " starts at byte " + to_string(offset) + ", which is not " + to_string(alignment) +
         "-byte aligned");
  }
  uint64_t end;
  if (__builtin_add_overflow(offset, size, &end)) {
    fail(what + " has offset " + to_string(offset) + " and size " + to_string(size) +
         ", which overflow");
  }
  if (end > extent_.file_size) {
    fail(what + " ends at byte " + to_string(end) + " past end of file (" +
         to_string(extent_.file_size) + " bytes)");
  }
  if (offset < layout::kHeaderSize) {
    fail(what + " starts at byte " + to_string(offset) + ", inside the " +
         to_string(layout::kHeaderSize) + "-byte header");
  }
  const uint64_t metadata_end = extent_.metadata_offset + extent_.metadata_size;
  if (offset < metadata_end && extent_.metadata_offset < end) {
    fail(what + " (bytes " + to_string(offset) + " to " + to_string(end) +
         ") overlaps the metadata (bytes " + to_string(extent_.metadata_offset) + " to " +
         to_string(metadata_end) + ")");
  }
}

template <typename FbTensor>
void Checker::check_tensor_shape(const std::string& what, const FbTensor& t, DType* dtype,
                                 std::vector<int64_t>* shape) const {
  *dtype = static_cast<DType>(t.dtype());
  if (!is_known_dtype(*dtype)) {
    fail(what + " has unknown dtype " + to_string(static_cast<int>(t.dtype())));
  }
  const flatbuffers::Vector<int64_t>& dims = *t.shape();  // required: the verifier checked it
  // FlatBuffers 2.0.8's verifier checks a vector's length field for alignment but not its
  // 8-byte elements; reading them misaligned is undefined behaviour, so check here.
  if (reinterpret_cast<uintptr_t>(dims.Data()) % alignof(int64_t) != 0) {
    fail("metadata is malformed: the shape of " + what + " is misaligned");
  }
  uint64_t elements = 0, bytes = 0;
  if (!checked_element_count(dims, &elements)) {
    fail(what + " has invalid shape " + shape_text(dims) + " (dimensions must be positive, at most " +
         to_string(kMaxTensorRank) + " of them, with a product that fits 64 bits)");
  }
  if (!checked_dtype_bytes(*dtype, elements, &bytes)) {
    fail(what + " with shape " + shape_text(dims) + " is too large to address");
  }
  if (t.size() != bytes) {
    fail(what + " is " + to_string(t.size()) + " bytes, but " + dtype_name(*dtype) + " " +
         shape_text(dims) + " needs " + to_string(bytes));
  }
  shape->assign(dims.begin(), dims.end());
}

ModelConfig Checker::check_config(const fb::Config& c) const {
  ModelConfig m;
  m.architecture = std::string(view_of(c.architecture()));
  m.vocab_size = c.vocab_size();
  m.d_model = c.d_model();
  m.encoder_layers = c.encoder_layers();
  m.decoder_layers = c.decoder_layers();
  m.encoder_heads = c.encoder_heads();
  m.decoder_heads = c.decoder_heads();
  m.encoder_ffn_dim = c.encoder_ffn_dim();
  m.decoder_ffn_dim = c.decoder_ffn_dim();
  m.num_experts = c.num_experts();
  m.experts_per_token = c.experts_per_token();
  m.encoder_sparse_step = c.encoder_sparse_step();
  m.decoder_sparse_step = c.decoder_sparse_step();
  m.max_position_embeddings = c.max_position_embeddings();
  m.pad_id = c.pad_id();
  m.bos_id = c.bos_id();
  m.eos_id = c.eos_id();
  m.unk_id = c.unk_id();
  m.decoder_start_id = c.decoder_start_id();
  m.scale_embedding = c.scale_embedding();
  m.layer_norm_eps = c.layer_norm_eps();
  m.activation = std::string(view_of(c.activation()));
  m.expert_output_scale_folded = c.expert_output_scale_folded();

  auto require = [&](bool ok, const std::string& what, int32_t value) {
    if (!ok) fail("config " + what + " (is " + to_string(value) + ")");
  };
  require(m.vocab_size > 0, "vocab_size must be positive", m.vocab_size);
  require(m.d_model > 0, "d_model must be positive", m.d_model);
  require(m.encoder_layers > 0, "encoder_layers must be positive", m.encoder_layers);
  require(m.decoder_layers > 0, "decoder_layers must be positive", m.decoder_layers);
  require(m.encoder_heads > 0, "encoder_heads must be positive", m.encoder_heads);
  require(m.decoder_heads > 0, "decoder_heads must be positive", m.decoder_heads);
  require(m.d_model % m.encoder_heads == 0,
          "encoder_heads must divide d_model " + to_string(m.d_model), m.encoder_heads);
  require(m.d_model % m.decoder_heads == 0,
          "decoder_heads must divide d_model " + to_string(m.d_model), m.decoder_heads);
  require(m.encoder_ffn_dim > 0, "encoder_ffn_dim must be positive", m.encoder_ffn_dim);
  require(m.decoder_ffn_dim > 0, "decoder_ffn_dim must be positive", m.decoder_ffn_dim);
  require(m.num_experts >= 0, "num_experts must not be negative", m.num_experts);
  require(m.encoder_sparse_step >= 0, "encoder_sparse_step must not be negative",
          m.encoder_sparse_step);
  require(m.decoder_sparse_step >= 0, "decoder_sparse_step must not be negative",
          m.decoder_sparse_step);
  if (m.num_experts > 0) {
    require(m.experts_per_token >= 1 && m.experts_per_token <= m.num_experts,
            "experts_per_token must be between 1 and num_experts " + to_string(m.num_experts),
            m.experts_per_token);
  } else if (m.encoder_sparse_step > 0 || m.decoder_sparse_step > 0) {
    fail("config has sparse layers (a sparse step above 0) but num_experts is 0");
  }
  require(m.max_position_embeddings > 0, "max_position_embeddings must be positive",
          m.max_position_embeddings);
  const std::pair<const char*, int32_t> ids[] = {{"pad_id", m.pad_id},
                                                 {"bos_id", m.bos_id},
                                                 {"eos_id", m.eos_id},
                                                 {"unk_id", m.unk_id},
                                                 {"decoder_start_id", m.decoder_start_id}};
  for (const auto& [name, id] : ids) {
    require(id >= 0 && id < m.vocab_size,
            std::string(name) + " must be below vocab_size " + to_string(m.vocab_size), id);
  }
  if (!(std::isfinite(m.layer_norm_eps) && m.layer_norm_eps > 0)) {
    fail("config layer_norm_eps must be a positive number (is " + to_string(m.layer_norm_eps) + ")");
  }
  if (!std::isfinite(m.expert_output_scale_folded)) {
    fail("config expert_output_scale_folded is not a finite number");
  }
  return m;
}

std::vector<Language> Checker::check_languages(const fb::Model& model,
                                               const ModelConfig& config) const {
  std::vector<Language> languages;
  if (!model.languages()) return languages;
  for (const fb::Language* l : *model.languages()) {
    Language language{std::string(view_of(l->code())), std::string(view_of(l->token())),
                      l->token_id()};
    const std::string what = "language '" + printable(language.code) + "'";
    if (language.code.empty()) fail("a language has an empty code");
    if (language.token_id < 0 || language.token_id >= config.vocab_size) {
      fail(what + " has token id " + to_string(language.token_id) + ", outside the vocabulary (" +
           to_string(config.vocab_size) + " tokens)");
    }
    languages.push_back(std::move(language));
  }
  // Keep the file's order for callers; find duplicates on a sorted copy (a hostile file may
  // hold very many entries, so no pairwise comparison).
  std::vector<std::string_view> codes;
  for (const Language& l : languages) codes.push_back(l.code);
  if (const std::string_view* twice = first_duplicate(codes)) {
    fail("language '" + printable(*twice) + "' appears twice");
  }
  return languages;
}

// Ids inside the vocabulary, one entry per added id, a known detokenizer. Whether piece_ids
// has one entry per SentencePiece piece is the tokenizer's check (it parses the pieces).
Vocabulary Checker::check_vocabulary(const fb::Model& model, const ModelConfig& config) const {
  Vocabulary v;
  const fb::Vocabulary* fv = model.vocabulary();
  if (!fv) return v;
  v.kind = std::string(view_of(fv->kind()));
  if (v.kind != "sentencepiece" && v.kind != "nllb") fail("vocabulary kind '" + printable(v.kind) + "' is unknown");
  const auto detokenizer = static_cast<uint8_t>(fv->detokenizer());
  if (detokenizer > static_cast<uint8_t>(Detokenizer::JoinPieces))
    fail("vocabulary detokenizer " + to_string(detokenizer) + " is unknown");
  v.detokenizer = static_cast<Detokenizer>(detokenizer);
  v.clean_up_tokenization_spaces = fv->clean_up_tokenization_spaces();
  v.piece_ids.assign(fv->piece_ids()->begin(), fv->piece_ids()->end());
  for (size_t i = 0; i < v.piece_ids.size(); ++i) {
    const int32_t id = v.piece_ids[i];
    if (id < -1 || id >= config.vocab_size)
      fail("vocabulary maps piece " + to_string(i) + " to id " + to_string(id) + ", outside the vocabulary (" +
           to_string(config.vocab_size) + " tokens)");
  }
  std::vector<int32_t> ids;
  if (fv->added_tokens()) {
    for (const fb::AddedToken* t : *fv->added_tokens()) {
      AddedToken a{std::string(view_of(t->content())), t->id(), t->special()};
      if (a.content.empty()) fail("vocabulary has an added token with empty text");
      if (a.id < 0 || a.id >= config.vocab_size)
        fail("added token '" + printable(a.content) + "' has id " + to_string(a.id) + ", outside the vocabulary (" +
             to_string(config.vocab_size) + " tokens)");
      ids.push_back(a.id);
      v.added_tokens.push_back(std::move(a));
    }
  }
  std::sort(ids.begin(), ids.end());
  const auto twice = std::adjacent_find(ids.begin(), ids.end());
  if (twice != ids.end()) fail("vocabulary has two added tokens with id " + to_string(*twice));
  return v;
}

std::vector<PairUsageRecord> Checker::check_expert_usage(const fb::Model& model,
                                                        const std::vector<Language>& languages,
                                                        size_t experts) const {
  std::vector<PairUsageRecord> usage;
  if (!model.expert_usage()) return usage;
  const auto known = [&](const std::string& code) {
    for (const Language& l : languages)
      if (l.code == code) return true;
    return false;
  };
  std::vector<std::string> pairs;
  for (const fb::ExpertUsage* u : *model.expert_usage()) {
    PairUsageRecord r;
    r.source = std::string(view_of(u->source()));
    r.target = std::string(view_of(u->target()));
    r.sentences = u->sentences();
    const std::string what = "expert usage of '" + printable(r.source) + "-" + printable(r.target) + "'";
    if (!known(r.source) || !known(r.target)) fail(what + " names a language the model does not have");
    if (u->counts()->size() != experts) {
      fail(what + " has " + to_string(u->counts()->size()) + " counts for " + to_string(experts) +
           " experts");
    }
    r.counts.assign(u->counts()->begin(), u->counts()->end());
    pairs.push_back(r.source + "\n" + r.target);
    usage.push_back(std::move(r));
  }
  std::vector<std::string_view> views(pairs.begin(), pairs.end());
  if (first_duplicate(views)) fail("expert usage names a language pair twice");
  return usage;
}

std::vector<DenseTensorRecord> Checker::check_dense_tensors(const fb::Model& model) const {
  std::vector<DenseTensorRecord> tensors;
  if (!model.tensors()) return tensors;
  tensors.reserve(model.tensors()->size());
  for (const fb::Tensor* t : *model.tensors()) {
    DenseTensorRecord r;
    r.name = std::string(view_of(t->name()));
    if (r.name.empty()) fail("tensor #" + to_string(tensors.size()) + " has an empty name");
    const std::string what = "tensor '" + printable(r.name) + "'";
    check_tensor_shape(what, *t, &r.dtype, &r.shape);
    r.layout = check_layout(what, *t, r.dtype);
    r.offset = t->offset();
    r.size = t->size();
    r.checksum = t->checksum();
    r.stats = stats_of(t->quant_stats());
    check_span(what, r.offset, r.size, layout::kDenseAlignment);
    tensors.push_back(std::move(r));
  }
  std::sort(tensors.begin(), tensors.end(),
            [](const auto& a, const auto& b) { return a.name < b.name; });
  for (size_t i = 1; i < tensors.size(); ++i) {
    if (tensors[i].name == tensors[i - 1].name) {
      fail("tensor '" + printable(tensors[i].name) + "' appears twice");
    }
  }
  const std::string problem = quantization_problem(tensors);
  if (!problem.empty()) fail(problem);
  return tensors;
}

std::vector<ExpertRecord> Checker::check_experts(const fb::Model& model,
                                                 const ModelConfig& config) const {
  std::vector<ExpertRecord> experts;
  if (!model.experts()) return experts;
  experts.reserve(model.experts()->size());
  for (const fb::Expert* e : *model.experts()) {
    ExpertRecord r;
    r.stack = static_cast<Stack>(e->stack());
    r.layer = e->layer();
    r.expert = e->expert();
    if (r.stack != Stack::Encoder && r.stack != Stack::Decoder) {
      fail("expert frame #" + to_string(experts.size()) + " has unknown stack " +
           to_string(static_cast<int>(e->stack())));
    }
    const std::string what = expert_label(r.stack, r.layer, r.expert);
    const int32_t layers = r.stack == Stack::Encoder ? config.encoder_layers : config.decoder_layers;
    if (r.layer < 0 || r.layer >= layers) {
      fail(what + " names a layer outside the " + stack_name(r.stack) + " (" + to_string(layers) +
           " layers)");
    }
    if (r.expert < 0 || r.expert >= config.num_experts) {
      fail(what + " names an expert outside the model (" + to_string(config.num_experts) +
           " experts)");
    }
    r.offset = e->offset();
    r.stored_size = e->stored_size();
    r.raw_size = e->raw_size();
    r.compression = static_cast<Compression>(e->compression());
    r.checksum = e->checksum();
    if (r.compression != Compression::None && r.compression != Compression::Zstd) {
      fail(what + " has unknown compression " + to_string(static_cast<int>(e->compression())));
    }
    check_span(what, r.offset, r.stored_size, layout::kExpertAlignment);
    if (r.raw_size == 0 || r.raw_size > kMaxExpertRawBytes) {
      fail(what + " claims " + to_string(r.raw_size) + " decoded bytes (must be 1 to " +
           to_string(kMaxExpertRawBytes) + ")");
    }
    if (r.compression == Compression::None && r.stored_size != r.raw_size) {
      fail(what + " is stored raw but its stored size " + to_string(r.stored_size) +
           " differs from its raw size " + to_string(r.raw_size));
    }
    if (e->tensors()->size() == 0) fail(what + " holds no tensors");

    for (const fb::ExpertTensor* t : *e->tensors()) {
      ExpertTensorRecord inner;
      inner.name = std::string(view_of(t->name()));
      if (inner.name.empty()) fail(what + " has a tensor with an empty name");
      const std::string inner_what = what + " tensor '" + printable(inner.name) + "'";
      check_tensor_shape(inner_what, *t, &inner.dtype, &inner.shape);
      inner.layout = check_layout(inner_what, *t, inner.dtype);
      inner.offset = t->offset();
      inner.size = t->size();
      inner.stats = stats_of(t->quant_stats());
      if (inner.offset % layout::kExpertTensorAlignment != 0) {
        fail(inner_what + " starts at byte " + to_string(inner.offset) + " of the frame, not " +
             to_string(layout::kExpertTensorAlignment) + "-byte aligned");
      }
      uint64_t end;
      if (__builtin_add_overflow(inner.offset, inner.size, &end) || end > r.raw_size) {
        fail(inner_what + " ends past the decoded frame (" + to_string(r.raw_size) + " bytes)");
      }
      r.tensors.push_back(std::move(inner));
    }
    std::vector<std::string_view> names;
    for (const ExpertTensorRecord& t : r.tensors) names.push_back(t.name);
    if (const std::string_view* twice = first_duplicate(names)) {
      fail(what + " tensor '" + printable(*twice) + "' appears twice");
    }
    const std::string problem = quantization_problem(r.tensors);
    if (!problem.empty()) fail(what + ": " + problem);
    experts.push_back(std::move(r));
  }
  auto key = [](const ExpertRecord& r) { return std::make_tuple(r.stack, r.layer, r.expert); };
  std::sort(experts.begin(), experts.end(),
            [&](const auto& a, const auto& b) { return key(a) < key(b); });
  for (size_t i = 1; i < experts.size(); ++i) {
    if (key(experts[i]) == key(experts[i - 1])) {
      fail(expert_label(experts[i].stack, experts[i].layer, experts[i].expert) + " appears twice");
    }
  }
  return experts;
}

}  // namespace

std::string printable_name(std::string_view name) { return printable(name); }

CheckedMetadata read_metadata(const unsigned char* metadata, const FileExtent& extent,
                              const std::string& file_label) {
  const Checker checker(extent, file_label);
  const uint64_t size = extent.metadata_size;
  if (size >= FLATBUFFERS_MAX_BUFFER_SIZE) {
    checker.fail("metadata is " + to_string(size) + " bytes, more than a FlatBuffer can address");
  }
  if (size < 8 || !fb::ModelBufferHasIdentifier(metadata)) {
    checker.fail("metadata is not a Tusk FlatBuffer (no \"TUSK\" identifier)");
  }
  flatbuffers::Verifier::Options options;
  options.max_depth = kVerifierMaxDepth;
  options.max_tables = kVerifierMaxTables;
  options.check_alignment = true;
  options.check_nested_flatbuffers = true;
  flatbuffers::Verifier verifier(metadata, static_cast<size_t>(size), options);
  if (!fb::VerifyModelBuffer(verifier)) {
    checker.fail("metadata fails FlatBuffers verification (damaged, or not written by Tusk)");
  }

  const fb::Model& model = *fb::GetModel(metadata);
  CheckedMetadata out;
  out.records.config = checker.check_config(*model.config());
  out.records.languages = checker.check_languages(model, out.records.config);
  out.records.tensors = checker.check_dense_tensors(model);
  out.records.experts = checker.check_experts(model, out.records.config);
  out.records.quantization = std::string(view_of(model.quantization()));
  out.records.expert_usage =
      checker.check_expert_usage(model, out.records.languages, out.records.experts.size());
  out.records.vocabulary = checker.check_vocabulary(model, out.records.config);
  if (model.tokenizer()) {
    out.tokenizer = std::string_view(reinterpret_cast<const char*>(model.tokenizer()->data()),
                                     model.tokenizer()->size());
  }
  return out;
}

}  // namespace tusk::format
