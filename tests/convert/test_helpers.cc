#include "test_helpers.h"

#include <stdlib.h>
#include <sys/stat.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <stdexcept>

#include <nlohmann/json.hpp>

namespace tusk::test {

using nlohmann::json;

TempDir::TempDir() {
  const char* base = std::getenv("TMPDIR");
  std::string pattern = std::string(base && *base ? base : "/tmp") + "/tusk_convert_XXXXXX";
  if (!mkdtemp(pattern.data())) throw std::runtime_error("mkdtemp failed");
  path_ = pattern;
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

void write_file(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!out) throw std::runtime_error("cannot write " + path);
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

std::string shared_dir() { return TUSK_SHARED_DIR; }
std::string real_model_dir() { return shared_dir() + "/models/multi30k-moe"; }

bool file_exists(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

std::string f32_bytes(const std::vector<float>& values) {
  std::string out(values.size() * 4, '\0');
  if (!values.empty()) std::memcpy(out.data(), values.data(), out.size());  // little-endian host
  return out;
}

std::string u16_bytes(const std::vector<uint16_t>& values) {
  std::string out;
  for (uint16_t v : values) {
    out.push_back(static_cast<char>(v & 0xff));
    out.push_back(static_cast<char>(v >> 8));
  }
  return out;
}

std::string le64(uint64_t v) {
  std::string out;
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
  return out;
}

std::string safetensors_raw(const std::string& header, const std::string& data) {
  return le64(header.size()) + header + data;
}

std::string safetensors_bytes(const std::vector<StTensor>& tensors,
                              const std::map<std::string, std::string>& metadata) {
  json header = json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  std::string data;
  for (const StTensor& t : tensors) {
    header[t.name] = {{"dtype", t.dtype}, {"shape", t.shape},
                      {"data_offsets", {data.size(), data.size() + t.bytes.size()}}};
    data += t.bytes;
  }
  return safetensors_raw(header.dump(), data);
}

std::string proto_varint(uint64_t v) {
  std::string out;
  do {
    uint8_t b = v & 0x7f;
    v >>= 7;
    if (v) b |= 0x80;
    out.push_back(static_cast<char>(b));
  } while (v);
  return out;
}

std::string proto_bytes_field(uint32_t field, const std::string& payload) {
  return proto_varint(uint64_t{field} << 3 | 2) + proto_varint(payload.size()) + payload;
}

std::string sentencepiece_model(const std::vector<std::string>& pieces) {
  std::string out;
  for (const std::string& p : pieces) {
    // SentencePiece { piece = 1; score = 2 (fixed32); type = 3 (varint) }
    std::string msg = proto_bytes_field(1, p) + proto_varint(2 << 3 | 5) + std::string(4, '\0') +
                      proto_varint(3 << 3 | 0) + proto_varint(1);
    out += proto_bytes_field(1, msg);
  }
  // A trainer_spec (field 2) the walker must skip.
  out += proto_bytes_field(2, proto_bytes_field(1, "input.txt"));
  return out;
}

std::string tiny_config_json(const std::string& overrides_json) {
  json c = {
      {"model_type", "nllb-moe"}, {"vocab_size", 8000}, {"d_model", 8},
      {"max_position_embeddings", 32}, {"encoder_layers", 2}, {"decoder_layers", 2},
      {"encoder_attention_heads", 2}, {"decoder_attention_heads", 2}, {"encoder_ffn_dim", 16},
      {"decoder_ffn_dim", 16}, {"num_experts", 2}, {"encoder_sparse_step", 2},
      {"decoder_sparse_step", 2}, {"router_bias", false}, {"moe_token_dropout", 0.25},
      {"activation_function", "relu"}, {"scale_embedding", true}, {"pad_token_id", 1},
      {"bos_token_id", 0}, {"eos_token_id", 2}, {"decoder_start_token_id", 2},
      {"tie_word_embeddings", true}};
  c.merge_patch(json::parse(overrides_json));
  return c.dump(2);
}

namespace {

std::vector<float> pattern(size_t n, uint32_t seed) {
  std::vector<float> v(n);
  uint32_t x = seed * 2654435761u + 12345u;
  for (size_t i = 0; i < n; ++i) {
    x = x * 1664525u + 1013904223u;
    v[i] = static_cast<float>(static_cast<int>(x >> 20) - 2048) / 1024.0f;  // exact in float
  }
  return v;
}

}  // namespace

TinyModel tiny_model(int64_t d_model, int64_t ffn_dim) {
  const int64_t d = d_model, ffn = ffn_dim, vocab = 8000, experts = 2;
  std::map<std::string, std::vector<int64_t>> shapes;
  auto norm = [&](const std::string& p) {
    shapes[p + ".weight"] = {d};
    shapes[p + ".bias"] = {d};
  };
  auto attention = [&](const std::string& p) {
    for (const char* proj : {"q_proj", "k_proj", "v_proj", "out_proj"}) {
      shapes[p + "." + proj + ".weight"] = {d, d};
      shapes[p + "." + proj + ".bias"] = {d};
    }
  };
  auto ffn_of = [&](const std::string& p) {
    shapes[p + ".fc1.weight"] = {ffn, d};
    shapes[p + ".fc1.bias"] = {ffn};
    shapes[p + ".fc2.weight"] = {d, ffn};
    shapes[p + ".fc2.bias"] = {d};
  };
  for (std::string stack : {"encoder", "decoder"}) {
    for (int i = 0; i < 2; ++i) {
      std::string p = "model." + stack + ".layers." + std::to_string(i);
      attention(p + ".self_attn");
      norm(p + ".self_attn_layer_norm");
      if (stack == "decoder") {
        attention(p + ".cross_attention");
        norm(p + ".cross_attention_layer_norm");
      }
      norm(p + ".ff_layer_norm");
      if (i == 0) {
        ffn_of(p + ".ffn");
      } else {
        shapes[p + ".ffn.router.classifier.weight"] = {experts, d};
        for (int e = 0; e < experts; ++e) ffn_of(p + ".ffn.experts.expert_" + std::to_string(e));
      }
    }
    norm("model." + stack + ".layer_norm");
  }
  shapes["model.shared.weight"] = {vocab, d};

  TinyModel m;
  m.config_json = d == 8 && ffn == 16
                      ? tiny_config_json()
                      : tiny_config_json(json{{"d_model", d}, {"encoder_ffn_dim", ffn}, {"decoder_ffn_dim", ffn}}.dump());
  uint32_t seed = 1;
  for (const auto& [name, shape] : shapes) {
    size_t n = 1;
    for (int64_t s : shape) n *= static_cast<size_t>(s);
    m.tensors.push_back({name, "F32", shape, f32_bytes(pattern(n, seed++))});
  }
  return m;
}

const StTensor& TinyModel::tensor(const std::string& name) const {
  for (const StTensor& t : tensors)
    if (t.name == name) return t;
  throw std::runtime_error("no tensor " + name);
}

std::vector<float> TinyModel::values(const std::string& name) const {
  const std::string& b = tensor(name).bytes;
  std::vector<float> v(b.size() / 4);
  std::memcpy(v.data(), b.data(), b.size());
  return v;
}

void write_checkpoint(const std::string& dir, const std::string& config_json,
                      const std::vector<StTensor>& tensors, const std::string& sentencepiece,
                      int shards) {
  write_file(dir + "/config.json", config_json);
  write_file(dir + "/sentencepiece.model", sentencepiece);
  if (shards <= 1) {
    write_file(dir + "/model.safetensors", safetensors_bytes(tensors));
    return;
  }
  // Round-robin, so every shard holds a mix (as real shards split by size, not by name).
  std::vector<std::vector<StTensor>> parts(static_cast<size_t>(shards));
  for (size_t i = 0; i < tensors.size(); ++i) parts[i % parts.size()].push_back(tensors[i]);
  json weight_map = json::object();
  uint64_t total = 0;
  for (int s = 0; s < shards; ++s) {
    char name[64];
    std::snprintf(name, sizeof name, "model-%05d-of-%05d.safetensors", s + 1, shards);
    write_file(dir + "/" + name, safetensors_bytes(parts[static_cast<size_t>(s)]));
    for (const StTensor& t : parts[static_cast<size_t>(s)]) {
      weight_map[t.name] = name;
      total += t.bytes.size();
    }
  }
  json index = {{"metadata", {{"total_size", total}}}, {"weight_map", weight_map}};
  write_file(dir + "/model.safetensors.index.json", index.dump(2));
}

}  // namespace tusk::test
