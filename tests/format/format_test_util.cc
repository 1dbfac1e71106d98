#include "tests/format/format_test_util.h"

#include <stdlib.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>

#include "model_format/checksum.h"
#include "model_format/file_layout.h"

namespace tusk::format::testing {

ScratchDir::ScratchDir() {
  std::string pattern = (std::filesystem::temp_directory_path() / "tusk-format-XXXXXX").string();
  if (!::mkdtemp(pattern.data())) throw std::runtime_error("mkdtemp failed");
  dir_ = pattern;
}

ScratchDir::~ScratchDir() {
  std::error_code ignored;
  std::filesystem::remove_all(dir_, ignored);
}

std::vector<std::string> ScratchDir::entries() const {
  std::vector<std::string> names;
  for (const auto& entry : std::filesystem::directory_iterator(dir_)) {
    names.push_back(entry.path().filename().string());
  }
  std::sort(names.begin(), names.end());
  return names;
}

ModelConfig tiny_config() {
  ModelConfig c;
  c.vocab_size = 32;
  c.d_model = 8;
  c.encoder_layers = 1;
  c.decoder_layers = 1;
  c.encoder_heads = 2;
  c.decoder_heads = 2;
  c.encoder_ffn_dim = 16;
  c.decoder_ffn_dim = 16;
  c.num_experts = 2;
  c.experts_per_token = 2;
  c.encoder_sparse_step = 1;
  c.decoder_sparse_step = 1;
  c.max_position_embeddings = 16;
  c.expert_output_scale_folded = 0.8f;
  return c;
}

TinyModel make_tiny_model(uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> uniform(-1.0f, 1.0f);
  auto random_floats = [&](size_t n) {
    std::vector<float> v(n);
    for (float& x : v) x = uniform(rng);
    return v;
  };
  TinyModel m;
  m.tokenizer.resize(1000);
  for (size_t i = 0; i < m.tokenizer.size(); ++i) m.tokenizer[i] = static_cast<char>(i * 31 + 7);
  m.embed = random_floats(32 * 8);
  m.norm = random_floats(8);
  m.packed.resize(64);
  for (size_t i = 0; i < m.packed.size(); ++i) m.packed[i] = static_cast<unsigned char>(i * 37 + 5);
  m.packed_scales = {0.5f, 0.25f};
  m.zeros_fc1.assign(16 * 8, 0.0f);
  m.zeros_fc2.assign(8 * 16, 0.0f);
  // Random bit patterns, not random values: floats in a range share exponent bytes that zstd
  // could squeeze, and this expert must not compress.
  auto random_bits = [&](size_t n) {
    std::vector<float> v(n);
    for (float& x : v) {
      const uint32_t bits = static_cast<uint32_t>(rng());
      std::memcpy(&x, &bits, sizeof(bits));
    }
    return v;
  };
  m.random_fc1 = random_bits(16 * 8);
  m.random_fc2 = random_bits(8 * 16);
  m.bias_fc1 = random_floats(16);
  m.bias_fc2 = random_floats(8);
  return m;
}

void write_tiny_model(const std::string& path, const TinyModel& m) {
  ModelWriter writer(path);
  writer.set_config(m.config);
  writer.set_tokenizer(m.tokenizer);
  writer.add_language({"en", "eng_Latn", 20});
  writer.add_language({"de", "deu_Latn", 21});
  writer.add_dense({"embed", DType::F32, {32, 8}, m.embed.data()});
  writer.add_dense({"norm.weight", DType::F32, {8}, m.norm.data()});
  writer.add_dense({"packed", DType::I4, {2, 64}, m.packed.data()});
  writer.add_dense({"packed.scales", DType::F32, {2, 1}, m.packed_scales.data()});
  auto expert = [&](const std::vector<float>& fc1, const std::vector<float>& fc2) {
    return std::vector<TensorData>{{"fc1.weight", DType::F32, {16, 8}, fc1.data()},
                                   {"fc1.bias", DType::F32, {16}, m.bias_fc1.data()},
                                   {"fc2.weight", DType::F32, {8, 16}, fc2.data()},
                                   {"fc2.bias", DType::F32, {8}, m.bias_fc2.data()}};
  };
  // Zero weights with random biases still compress well past the 1/4 threshold.
  writer.add_expert(Stack::Encoder, 0, 0, expert(m.zeros_fc1, m.zeros_fc2), 3);
  writer.add_expert(Stack::Encoder, 0, 1, expert(m.random_fc1, m.random_fc2), 3);
  writer.finish();
}

Bytes read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return Bytes(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

void write_bytes(const std::string& path, const Bytes& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}

uint64_t metadata_offset(const Bytes& file) { return layout::decode_header(file.data()).metadata_offset; }
uint64_t metadata_size(const Bytes& file) { return layout::decode_header(file.data()).metadata_size; }

void reseal(Bytes& file) {
  layout::FileHeader header = layout::decode_header(file.data());
  header.metadata_checksum = checksum64(file.data() + header.metadata_offset, header.metadata_size);
  layout::encode_header(header, file.data());
}

Bytes assemble_file(const Bytes& weights, const MetadataRecord& metadata) {
  const Bytes fb = build_metadata(metadata);
  Bytes file(layout::kHeaderSize, 0);
  file.insert(file.end(), weights.begin(), weights.end());
  file.resize((file.size() + 63) / 64 * 64, 0);
  layout::FileHeader header;
  header.flags = header_flags(metadata);  // as the writer sets them
  header.metadata_offset = file.size();
  header.metadata_size = fb.size();
  header.metadata_checksum = checksum64(fb.data(), fb.size());
  file.insert(file.end(), fb.begin(), fb.end());
  header.file_size = file.size();
  layout::encode_header(header, file.data());
  return file;
}

void expect_open_error(const std::string& path, ErrorCode code,
                       const std::vector<std::string>& parts, bool verify_checksums) {
  try {
    ModelFile::open(path, ModelFile::OpenOptions{verify_checksums});
    ADD_FAILURE() << "open(" << path << ") succeeded, expected an error containing '"
                  << (parts.empty() ? "" : parts[0]) << "'";
  } catch (const Error& e) {
    EXPECT_EQ(static_cast<int>(e.code()), static_cast<int>(code)) << e.what();
    for (const std::string& part : parts) {
      EXPECT_NE(std::string(e.what()).find(part), std::string::npos)
          << "message '" << e.what() << "' lacks '" << part << "'";
    }
  }
}

volatile unsigned g_touched_sum = 0;

void touch_everything(const ModelFile& file) {
  unsigned sum = 0;
  for (const auto& entry : file.tensors()) {
    const auto* p = static_cast<const unsigned char*>(entry.second.data);
    for (size_t i = 0; i < entry.second.bytes; ++i) sum += p[i];
  }
  const ModelConfig& c = file.config();
  const int64_t layers = std::max(c.encoder_layers, c.decoder_layers);
  if (layers * c.num_experts <= 10000) {  // a damaged config may name absurd counts
    for (Stack stack : {Stack::Encoder, Stack::Decoder}) {
      for (int layer = 0; layer < layers; ++layer) {
        for (int e = 0; e < c.num_experts; ++e) {
          if (!file.has_expert(stack, layer, e)) continue;
          try {
            const ExpertWeights w = file.load_expert(stack, layer, e);
            for (const auto& entry : w.tensors()) {
              const auto* p = static_cast<const unsigned char*>(entry.second.data);
              for (size_t i = 0; i < entry.second.bytes; ++i) sum += p[i];
            }
          } catch (const Error&) {
          }
        }
      }
    }
  }
  (void)file.section_stats();
  (void)file.parameter_count();
  g_touched_sum = sum;  // keeps the reads from being optimized away
}

}  // namespace tusk::format::testing
