// Hugging Face NLLB-MoE or M2M100 folder -> .tusk. Plans and validates everything first
// (options, config, tokenizer, every tensor's presence, dtype and shape, and that the chosen
// storage suits every weight matrix), then streams tensor by tensor into the writer,
// quantizing on the way, so memory stays at one tensor (or one expert) at a time.
#include "model_format/convert_hf.h"

#include <algorithm>
#include <cstring>
#include <deque>
#include <map>
#include <set>
#include <vector>

#include "model_format/file_io.h"
#include "model_format/hf_config.h"
#include "model_format/hf_tokenizer.h"
#include "model_format/model_writer.h"
#include "model_format/architecture_plans.h"
#include "model_format/quantize.h"
#include "model_format/quantized_tensors.h"
#include "model_format/safetensors.h"

namespace tusk::format {
namespace {

const char* const kExpertTensors[] = {"fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"};
// Expert tensors stored as ConvertOptions::experts says; the biases stay F32.
bool is_expert_matrix(const std::string& name) { return name == "fc1.weight" || name == "fc2.weight"; }

std::string shape_text(const Shape& s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + "]";
}

// Pickled PyTorch weights run code when loaded; the converter reads safetensors only.
void refuse_pickle_only(const std::string& hf_dir) {
  if (is_regular_file(path_in(hf_dir, "model.safetensors")) || is_regular_file(path_in(hf_dir, "model.safetensors.index.json")))
    return;
  for (const char* name : {"pytorch_model.bin", "pytorch_model.bin.index.json"}) {
    if (!is_regular_file(path_in(hf_dir, name))) continue;
    throw Error(ErrorCode::Unsupported,
                path_in(hf_dir, name) + ": PyTorch pickle weights are not read (loading a pickle can run "
                                     "arbitrary code); re-save the checkpoint as safetensors once with "
                                     "transformers: AutoModelForSeq2SeqLM.from_pretrained(DIR)."
                                     "save_pretrained(DIR, safe_serialization=True)");
  }
}

std::string grouping_text(WeightFormat format, int64_t group_size) {
  if (format != WeightFormat::Int8 && format != WeightFormat::Int4) return "";
  std::string text = group_size == 0 ? " (scales per output channel"
                                     : " (scales per " + std::to_string(group_size) + " input columns";
  if (format == WeightFormat::Int4) text += ", chosen by squared-error search";
  return text + ")";
}

// The choices in words, for `tusk inspect`.
std::string quantization_summary(const ConvertOptions& o, bool has_experts) {
  if ((o.experts == WeightFormat::F32 || !has_experts) && o.dense == WeightFormat::F32)
    return "none (every weight fp32)";
  std::string text = (has_experts ? std::string("experts ") + weight_format_name(o.experts) +
                                        grouping_text(o.experts, o.group_size) + "; "
                                  : std::string("no experts; ")) +
                     "dense " +
                     weight_format_name(o.dense) + grouping_text(o.dense, o.group_size);
  if ((o.dense == WeightFormat::Int8 || o.dense == WeightFormat::Int4) && o.group_size != 0)
    text += ", model.shared.weight per row";
  return text + "; routers, layer norms and biases fp32";
}

void check_options(const ConvertOptions& o) {
  auto known = [](WeightFormat f) { return static_cast<uint8_t>(f) <= static_cast<uint8_t>(WeightFormat::Int4); };
  if (!known(o.experts) || !known(o.dense))
    throw Error(ErrorCode::InvalidArgument, "unknown weight format in the conversion options");
  if (o.group_size < 0)
    throw Error(ErrorCode::InvalidArgument,
                "group size " + std::to_string(o.group_size) + " is negative (0 = per output channel)");
}

// Storage of one weight matrix: the tensors to hand to the writer (the weight, then its
// scales if any). `keep` owns the quantized bytes until they are written.
void add_matrix(const std::string& name, const std::string& full_name, const Shape& shape,
                const std::vector<float>& values, WeightFormat format, int64_t group_size,
                std::deque<QuantizedWeights>* keep, std::vector<TensorData>* out) {
  if (format == WeightFormat::F32) {
    out->push_back({name, DType::F32, shape, values.data()});
    return;
  }
  const QuantizedWeights& q =
      keep->emplace_back(quantize_weights(format, values.data(), shape[0], shape[1], group_size, full_name));
  out->push_back({name, q.dtype, shape, q.data(), q.stats});
  if (!q.scales.empty()) {
    out->push_back({scales_name(name), DType::F32, {q.n, q.k / q.group}, q.scales.data()});
  }
}

class Converter {
 public:
  Converter(const std::string& hf_dir, const ConvertOptions& options, ProgressSink* progress)
      : hf_dir_(hf_dir), options_(options), progress_(progress) {}

  void run(const std::string& out_path) {
    check_options(options_);
    HfConfig hf = read_hf_config(path_in(hf_dir_, "config.json"));
    config_ = hf.model;
    config_.expert_output_scale_folded = static_cast<float>(1.0 - hf.moe_token_dropout);
    const std::string generation = path_in(hf_dir_, "generation_config.json");
    if (is_regular_file(generation)) check_generation_config_file(generation, config_);

    const HfTokenizer tokenizer = read_hf_tokenizer(hf_dir_, config_);
    config_.unk_id = tokenizer.unk_id;

    refuse_pickle_only(hf_dir_);
    ckpt_ = SafetensorsCheckpoint::open(hf_dir_);
    plan_ = plan_tensors(config_);
    check_tensors(hf.tie_word_embeddings);

    ModelWriter writer(out_path);
    writer.set_config(config_);
    writer.set_tokenizer(tokenizer.sentencepiece);
    writer.set_vocabulary(tokenizer.vocabulary);
    writer.set_quantization(quantization_summary(options_, !plan_.experts.empty()));
    for (const Language& lang : tokenizer.languages) writer.add_language(lang);
    total_ = plan_.dense.size() + plan_.experts.size();
    for (const auto& [name, entry] : plan_.dense) {
      write_dense(writer, name, entry);
      report(name);
    }
    for (const ExpertRef& ref : plan_.experts) {
      write_expert(writer, ref);
      report(ref.prefix.substr(0, ref.prefix.size() - 1));
    }
    writer.finish();
  }

 private:
  [[noreturn]] void fail(ErrorCode code, const std::string& tensor, const std::string& what) const {
    const std::string file = ckpt_.has(tensor) ? ckpt_.file_of(tensor) : ckpt_.source();
    throw Error(code, file + ": tensor '" + tensor + "' " + what);
  }

  void expect(const std::string& name, const Shape& shape) const {
    if (!ckpt_.has(name)) fail(ErrorCode::InvalidModel, name, "is missing");
    const SafetensorsTensor& t = ckpt_.info(name);
    if (t.dtype != SafetensorsDType::F32 && t.dtype != SafetensorsDType::F16 &&
        t.dtype != SafetensorsDType::BF16)
      fail(ErrorCode::Unsupported, name,
           std::string("has dtype ") + safetensors_dtype_name(t.dtype) + " (only F32, F16, BF16)");
    if (t.shape != shape)
      fail(ErrorCode::InvalidModel, name,
           "has shape " + shape_text(t.shape) + ", config.json implies " + shape_text(shape));
  }

  // Same values, whatever dtypes they are stored in.
  bool same_values(const std::string& a, const std::string& b) const {
    const SafetensorsTensor& ta = ckpt_.info(a);
    const SafetensorsTensor& tb = ckpt_.info(b);
    if (ta.shape != tb.shape) return false;
    if (ta.dtype == tb.dtype) {
      const bool equal = ckpt_.raw(a) == ckpt_.raw(b);
      ckpt_.release(a);
      ckpt_.release(b);
      return equal;
    }
    // As floats, 16 MB at a time: these are embedding-sized tensors.
    const uint64_t n = ta.elements(), piece = uint64_t{4} << 20;
    std::vector<float> va(static_cast<size_t>(std::min(n, piece))), vb(va.size());
    bool equal = true;
    for (uint64_t first = 0; equal && first < n; first += piece) {
      const uint64_t count = std::min(piece, n - first);
      ckpt_.read_range_as_f32(a, first, count, va.data());
      ckpt_.read_range_as_f32(b, first, count, vb.data());
      equal = std::memcmp(va.data(), vb.data(), static_cast<size_t>(count) * sizeof(float)) == 0;
    }
    ckpt_.release(a);
    ckpt_.release(b);
    return equal;
  }

  // Everything present, nothing unexpected, all shapes as config.json says; decides what
  // happens to lm_head and embed_tokens copies of model.shared.
  void check_tensors(bool tie_word_embeddings) {
    for (const auto& [name, entry] : plan_.dense) expect(entry.source, entry.shape);
    std::set<std::string> accounted;  // every checkpoint tensor the conversion uses or drops
    for (const auto& [name, entry] : plan_.dense) accounted.insert(entry.source);
    for (const ExpertRef& ref : plan_.experts) {
      for (const auto& [name, shape] : ref.shapes) {
        expect(ref.prefix + name, shape);
        accounted.insert(ref.prefix + name);
      }
    }

    const std::string shared = "model.shared.weight";
    const Shape embedding = plan_.dense.at(shared).shape;
    for (const char* copy : {"model.encoder.embed_tokens.weight", "model.decoder.embed_tokens.weight"}) {
      if (!ckpt_.has(copy)) continue;
      expect(copy, embedding);
      if (!same_values(copy, shared))
        fail(ErrorCode::Unsupported, copy, "differs from model.shared.weight (untied input embeddings)");
      accounted.insert(copy);  // dropped: the engine embeds with model.shared
    }
    const std::string lm_head = "lm_head.weight";
    if (tie_word_embeddings) {
      // transformers ties lm_head to model.shared on load whatever the file holds; so does the
      // engine (a stored copy is dropped).
      if (ckpt_.has(lm_head)) {
        expect(lm_head, embedding);
        accounted.insert(lm_head);
      }
    } else {
      if (!ckpt_.has(lm_head)) fail(ErrorCode::InvalidModel, lm_head, "is missing and tie_word_embeddings is false");
      expect(lm_head, embedding);
      // An untied head equal to model.shared is dropped: the engine falls back to model.shared.
      if (!same_values(lm_head, shared)) plan_.dense[lm_head] = {embedding, Role::Embedding, lm_head};
      accounted.insert(lm_head);
    }
    // A tensor we would not write means config.json and the weights disagree (e.g. expert_9
    // of 8, a sparse layer where config.json says dense): refuse rather than drop weights.
    for (const std::string& name : ckpt_.names())
      if (!accounted.count(name))
        fail(ErrorCode::InvalidModel, name,
             "is not part of " + std::string(config_.architecture == kArchM2M100 ? "an M2M100" : "an NLLB-MoE") +
                 " model with this config.json");
    check_storage();
  }

  // Refuses a storage format that does not suit a matrix's shape before any weight is read.
  void check_storage() const {
    for (const auto& [name, entry] : plan_.dense) {
      if (entry.role == Role::Plain) continue;
      check_quantizable(options_.dense, entry.shape[0], entry.shape[1],
                        entry.role == Role::Embedding ? 0 : options_.group_size, name);
    }
    for (const ExpertRef& ref : plan_.experts) {
      for (const auto& [name, shape] : ref.shapes) {
        if (is_expert_matrix(name))
          check_quantizable(options_.experts, shape[0], shape[1], options_.group_size, ref.prefix + name);
      }
    }
  }

  void write_dense(ModelWriter& writer, const std::string& name, const DenseEntry& entry) {
    const WeightFormat format = entry.role == Role::Plain ? WeightFormat::F32 : options_.dense;
    if (format == WeightFormat::F32) {
      const std::vector<float> values = ckpt_.read_as_f32(entry.source);
      writer.add_dense({name, DType::F32, entry.shape, values.data()});
      return;
    }
    // Quantized straight from the checkpoint, a block of rows at a time: the largest tensors
    // (the embedding) are never held in fp32.
    const int64_t n = entry.shape[0], k = entry.shape[1];
    const int64_t group_size = entry.role == Role::Embedding ? 0 : options_.group_size;
    const RowReader rows = [&](int64_t first, int64_t count, float* out) {
      ckpt_.read_range_as_f32(entry.source, static_cast<uint64_t>(first * k), static_cast<uint64_t>(count * k), out);
    };
    const QuantizedWeights q = quantize_weights(format, rows, n, k, group_size, name);
    ckpt_.release(entry.source);
    writer.add_dense({name, q.dtype, entry.shape, q.data(), q.stats});
    if (!q.scales.empty()) writer.add_dense({scales_name(name), DType::F32, {q.n, q.k / q.group}, q.scales.data()});
  }

  void write_expert(ModelWriter& writer, const ExpertRef& ref) {
    std::vector<std::vector<float>> values;
    for (const char* name : kExpertTensors) {
      values.push_back(ckpt_.read_as_f32(ref.prefix + name));
      // Eval-time NLLB-MoE scales each expert's output by (1 - moe_token_dropout); folding it
      // into fc2 (weight and bias) spares the engine that multiply. Folded before quantizing,
      // so the scales absorb it and the error is measured on what the engine computes.
      if (std::strncmp(name, "fc2.", 4) == 0)
        for (float& v : values.back()) v *= config_.expert_output_scale_folded;
    }
    std::deque<QuantizedWeights> keep;
    std::vector<TensorData> tensors;
    for (size_t i = 0; i < values.size(); ++i) {
      const std::string name = kExpertTensors[i];
      const WeightFormat format = is_expert_matrix(name) ? options_.experts : WeightFormat::F32;
      add_matrix(name, ref.prefix + name, ref.shapes.at(name), values[i], format,
                 options_.group_size, &keep, &tensors);
    }
    writer.add_expert(ref.stack, ref.layer, ref.expert, tensors, options_.zstd_level);
  }

  void report(const std::string& what) {
    ++done_;
    if (progress_ && !progress_->report(done_, total_, what.c_str()))
      throw Error(ErrorCode::Cancelled, "conversion of " + hf_dir_ + " cancelled");
  }

  const std::string hf_dir_;
  const ConvertOptions options_;
  ProgressSink* const progress_;
  ModelConfig config_;
  SafetensorsCheckpoint ckpt_;
  Plan plan_;
  unsigned long long done_ = 0, total_ = 0;
};

}  // namespace

void convert_hf(const std::string& hf_dir, const std::string& out_path, const ConvertOptions& options,
                ProgressSink* progress) {
  Converter(hf_dir, options, progress).run(out_path);
}

}  // namespace tusk::format
