// Scalar facts about the packed layouts, for the generic kernels and the scalar tails of the
// SIMD kernels: the layout library's own (model_format/layout/layout_facts.h), named here
// in the kernels' namespace. Internal linkage throughout, as there (ISA-flagged units).
#pragma once

#include "model_format/layout/layout_facts.h"

namespace tusk::kernels {
namespace {

using weight_layout::half_to_float;
using weight_layout::int4_byte;
using weight_layout::int4_shift;
using weight_layout::int4_value;
using weight_layout::kInt4BlockBytes;
using weight_layout::kInt4BlockCols;
using weight_layout::kInt4Offset;
using weight_layout::scale_index;

}  // namespace
}  // namespace tusk::kernels
