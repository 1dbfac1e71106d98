#include "translator_setup.h"

#include <unistd.h>

#include <cstdlib>
#include <stdexcept>

#ifndef TUSK_DEFAULT_MODEL_PATH
#define TUSK_DEFAULT_MODEL_PATH "models/multi30k-moe.tusk"
#endif

namespace tusk_cli {

const std::vector<FlagSpec> kTranslatorFlags = {
    {"--model", true},
    {"--beam-size", true},      {"--threads", true},
    {"--max-batch-size", true}, {"--max-batch-tokens", true},
    {"--max-decoding-length", true}, {"--min-decoding-length", true}, {"--length-penalty", true},
    {"--truncate", false},      {"--expert-budget", true},
    {"--eviction", true},       {"--prefetch", true},
    {"--direct-io", true},      {"--int8-activations", false}, {"--map-model", false},
    {"--device", true},         {"--compute", true},        {"--device-expert-budget", true},
    {"--no-repeat-ngram-size", true}, {"--repetition-penalty", true},
    {"--max-length-ratio", true}, {"--max-length-offset", true},
};

namespace {

std::string missing_model_message(const ModelChoice& m) {
  if (m.origin == "default") {
    return "no --model given and the default model " + m.path +
           " does not exist.\n"
           "  Create it from the repository root with: scripts/make-default-model.sh [BUILD_DIR]\n"
           "  (or pass --model FILE, or set TUSK_MODEL=FILE)";
  }
  if (m.origin == "TUSK_MODEL") {
    return "model file " + m.path + " (from the TUSK_MODEL environment variable) does not exist";
  }
  return "model file " + m.path + " does not exist";
}

// The default model of an installed CLI: <prefix>/share/tusk/models/ beside <prefix>/bin/.
std::string installed_default_model() {
  char self[4096];
  const ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
  if (n <= 0) return {};
  std::string bin(self, static_cast<size_t>(n));
  bin = bin.substr(0, bin.rfind('/'));
  return bin + "/../share/tusk/models/multi30k-moe.tusk";
}

}  // namespace

ModelChoice choose_model(const ParsedArgs& args) {
  if (args.has("--model")) return {required_flag(args, "--model"), "--model"};
  const char* env = std::getenv("TUSK_MODEL");
  if (env != nullptr && env[0] != '\0') return {env, "TUSK_MODEL"};
  const std::string installed = installed_default_model();
  if (!installed.empty() && file_exists(installed)) return {installed, "default"};
  return {TUSK_DEFAULT_MODEL_PATH, "default"};
}

// Space-separated language codes of the model, for hints.
std::string model_languages(const tusk_model_t* model) {
  int32_t n = 0;
  if (tusk_model_language_count(model, &n) != TUSK_OK) return "";
  std::string out;
  for (int32_t i = 0; i < n; ++i) {
    const char* code = nullptr;
    if (tusk_model_language(model, i, &code) != TUSK_OK || code == nullptr) continue;
    if (!out.empty()) out += ' ';
    out += code;
  }
  return out;
}

TranslatorSetup read_translator_flags(const ParsedArgs& args) {
  TranslatorSetup setup;
  setup.options = make_options();
  tusk_options_t* options = setup.options.get();
  if (args.has("--beam-size")) {
    set_int_option(options, TUSK_OPT_BEAM_SIZE, "--beam-size",
                   parse_int_flag("--beam-size", args.get("--beam-size"), 1, 256));
  }
  if (args.has("--threads")) {
    set_int_option(options, TUSK_OPT_THREADS, "--threads",
                   parse_int_flag("--threads", args.get("--threads"), 0, 4096));
  }
  if (args.has("--max-batch-tokens"))
    set_int_option(options, TUSK_OPT_MAX_BATCH_TOKENS, "--max-batch-tokens",
                   parse_int_flag("--max-batch-tokens", args.get("--max-batch-tokens"), 1, 1 << 30));
  if (args.has("--max-batch-size")) {
    set_int_option(options, TUSK_OPT_MAX_BATCH_SIZE, "--max-batch-size",
                   parse_int_flag("--max-batch-size", args.get("--max-batch-size"), 1, 1 << 20));
  }
  if (args.has("--max-decoding-length")) {
    set_int_option(options, TUSK_OPT_MAX_DECODING_LENGTH, "--max-decoding-length",
                   parse_int_flag("--max-decoding-length", args.get("--max-decoding-length"), 0,
                                  1 << 20));
  }
  if (args.has("--min-decoding-length")) {
    set_int_option(options, TUSK_OPT_MIN_DECODING_LENGTH, "--min-decoding-length",
                   parse_int_flag("--min-decoding-length", args.get("--min-decoding-length"), 0,
                                  1 << 20));
  }
  if (args.has("--no-repeat-ngram-size"))
    set_int_option(options, TUSK_OPT_NO_REPEAT_NGRAM_SIZE, "--no-repeat-ngram-size",
                   parse_int_flag("--no-repeat-ngram-size", args.get("--no-repeat-ngram-size"), 0, 64));
  if (args.has("--max-length-offset"))
    set_int_option(options, TUSK_OPT_MAX_LENGTH_OFFSET, "--max-length-offset",
                   parse_int_flag("--max-length-offset", args.get("--max-length-offset"), 0, 1 << 20));
  if (args.has("--max-length-ratio"))
    set_float_option(options, TUSK_OPT_MAX_LENGTH_RATIO, "--max-length-ratio",
                     parse_float_flag("--max-length-ratio", args.get("--max-length-ratio"), 0.0, 100.0));
  if (args.has("--repetition-penalty"))
    set_float_option(options, TUSK_OPT_REPETITION_PENALTY, "--repetition-penalty",
                     parse_float_flag("--repetition-penalty", args.get("--repetition-penalty"), 1.0, 10.0));
  if (args.has("--length-penalty")) {
    set_float_option(options, TUSK_OPT_LENGTH_PENALTY, "--length-penalty",
                     parse_float_flag("--length-penalty", args.get("--length-penalty"), 0.0, 10.0));
  }
  if (args.has("--truncate")) {
    set_int_option(options, TUSK_OPT_TRUNCATE_INPUT, "--truncate", 1);
  }
  if (args.has("--device")) {
    // cpu, cuda, or cuda:N (the CUDA runtime's device ordinal).
    const std::string& device = args.get("--device");
    const std::string cuda = "cuda";
    if (device == "cpu") {
      set_int_option(options, TUSK_OPT_DEVICE, "--device", TUSK_DEVICE_CPU);
    } else if (device.compare(0, cuda.size(), cuda) == 0 &&
               (device.size() == cuda.size() || device[cuda.size()] == ':')) {
      set_int_option(options, TUSK_OPT_DEVICE, "--device", TUSK_DEVICE_CUDA);
      if (device.size() > cuda.size())
        set_int_option(options, TUSK_OPT_DEVICE_INDEX, "--device",
                       parse_int_flag("--device", device.substr(cuda.size() + 1), 0, 1024));
    } else {
      throw UsageError("invalid value '" + device + "' for --device: expected cpu, cuda or cuda:N");
    }
  }
  if (args.has("--compute")) {
    const std::string& name = args.get("--compute");
    if (name != "fp32" && name != "fp16" && name != "bf16")
      throw UsageError("invalid value '" + name + "' for --compute: expected fp32, fp16 or bf16");
    set_int_option(options, TUSK_OPT_COMPUTE_TYPE, "--compute",
                   name == "fp16" ? TUSK_COMPUTE_FP16 : name == "bf16" ? TUSK_COMPUTE_BF16 : TUSK_COMPUTE_FP32);
  }
  if (args.has("--int8-activations")) {
    set_int_option(options, TUSK_OPT_INT8_ACTIVATIONS, "--int8-activations", 1);
  }
  if (args.has("--map-model")) set_int_option(options, TUSK_OPT_MAP_MODEL, "--map-model", 1);
  if (args.has("--eviction")) {
    const std::string& name = args.get("--eviction");
    if (name != "lru" && name != "layer-distance" && name != "none")
      throw UsageError("invalid value '" + name +
                       "' for --eviction: expected lru, layer-distance or none");
    set_int_option(options, TUSK_OPT_EXPERT_EVICTION, "--eviction",
                   name == "lru"    ? TUSK_EVICTION_LRU
                   : name == "none" ? TUSK_EVICTION_NONE
                                    : TUSK_EVICTION_LAYER_DISTANCE);
  }
  if (args.has("--prefetch")) {
    const std::string& value = args.get("--prefetch");
    if (value != "on" && value != "off")
      throw UsageError("invalid value '" + value + "' for --prefetch: expected on or off");
    set_int_option(options, TUSK_OPT_EXPERT_PREFETCH, "--prefetch", value == "on" ? 1 : 0);
  }
  if (args.has("--direct-io")) {
    const std::string& value = args.get("--direct-io");
    if (value != "on" && value != "off")
      throw UsageError("invalid value '" + value + "' for --direct-io: expected on or off");
    set_int_option(options, TUSK_OPT_EXPERT_DIRECT_IO, "--direct-io", value == "on" ? 1 : 0);
  }
  // Checked before the model opens; a percentage becomes bytes once the model is known.
  setup.has_expert_budget = args.has("--expert-budget");
  if (setup.has_expert_budget) {
    setup.expert_budget_text = args.get("--expert-budget");
    setup.expert_budget = parse_size_flag("--expert-budget", setup.expert_budget_text);
  }
  setup.has_device_expert_budget = args.has("--device-expert-budget");
  if (setup.has_device_expert_budget)
    setup.device_expert_budget = parse_size_flag("--device-expert-budget", args.get("--device-expert-budget"));
  setup.model = choose_model(args);
  return setup;
}

Model open_model(TranslatorSetup& setup, uint64_t* budget, uint64_t* expert_bytes_total) {
  if (!file_exists(setup.model.path)) throw std::runtime_error(missing_model_message(setup.model));
  tusk_model_t* raw_model = nullptr;
  tusk_status_t st = tusk_model_open(setup.model.path.c_str(), setup.options.get(), &raw_model);
  if (st != TUSK_OK) throw std::runtime_error(library_error(st));
  Model model(raw_model);

  st = tusk_model_expert_bytes(model.get(), expert_bytes_total, nullptr);
  if (st != TUSK_OK) throw std::runtime_error(library_error(st));
  *budget = 0;  // all resident
  const auto all = [](const SizeSpec& spec) { return spec.is_percent && spec.percent >= 100.0; };
  if (setup.has_expert_budget && !all(setup.expert_budget)) {
    *budget = setup.expert_budget.resolve(*expert_bytes_total);
    set_int_option(setup.options.get(), TUSK_OPT_EXPERT_BUDGET_BYTES, "--expert-budget",
                   static_cast<int64_t>(*budget));
  }
  if (setup.has_device_expert_budget && !all(setup.device_expert_budget))
    set_int_option(setup.options.get(), TUSK_OPT_DEVICE_EXPERT_BUDGET_BYTES, "--device-expert-budget",
                   static_cast<int64_t>(setup.device_expert_budget.resolve(*expert_bytes_total)));
  return model;
}

Translator create_translator(const TranslatorSetup& setup, tusk_model_t* model) {
  tusk_translator_t* raw = nullptr;
  const tusk_status_t st = tusk_translator_create(model, setup.options.get(), &raw);
  // The expert budget is the option checked against the model here.
  if (st == TUSK_ERROR_INVALID_ARGUMENT && setup.has_expert_budget &&
      library_error(st).find("expert budget") != std::string::npos)
    throw UsageError("--expert-budget " + setup.expert_budget_text + ": " + library_error(st));
  if (st != TUSK_OK) throw std::runtime_error(library_error(st));
  return Translator(raw);
}

}  // namespace tusk_cli
