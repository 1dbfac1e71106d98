// The converter's config.json and generation_config.json readers (model_format/hf_config):
// the first byte chooses which; the rest is the file's text. A generation_config is checked
// against the tiny NLLB-MoE checkpoint's config.json (../shared/models/hf-tiny). Every
// input must give a config or a tusk::Error.
#include <string_view>

#include "common/error.h"
#include "model_format/hf_config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const std::string_view text(reinterpret_cast<const char*>(data + 1), size - 1);
  try {
    if (data[0] & 1) {
      // The config.json Hugging Face wrote for the tiny NLLB-MoE, to check against.
      static const tusk::format::HfConfig base =
          tusk::format::read_hf_config(TUSK_SHARED_DIR "/models/hf-tiny/nllb-moe/config.json");
      tusk::format::check_generation_config(text, "generation_config.json", base.model);
    } else {
      (void)tusk::format::parse_hf_config(text, "config.json");
    }
  } catch (const tusk::Error&) {
  }
  return 0;
}
