#include "model_format/quantize.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <new>

#include "common/error.h"
#include "model_format/layout/weight_layout.h"
#include "model_format/float16.h"
#include "model_format/safetensors.h"  // f16_to_f32

namespace tusk::format {
namespace {

constexpr int kInt8Max = 127;
constexpr int kInt4Min = -8, kInt4Max = 7;
// The int4 scale search: divisors of max|w| from 7 to 10 in steps of 1/4.
constexpr float kInt4FirstDivisor = 7.0f, kInt4DivisorStep = 0.25f;
constexpr int kInt4Divisors = 13;

std::string shape_text(int64_t n, int64_t k) {
  return "[" + std::to_string(n) + ", " + std::to_string(k) + "]";
}

float max_abs(const float* w, size_t count) {
  float m = 0.0f;
  for (size_t i = 0; i < count; ++i) m = std::max(m, std::fabs(w[i]));
  return m;
}

int8_t round_clamped(float x, int lo, int hi) {
  const float r = std::round(x);  // half away from zero, whatever the rounding mode
  return static_cast<int8_t>(std::min<float>(std::max<float>(r, static_cast<float>(lo)), static_cast<float>(hi)));
}

int8_t quantize_value(float w, float scale, int lo, int hi) {
  return scale == 0.0f ? int8_t{0} : round_clamped(w / scale, lo, hi);
}

weight_layout::Layout layout_of(WeightFormat format) {
  switch (format) {
    case WeightFormat::Int8: return weight_layout::Layout::Int8;
    case WeightFormat::Int4: return weight_layout::Layout::Int4;
    default: return weight_layout::Layout::F16;
  }
}

DType dtype_of(WeightFormat format) {
  switch (format) {
    case WeightFormat::Int8: return DType::I8;
    case WeightFormat::Int4: return DType::I4;
    case WeightFormat::F16: return DType::F16;
    case WeightFormat::F32: break;
  }
  return DType::F32;
}

// Columns per scale for group_size (0: the whole row), after checking the layout takes it.
int64_t checked_group(WeightFormat format, int64_t n, int64_t k, int64_t group_size,
                      const std::string& name) {
  const weight_layout::Layout type = layout_of(format);
  const int64_t group = format == WeightFormat::F16 || group_size == 0 ? k : group_size;
  if (group_size < 0) {
    throw Error(ErrorCode::InvalidArgument,
                "group size " + std::to_string(group_size) + " for tensor '" + name + "' is negative");
  }
  const char* problem = weight_layout::check_shape(type, n, k, group);
  if (!problem) return group;
  const std::string what = "tensor '" + name + "' " + shape_text(n, k) + " cannot be stored as " +
                           weight_format_name(format);
  if (group != k && !weight_layout::check_shape(type, n, k, k)) {
    throw Error(ErrorCode::InvalidArgument,
                what + " with groups of " + std::to_string(group) + " input columns: " + problem);
  }
  throw Error(ErrorCode::Unsupported, what + ": " + problem);
}

}  // namespace

void check_quantizable(WeightFormat format, int64_t n, int64_t k, int64_t group_size,
                       const std::string& name) {
  if (format != WeightFormat::F32) checked_group(format, n, k, group_size, name);
}

const char* weight_format_name(WeightFormat format) {
  switch (format) {
    case WeightFormat::F32: return "fp32";
    case WeightFormat::F16: return "fp16";
    case WeightFormat::Int8: return "int8";
    case WeightFormat::Int4: return "int4";
  }
  return "unknown";
}

void QuantizedWeights::FreeBytes::operator()(void* p) const { std::free(p); }

float int8_scale(const float* w, size_t count) {
  return max_abs(w, count) / static_cast<float>(kInt8Max);
}

float int4_scale_max_abs(const float* w, size_t count) {
  return max_abs(w, count) / static_cast<float>(kInt4Max);
}

float int4_scale(const float* w, size_t count) {
  const float m = max_abs(w, count);
  if (m == 0.0f) return 0.0f;
  double sum_ww = 0.0;
  for (size_t i = 0; i < count; ++i) sum_ww += static_cast<double>(w[i]) * w[i];
  float best_scale = m / static_cast<float>(kInt4Max);
  double best_error = INFINITY;
  for (int d = 0; d < kInt4Divisors; ++d) {
    const float scale = m / (kInt4FirstDivisor + kInt4DivisorStep * static_cast<float>(d));
    double sum_wq = 0.0, sum_qq = 0.0;
    for (size_t i = 0; i < count; ++i) {
      const double q = round_clamped(w[i] / scale, kInt4Min, kInt4Max);
      sum_wq += w[i] * q;
      sum_qq += q * q;
    }
    if (sum_qq == 0.0) continue;
    // For these q, the best scale is <w, q> / <q, q>, with squared error
    // <w, w> - <w, q>^2 / <q, q>.
    const double error = sum_ww - sum_wq * sum_wq / sum_qq;
    if (error < best_error) {
      best_error = error;
      best_scale = static_cast<float>(sum_wq / sum_qq);
    }
  }
  return best_scale;
}

namespace {

// Running max |a - b| and relative RMS, element by element in index order (so quantizing row
// by row gives the same bits as one pass over the whole matrix).
class ErrorAccumulator {
 public:
  void add(float a, float b) {
    const double d = static_cast<double>(a) - static_cast<double>(b);
    // NaN-aware max: a NaN or inf difference must show, not vanish in std::max.
    if (!(std::fabs(d) <= max_error_)) max_error_ = std::fabs(d);
    sum_dd_ += d * d;
    sum_aa_ += static_cast<double>(a) * a;
  }
  QuantStats result() const {
    QuantStats s;
    s.max_abs_error = static_cast<float>(max_error_);
    s.relative_rms = sum_aa_ > 0.0 ? static_cast<float>(std::sqrt(sum_dd_ / sum_aa_))
                                   : (sum_dd_ > 0.0 ? INFINITY : 0.0f);
    return s;
  }

 private:
  double max_error_ = 0.0, sum_dd_ = 0.0, sum_aa_ = 0.0;
};

}  // namespace

QuantStats quantization_error(const float* a, const float* b, size_t count) {
  ErrorAccumulator e;
  for (size_t i = 0; i < count; ++i) e.add(a[i], b[i]);
  return e.result();
}

QuantizedWeights quantize_weights(WeightFormat format, const float* w, int64_t n, int64_t k,
                                  int64_t group_size, const std::string& name) {
  const RowReader rows = [&](int64_t first, int64_t count, float* out) {
    const size_t begin = static_cast<size_t>(first) * static_cast<size_t>(k);
    std::copy(w + begin, w + begin + static_cast<size_t>(count) * static_cast<size_t>(k), out);
  };
  return quantize_weights(format, rows, n, k, group_size, name);
}

QuantizedWeights quantize_weights(WeightFormat format, const RowReader& rows, int64_t n, int64_t k,
                                  int64_t group_size, const std::string& name) {
  if (format == WeightFormat::F32) {
    throw Error(ErrorCode::Internal, "quantize_weights: tensor '" + name + "' asked for fp32");
  }
  const int64_t group = checked_group(format, n, k, group_size, name);
  const weight_layout::Layout type = layout_of(format);

  QuantizedWeights out;
  out.dtype = dtype_of(format);
  out.n = n;
  out.k = k;
  out.bytes_ = weight_layout::packed_bytes(type, n, k);
  // aligned_alloc wants a multiple of the alignment.
  out.data_.reset(std::aligned_alloc(64, (out.bytes_ + 63) / 64 * 64));
  if (!out.data_) throw std::bad_alloc();

  // Row by row (the packed layouts keep each row's bytes together), a block of rows read at a
  // time: memory holds the packed output and one block of the input.
  const size_t row_bytes = weight_layout::packed_bytes(type, 1, k);
  auto* packed = static_cast<unsigned char*>(out.data_.get());
  const int64_t block_rows = std::max<int64_t>(1, (int64_t{16} << 20) / (k * static_cast<int64_t>(sizeof(float))));
  std::vector<float> block(static_cast<size_t>(std::min(block_rows, n) * k));
  const bool int4 = format == WeightFormat::Int4;
  const int lo = int4 ? kInt4Min : -kInt8Max, hi = int4 ? kInt4Max : kInt8Max;
  const int64_t groups = format == WeightFormat::F16 ? 0 : k / group;
  if (format != WeightFormat::F16) {
    out.group = group;
    out.scales.resize(static_cast<size_t>(n * groups));
  }
  std::vector<uint16_t> halves(format == WeightFormat::F16 ? static_cast<size_t>(k) : 0);
  std::vector<int8_t> q(format == WeightFormat::F16 ? 0 : static_cast<size_t>(k));
  ErrorAccumulator error;
  for (int64_t first = 0; first < n; first += block_rows) {
    const int64_t count = std::min(block_rows, n - first);
    rows(first, count, block.data());
    for (int64_t b = 0; b < count; ++b) {
      const int64_t r = first + b;
      const float* row = block.data() + static_cast<size_t>(b) * static_cast<size_t>(k);
      unsigned char* dst = packed + static_cast<size_t>(r) * row_bytes;
      if (format == WeightFormat::F16) {
        for (int64_t c = 0; c < k; ++c) {
          halves[c] = f32_to_f16(row[c]);
          error.add(row[c], f16_to_f32(halves[c]));
        }
        weight_layout::pack_weights(type, halves.data(), 1, k, dst);
        continue;
      }
      for (int64_t c = 0; c < k; ++c) {
        if (!std::isfinite(row[c])) {
          throw Error(ErrorCode::InvalidArgument, "tensor '" + name + "' holds a non-finite value at element " +
                                                      std::to_string(r * k + c) + "; it cannot be quantized to " +
                                                      weight_format_name(format));
        }
      }
      for (int64_t g = 0; g < groups; ++g) {
        const float* chunk = row + g * group;
        const float scale = int4 ? int4_scale(chunk, static_cast<size_t>(group))
                                 : int8_scale(chunk, static_cast<size_t>(group));
        out.scales[static_cast<size_t>(r * groups + g)] = scale;
        for (int64_t c = g * group; c < (g + 1) * group; ++c) {
          q[c] = quantize_value(row[c], scale, lo, hi);
          error.add(row[c], static_cast<float>(q[c]) * scale);  // as kernels dequantize
        }
      }
      weight_layout::pack_weights(type, q.data(), 1, k, dst);
    }
  }
  out.stats = error.result();
  return out;
}

std::vector<float> dequantize_weights(const QuantizedWeights& q) {
  const size_t count = static_cast<size_t>(q.n) * static_cast<size_t>(q.k);
  std::vector<float> out(count);
  if (q.dtype == DType::F16) {
    std::vector<uint16_t> halves(count);
    weight_layout::unpack_weights(weight_layout::Layout::F16, q.data(), q.n, q.k, halves.data());
    for (size_t i = 0; i < count; ++i) out[i] = f16_to_f32(halves[i]);
    return out;
  }
  weight_layout::Layout type = weight_layout::Layout::Int8;
  packed_layout(q.dtype, &type);
  std::vector<int8_t> values(count);
  weight_layout::unpack_weights(type, q.data(), q.n, q.k, values.data());
  const int64_t groups = q.k / q.group;
  for (int64_t r = 0; r < q.n; ++r) {
    for (int64_t c = 0; c < q.k; ++c) {
      const size_t i = static_cast<size_t>(r * q.k + c);
      out[i] = static_cast<float>(values[i]) * q.scales[static_cast<size_t>(r * groups + c / q.group)];
    }
  }
  return out;
}

}  // namespace tusk::format
