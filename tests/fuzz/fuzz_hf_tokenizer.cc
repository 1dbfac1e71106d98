// The converter's tokenizer-file reader (model_format/hf_tokenizer): an NLLB checkpoint folder
// (../shared/models/hf-tiny/nllb-moe) whose JSON files are the tiny checkpoint's except one,
// the fuzz input: the first byte chooses which (tokenizer_config.json, special_tokens_map.json,
// added_tokens.json, or a tokenizer.json, which the folder otherwise lacks). The folder lives
// in /dev/shm when there is one. Every input must give a vocabulary or a tusk::Error.
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

#include "common/error.h"
#include "model_format/hf_config.h"
#include "model_format/hf_tokenizer.h"

namespace fs = std::filesystem;

namespace {

const char* const kFiles[] = {"tokenizer_config.json", "special_tokens_map.json", "added_tokens.json",
                              "tokenizer.json"};
const fs::path kTiny = TUSK_SHARED_DIR "/models/hf-tiny/nllb-moe";

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

void write_file(const fs::path& path, const char* data, size_t size) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(data, static_cast<std::streamsize>(size));
}

// The tiny checkpoint's JSON files are read once and written back before every input: a
// copy_file per input (copy_file_range) could fail with EINTR under libFuzzer's signals,
// and streams retry.
struct Folder {
  fs::path dir;
  tusk::format::ModelConfig config;
  std::string originals[3];
  Folder() {
    const fs::path base = fs::exists("/dev/shm") ? fs::path("/dev/shm") : fs::temp_directory_path();
    dir = base / ("tusk-fuzz-tokenizer-" + std::to_string(::getpid()));
    fs::create_directories(dir);
    const std::string model = read_file(kTiny / "sentencepiece.bpe.model");
    write_file(dir / "sentencepiece.bpe.model", model.data(), model.size());
    for (int i = 0; i < 3; ++i) originals[i] = read_file(kTiny / kFiles[i]);
    config = tusk::format::read_hf_config((kTiny / "config.json").string()).model;
  }
  ~Folder() {
    std::error_code ec;
    fs::remove_all(dir, ec);
  }
  void reset() {
    for (int i = 0; i < 3; ++i) write_file(dir / kFiles[i], originals[i].data(), originals[i].size());
    std::error_code ec;
    fs::remove(dir / kFiles[3], ec);
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static Folder folder;
  if (size < 1) return 0;
  folder.reset();
  write_file(folder.dir / kFiles[data[0] % 4], reinterpret_cast<const char*>(data + 1), size - 1);
  try {
    (void)tusk::format::read_hf_tokenizer(folder.dir.string(), folder.config);
  } catch (const tusk::Error&) {
  }
  return 0;
}
