// The converter's tokenizer-file reader (model_format/hf_tokenizer): an NLLB checkpoint folder
// (../shared/models/hf-tiny/nllb-moe) whose JSON files are the tiny checkpoint's except one,
// the fuzz input: the first byte chooses which (tokenizer_config.json, special_tokens_map.json,
// added_tokens.json, or a tokenizer.json, which the folder otherwise lacks). The folder lives
// in /dev/shm when there is one. Every input must give a vocabulary or a tusk::Error.
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "common/error.h"
#include "model_format/hf_config.h"
#include "model_format/hf_tokenizer.h"

namespace fs = std::filesystem;

namespace {

const char* const kFiles[] = {"tokenizer_config.json", "special_tokens_map.json", "added_tokens.json",
                              "tokenizer.json"};
const fs::path kTiny = TUSK_SHARED_DIR "/models/hf-tiny/nllb-moe";

struct Folder {
  fs::path dir;
  tusk::format::ModelConfig config;
  Folder() {
    const fs::path base = fs::exists("/dev/shm") ? fs::path("/dev/shm") : fs::temp_directory_path();
    dir = base / ("tusk-fuzz-tokenizer-" + std::to_string(::getpid()));
    fs::create_directories(dir);
    fs::copy_file(kTiny / "sentencepiece.bpe.model", dir / "sentencepiece.bpe.model",
                  fs::copy_options::overwrite_existing);
    config = tusk::format::read_hf_config((kTiny / "config.json").string()).model;
  }
  ~Folder() {
    std::error_code ec;
    fs::remove_all(dir, ec);
  }
  void reset() {
    for (int i = 0; i < 3; ++i) fs::copy_file(kTiny / kFiles[i], dir / kFiles[i], fs::copy_options::overwrite_existing);
    std::error_code ec;
    fs::remove(dir / kFiles[3], ec);
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static Folder folder;
  if (size < 1) return 0;
  folder.reset();
  {
    std::ofstream out(folder.dir / kFiles[data[0] % 4], std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(data + 1), static_cast<std::streamsize>(size - 1));
  }
  try {
    (void)tusk::format::read_hf_tokenizer(folder.dir.string(), folder.config);
  } catch (const tusk::Error&) {
  }
  return 0;
}
