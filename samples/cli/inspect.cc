// `tusk inspect [--verbose] FILE`: opens and verifies a model, prints its description (with
// --verbose, also every tensor and its quantization error).
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "args.h"
#include "common.h"

namespace tusk_cli {

int cmd_inspect(const std::vector<std::string>& argv) {
  const ParsedArgs args = parse_args({{"--verbose", false}}, argv);
  if (args.help) {
    std::fputs(kInspectUsage, stdout);
    return kExitOk;
  }
  if (args.positional.empty()) throw UsageError("missing model FILE");
  if (args.positional.size() > 1) {
    throw UsageError("unexpected argument '" + args.positional[1] + "' (one FILE only)");
  }
  const std::string& path = args.positional.front();
  if (!file_exists(path)) return report_error("model file " + path + " does not exist");

  tusk_model_t* raw = nullptr;
  const tusk_status_t st = tusk_model_open(path.c_str(), nullptr, &raw);
  if (st != TUSK_OK) return report_status(st);
  Model model(raw);

  const char* text = nullptr;
  const tusk_status_t dst = args.has("--verbose") ? tusk_model_describe_verbose(model.get(), &text)
                                                  : tusk_model_describe(model.get(), &text);
  if (dst != TUSK_OK) return report_status(dst);
  if (text == nullptr) text = "";
  std::fputs(text, stdout);
  const size_t n = std::strlen(text);
  if (n == 0 || text[n - 1] != '\n') std::fputc('\n', stdout);
  if (std::fflush(stdout) != 0) return report_error("cannot write to standard output");
  return kExitOk;
}

}  // namespace tusk_cli
