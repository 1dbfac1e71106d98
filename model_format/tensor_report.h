// The per-tensor part of `tusk inspect --verbose`, built from the metadata alone (no weight is
// read or decoded): the quantization summary, one line per tensor (name, dtype, shape, group,
// quantization error, bytes), and totals per dtype.
#pragma once

#include <string>

#include "model_format/model_file.h"

namespace tusk::format {

std::string describe_tensors(const ModelFile& file);

}  // namespace tusk::format
