#include "options.h"

namespace tusk::capi {

const std::map<int, OptionSpec>& option_specs() {
  static const std::map<int, OptionSpec> specs = {
      {TUSK_OPT_THREADS, {false, 0, 4096, 0}},
      {TUSK_OPT_BEAM_SIZE, {false, 1, 256, 1}},
      {TUSK_OPT_MAX_DECODING_LENGTH, {false, 0, 1 << 20, 256}},
      {TUSK_OPT_MAX_BATCH_SIZE, {false, 1, 1 << 20, 32}},
      {TUSK_OPT_MAX_BATCH_TOKENS, {false, 1, 1 << 30, 4096}},
      {TUSK_OPT_TRUNCATE_INPUT, {false, 0, 1, 0}},
      {TUSK_OPT_VERIFY_CHECKSUMS, {false, 0, 1, 1}},
      {TUSK_OPT_EXPERT_BUDGET_MB, {false, 0, 1 << 30, 0}},
      {TUSK_OPT_DEVICE, {false, TUSK_DEVICE_CPU, TUSK_DEVICE_CUDA, TUSK_DEVICE_CPU}},
      {TUSK_OPT_ZSTD_LEVEL, {false, 1, 19, 3}},
      {TUSK_OPT_LENGTH_PENALTY, {true, 0.0, 10.0, 0.0}},
  };
  return specs;
}

}  // namespace tusk::capi

double tusk_options_t::get(tusk_option_t key) const {
  auto it = values.find(key);
  if (it != values.end()) return it->second;
  return tusk::capi::option_specs().at(key).default_value;
}
