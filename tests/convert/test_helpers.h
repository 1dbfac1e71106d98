// Helpers for the converter tests: temp folders, hand-built safetensors files, protobuf
// bytes, and a tiny synthetic NLLB-MoE checkpoint.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <initializer_list>
#include <map>
#include <string>
#include <vector>

#include "common/error.h"

namespace tusk::test {

// Runs `fn`, expecting tusk::Error with `code` and every fragment in its message.
template <typename Fn>
void expect_error(Fn&& fn, ErrorCode code, std::initializer_list<const char*> fragments) {
  try {
    fn();
    ADD_FAILURE() << "no error thrown";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), code) << e.what();
    for (const char* f : fragments) EXPECT_NE(std::string(e.what()).find(f), std::string::npos) << e.what();
  }
}

// A fresh folder under $TMPDIR, removed with everything in it on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

void write_file(const std::string& path, const std::string& bytes);
std::string read_file(const std::string& path);

// The project's shared folder (compile definition), and the real model's folder in it.
std::string shared_dir();
std::string real_model_dir();
bool file_exists(const std::string& path);

std::string f32_bytes(const std::vector<float>& values);
std::string u16_bytes(const std::vector<uint16_t>& values);

struct StTensor {
  std::string name;
  std::string dtype;  // "F32", "F16", ...
  std::vector<int64_t> shape;
  std::string bytes;
};

// A well-formed safetensors file: header JSON (tensors in the given order, data back to back).
std::string safetensors_bytes(const std::vector<StTensor>& tensors,
                              const std::map<std::string, std::string>& metadata = {});
// 8-byte little-endian length + header text + data, with no checks (for malformed files).
std::string safetensors_raw(const std::string& header, const std::string& data);
std::string le64(uint64_t v);

// Protobuf pieces for a synthetic SentencePiece ModelProto.
std::string proto_varint(uint64_t v);
std::string proto_bytes_field(uint32_t field, const std::string& payload);
std::string sentencepiece_model(const std::vector<std::string>& pieces);

// A tiny NLLB-MoE: d_model 8, 2 heads, 2+2 layers, layer 1 of each stack sparse with 2
// experts, FFN 16, vocab 8000 (so the real SentencePiece model fits), moe_token_dropout 0.25.
// Other sizes (e.g. d_model 64, FFN 128, which the int4/int8 kernels accept) change config.json
// to match.
struct TinyModel {
  std::string config_json;
  std::vector<StTensor> tensors;  // sorted by name, all F32, deterministic values
  const StTensor& tensor(const std::string& name) const;
  std::vector<float> values(const std::string& name) const;
};
TinyModel tiny_model(int64_t d_model = 8, int64_t ffn_dim = 16);
std::string tiny_config_json(const std::string& overrides_json = "{}");

// Writes config.json, the given tensors as model.safetensors (or as `shards` shard files
// plus model.safetensors.index.json) and sentencepiece_model bytes into dir.
void write_checkpoint(const std::string& dir, const std::string& config_json,
                      const std::vector<StTensor>& tensors, const std::string& sentencepiece,
                      int shards = 1);

}  // namespace tusk::test
