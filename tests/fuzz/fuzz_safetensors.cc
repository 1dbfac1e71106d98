// The converter's safetensors reader (model_format/safetensors): the 8-byte header length, the
// JSON header (nesting, dtypes, shapes, offsets against the data area), then every float
// tensor read as f32 (capped at 1 MiB, as the harness's memory is). Every input must give
// tensors or a tusk::Error.
#include "common/error.h"
#include "memory_file.h"
#include "model_format/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static tusk_fuzz::MemoryFile file;
  const std::string& path = file.hold(data, size);
  try {
    const auto st = tusk::format::SafetensorsFile::open(path);
    for (const std::string& name : st->names()) {
      const auto& info = st->info(name);
      (void)st->raw(name);
      (void)st->metadata();
      if (info.bytes() > (1u << 20)) continue;
      try {
        (void)st->read_as_f32(name);
      } catch (const tusk::Error&) {  // an integer dtype: Unsupported
      }
    }
  } catch (const tusk::Error&) {
  }
  return 0;
}
