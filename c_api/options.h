// The options object behind tusk_options_t: typed values with defaults and range checks.
#pragma once

#include <cstdint>
#include <map>

#include "tusk/tusk.h"

namespace tusk::capi {

struct OptionSpec {
  bool is_float;
  double min, max, default_value;
};

// Every option the ABI knows; unknown keys are rejected.
const std::map<int, OptionSpec>& option_specs();

}  // namespace tusk::capi

struct tusk_options_t {
  std::map<int, double> values;  // only explicitly set options

  double get(tusk_option_t key) const;
  int64_t get_int(tusk_option_t key) const { return static_cast<int64_t>(get(key)); }
};
