// Weight quantization for the converter: symmetric int8 and int4 with fp32 scales, and fp16.
//
// A weight w is [n, k] (out_features x in_features, row-major). Scales are per output channel
// (one per row: group = k) or per group of `group` consecutive input columns of a row:
//   stored value   q[r][c] in [-127, 127] (int8) or [-8, 7] (int4)
//   weight         w[r][c] ~ q[r][c] * scale[r][c / group]
// which is what kernels/cpu/quantized_linear.h computes; the bytes are in the stored layout
// (model_format/layout/weight_layout.h; the file stores them as they are).
//
// Scales:
//   int8: max|w| / 127 per group, q = round(w / scale) (half away from zero).
//   int4: the range is asymmetric ([-8, 7]) and only 16 levels are there, so a fixed
//     max|w| / 7 wastes the -8 level and lets one outlier stretch the grid for the whole group.
//     Instead each group tries scales max|w| / d for d = 7, 7.25, ..., 10 (d > 7 clips the
//     largest values a little to place the grid better for the rest), re-fits each candidate
//     by least squares for its rounded q (scale = <w, q> / <q, q>), and keeps the one with the
//     smallest squared error; q is then re-rounded with the kept scale. d = 7 is a candidate
//     and both re-fitting and re-rounding only lower the error, so the result is never worse
//     than max|w| / 7. Measured on all multi30k-moe expert matrices (per output channel,
//     k = 256 and 1024; test RealModel.Int4ScaleSearchBeatsMaxAbsOverSeven): relative RMS error
//     0.1362 with max|w| / 7, 0.1086 with the search (-20%); widening the search to d = 14
//     gains only 0.1078, not worth twice the candidates.
//   An all-zero group gets scale 0 (and q = 0).
// fp16: round to nearest even (float16.h), no scales.
//
// Every quantization reports its error against w: max |w - dequant| and the relative RMS
// ||w - dequant||_2 / ||w||_2.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "model_format/tensor_types.h"

namespace tusk::format {

// How the converter stores a weight matrix.
enum class WeightFormat : uint8_t { F32 = 0, F16 = 1, Int8 = 2, Int4 = 3 };

// "fp32", "fp16", "int8", "int4".
const char* weight_format_name(WeightFormat format);

struct QuantizedWeights {
  DType dtype = DType::F32;  // F16, I8 or I4
  int64_t n = 0, k = 0;
  int64_t group = 0;         // input columns per scale (k: per output channel); 0 for F16
  std::vector<float> scales; // [n, k / group]; empty for F16
  QuantStats stats;          // error against the input weights

  const void* data() const { return data_.get(); }
  size_t bytes() const { return bytes_; }

 private:
  friend QuantizedWeights quantize_weights(WeightFormat, const std::function<void(int64_t, int64_t, float*)>&,
                                           int64_t, int64_t, int64_t, const std::string&);
  struct FreeBytes {
    void operator()(void* p) const;
  };
  std::unique_ptr<void, FreeBytes> data_;  // 64-byte aligned, as packed weights are used
  size_t bytes_ = 0;
};

// Quantizes w [n, k] to F16, Int8 or Int4 (not F32). group_size is the number of input
// columns per scale; 0 means one scale per output channel (group = k); ignored for F16.
// Throws tusk::Error naming `name` when the kernels cannot run the result:
// InvalidArgument when only group_size is at fault (it must divide k, and the kernels want
// multiples of 64 (int4) or 32 (int8)), Unsupported when the shape fails even per channel
// (e.g. int4 needs k % 64 == 0); InvalidArgument for non-finite weights in int8/int4.
QuantizedWeights quantize_weights(WeightFormat format, const float* w, int64_t n, int64_t k,
                                  int64_t group_size, const std::string& name);

// Fills out with rows [first, first + count) of an [n, k] matrix (count * k floats).
using RowReader = std::function<void(int64_t first, int64_t count, float* out)>;

// The same, taking the matrix a block of rows (about 16 MB) at a time from `rows`, so memory
// holds the packed result and one block, never the whole matrix in fp32: how the converter
// quantizes a checkpoint's largest tensors (the 54B's 2 GB embedding) without copying them.
// Same bytes, scales and stats as the pointer form.
QuantizedWeights quantize_weights(WeightFormat format, const RowReader& rows, int64_t n, int64_t k,
                                  int64_t group_size, const std::string& name);

// The shape checks of quantize_weights alone (same errors), so a converter can refuse an
// option before it reads any weight. No-op for F32.
void check_quantizable(WeightFormat format, int64_t n, int64_t k, int64_t group_size,
                       const std::string& name);

// The values a quantized tensor stands for, [n, k] (through weight_layout::unpack_weights).
std::vector<float> dequantize_weights(const QuantizedWeights& q);

// max |a - b| and ||a - b||_2 / ||a||_2 (0 when a is all zeros and b equals it).
QuantStats quantization_error(const float* a, const float* b, size_t count);

// The scale rules for one group of `count` weights, exposed for tests and measurements.
float int8_scale(const float* w, size_t count);
float int4_scale(const float* w, size_t count);          // the search described above
float int4_scale_max_abs(const float* w, size_t count);  // max|w| / 7, for comparison

}  // namespace tusk::format
