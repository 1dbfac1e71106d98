#include "options.h"

#include <limits>

namespace tusk::capi {

namespace {

OptionSpec int_option(int64_t min, int64_t max, int64_t def) { return {false, min, max, def, 0, 0, 0}; }
OptionSpec float_option(double min, double max, double def) { return {true, 0, 0, 0, min, max, def}; }

// The runaway guards' defaults, chosen by measurement (bench/guards.py; bench/README.md,
// "Runaway guards"): on Multi30k val they change no direction's BLEU by less than -0.02 and
// 7% of the outputs; the repetition penalty (-0.23 on cs->en at 1.1) stays off.
constexpr int64_t kDefaultNoRepeatNgram = 4;
constexpr int64_t kDefaultMaxLengthOffset = 10;
constexpr double kDefaultMaxLengthRatio = 2.0;
constexpr double kDefaultRepetitionPenalty = 1.0;

}  // namespace

const std::map<int, OptionSpec>& option_specs() {
  static const std::map<int, OptionSpec> specs = {
      {TUSK_OPT_THREADS, int_option(0, 4096, 0)},
      {TUSK_OPT_BEAM_SIZE, int_option(1, 256, 1)},
      {TUSK_OPT_MAX_DECODING_LENGTH, int_option(0, 1 << 20, 256)},
      {TUSK_OPT_MIN_DECODING_LENGTH, int_option(0, 1 << 20, 0)},
      {TUSK_OPT_INT8_ACTIVATIONS, int_option(0, 1, 0)},
      {TUSK_OPT_MAX_BATCH_SIZE, int_option(1, 1 << 20, 32)},
      {TUSK_OPT_MAX_BATCH_TOKENS, int_option(1, 1 << 30, 4096)},
      {TUSK_OPT_TRUNCATE_INPUT, int_option(0, 1, 0)},
      {TUSK_OPT_VERIFY_CHECKSUMS, int_option(0, 1, 1)},
      {TUSK_OPT_EXPERT_BUDGET_BYTES, int_option(0, std::numeric_limits<int64_t>::max(), 0)},
      {TUSK_OPT_DEVICE, int_option(TUSK_DEVICE_CPU, TUSK_DEVICE_CUDA, TUSK_DEVICE_CPU)},
      {TUSK_OPT_DEVICE_INDEX, int_option(0, 1024, 0)},
      {TUSK_OPT_COMPUTE_TYPE, int_option(TUSK_COMPUTE_FP32, TUSK_COMPUTE_BF16, TUSK_COMPUTE_FP32)},
      {TUSK_OPT_DEVICE_EXPERT_BUDGET_BYTES, int_option(0, std::numeric_limits<int64_t>::max(), 0)},
      {TUSK_OPT_NO_REPEAT_NGRAM_SIZE, int_option(0, 64, kDefaultNoRepeatNgram)},
      {TUSK_OPT_MAX_LENGTH_OFFSET, int_option(0, 1 << 20, kDefaultMaxLengthOffset)},
      {TUSK_OPT_PER_SENTENCE_ERRORS, int_option(0, 1, 0)},
      {TUSK_OPT_NUM_HYPOTHESES, int_option(1, 256, 1)},
      {TUSK_OPT_MAP_MODEL, int_option(0, 1, 0)},
      {TUSK_OPT_ZSTD_LEVEL, int_option(1, 19, 3)},
      {TUSK_OPT_EXPERT_WEIGHTS, int_option(TUSK_WEIGHTS_FP32, TUSK_WEIGHTS_INT4, TUSK_WEIGHTS_FP32)},
      {TUSK_OPT_DENSE_WEIGHTS, int_option(TUSK_WEIGHTS_FP32, TUSK_WEIGHTS_INT4, TUSK_WEIGHTS_FP32)},
      {TUSK_OPT_GROUP_SIZE, int_option(0, 1 << 30, 0)},
      {TUSK_OPT_EXPERT_EVICTION,
       int_option(TUSK_EVICTION_LRU, TUSK_EVICTION_NONE, TUSK_EVICTION_LAYER_DISTANCE)},
      {TUSK_OPT_EXPERT_PREFETCH, int_option(0, 1, 1)},
      {TUSK_OPT_EXPERT_DIRECT_IO, int_option(0, 1, 0)},
      {TUSK_OPT_LENGTH_PENALTY, float_option(0.0, 10.0, 0.0)},
      {TUSK_OPT_MAX_LENGTH_RATIO, float_option(0.0, 100.0, kDefaultMaxLengthRatio)},
      {TUSK_OPT_REPETITION_PENALTY, float_option(1.0, 10.0, kDefaultRepetitionPenalty)},
  };
  return specs;
}

std::string option_name(tusk_option_t key) {
#define TUSK_OPTION_NAME(k) \
  case k:                   \
    return #k;
  switch (key) {
    TUSK_OPTION_NAME(TUSK_OPT_THREADS)
    TUSK_OPTION_NAME(TUSK_OPT_BEAM_SIZE)
    TUSK_OPTION_NAME(TUSK_OPT_MAX_DECODING_LENGTH)
    TUSK_OPTION_NAME(TUSK_OPT_MAX_BATCH_SIZE)
    TUSK_OPTION_NAME(TUSK_OPT_MAX_BATCH_TOKENS)
    TUSK_OPTION_NAME(TUSK_OPT_TRUNCATE_INPUT)
    TUSK_OPTION_NAME(TUSK_OPT_VERIFY_CHECKSUMS)
    TUSK_OPTION_NAME(TUSK_OPT_EXPERT_BUDGET_BYTES)
    TUSK_OPTION_NAME(TUSK_OPT_DEVICE)
    TUSK_OPTION_NAME(TUSK_OPT_ZSTD_LEVEL)
    TUSK_OPTION_NAME(TUSK_OPT_EXPERT_WEIGHTS)
    TUSK_OPTION_NAME(TUSK_OPT_DENSE_WEIGHTS)
    TUSK_OPTION_NAME(TUSK_OPT_GROUP_SIZE)
    TUSK_OPTION_NAME(TUSK_OPT_EXPERT_EVICTION)
    TUSK_OPTION_NAME(TUSK_OPT_EXPERT_PREFETCH)
    TUSK_OPTION_NAME(TUSK_OPT_EXPERT_DIRECT_IO)
    TUSK_OPTION_NAME(TUSK_OPT_MIN_DECODING_LENGTH)
    TUSK_OPTION_NAME(TUSK_OPT_INT8_ACTIVATIONS)
    TUSK_OPTION_NAME(TUSK_OPT_DEVICE_INDEX)
    TUSK_OPTION_NAME(TUSK_OPT_COMPUTE_TYPE)
    TUSK_OPTION_NAME(TUSK_OPT_DEVICE_EXPERT_BUDGET_BYTES)
    TUSK_OPTION_NAME(TUSK_OPT_NO_REPEAT_NGRAM_SIZE)
    TUSK_OPTION_NAME(TUSK_OPT_MAX_LENGTH_OFFSET)
    TUSK_OPTION_NAME(TUSK_OPT_PER_SENTENCE_ERRORS)
    TUSK_OPTION_NAME(TUSK_OPT_NUM_HYPOTHESES)
    TUSK_OPTION_NAME(TUSK_OPT_MAP_MODEL)
    TUSK_OPTION_NAME(TUSK_OPT_LENGTH_PENALTY)
    TUSK_OPTION_NAME(TUSK_OPT_MAX_LENGTH_RATIO)
    TUSK_OPTION_NAME(TUSK_OPT_REPETITION_PENALTY)
    default:
      break;
  }
#undef TUSK_OPTION_NAME
  return "option " + std::to_string(static_cast<int>(key));
}

const OptionSpec* find_option(tusk_option_t key) {
  const auto& specs = option_specs();
  auto it = specs.find(key);
  return it == specs.end() ? nullptr : &it->second;
}

}  // namespace tusk::capi

int64_t tusk_options_t::get_int(tusk_option_t key) const {
  auto it = ints.find(key);
  return it != ints.end() ? it->second : tusk::capi::find_option(key)->int_default;
}

double tusk_options_t::get_float(tusk_option_t key) const {
  auto it = floats.find(key);
  return it != floats.end() ? it->second : tusk::capi::find_option(key)->float_default;
}
