// The options object behind tusk_options_t: typed values with defaults and range checks.
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "tusk/tusk.h"

namespace tusk::capi {

struct OptionSpec {
  bool is_float;
  // Integer options use the int64 bounds (exact for byte counts), float options the double ones.
  int64_t int_min, int_max, int_default;
  double float_min, float_max, float_default;
};

// Every option the ABI knows; unknown keys are rejected.
const std::map<int, OptionSpec>& option_specs();
const OptionSpec* find_option(tusk_option_t key);
// The option's tusk.h name ("TUSK_OPT_BEAM_SIZE"), or "option N" for a key the ABI lacks.
std::string option_name(tusk_option_t key);

}  // namespace tusk::capi

struct tusk_options_t {
  // Only explicitly set options; everything else reads its default.
  std::map<int, int64_t> ints;
  std::map<int, double> floats;

  int64_t get_int(tusk_option_t key) const;
  double get_float(tusk_option_t key) const;
};
