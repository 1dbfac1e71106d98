// Portable kernels: plain C++ (the compiler may use the x86-64 baseline SSE2, nothing more).
// They run on any CPU and double as the simplest statement of what the SIMD levels compute.
#include <cstdint>

#include "kernels/cpu/linear_driver.h"
#include "kernels/cpu/weight_format.h"
#include "kernels/cpu/x16_prep.h"

namespace tusk::kernels::detail {
namespace {

constexpr int kChunk = 64;  // columns dequantized at a time (one Int4 block)

// out[0..len) = unscaled values of w[row][col..col+len).
void load_values(const PackedWeights& w, int64_t row, int64_t col, int len, float* out) {
  switch (w.type) {
    case WeightType::Int4: {
      const auto* bytes = static_cast<const uint8_t*>(w.data) + row * (w.k / 2);
      for (int j = 0; j < len; ++j) out[j] = static_cast<float>(int4_value(bytes, col + j));
      return;
    }
    case WeightType::Int8: {
      const auto* q = static_cast<const int8_t*>(w.data) + row * w.k + col;
      for (int j = 0; j < len; ++j) out[j] = q[j];
      return;
    }
    case WeightType::F16: {
      const auto* h = static_cast<const uint16_t*>(w.data) + row * w.k + col;
      for (int j = 0; j < len; ++j) out[j] = half_to_float(h[j]);
      return;
    }
  }
}

// Eight partial sums so the compiler can vectorize without reassociating.
float dot(const float* a, const float* b, int len) {
  float part[8] = {};
  int j = 0;
  for (; j + 8 <= len; j += 8)
    for (int l = 0; l < 8; ++l) part[l] += a[j + l] * b[j + l];
  float s = 0.0f;
  for (; j < len; ++j) s += a[j] * b[j];
  for (int l = 0; l < 8; ++l) s += part[l];
  return s;
}

struct GenericPolicy {
  static constexpr int kNr = 8, kMr = 4;
  struct GemvPrep {};
  static GemvPrep gemv_prepare(const LinearCall&) { return {}; }

  static void gemv_rows(const LinearCall& c, const GemvPrep&, int64_t r0, int64_t r1) {
    const PackedWeights& w = c.w;
    const bool scaled = w.type != WeightType::F16;
    const int64_t group = scaled ? w.group : w.k;
    float values[kChunk];
    for (int64_t r = r0; r < r1; ++r) {
      float out[kGemvMaxRows] = {};
      for (int64_t g0 = 0; g0 < w.k; g0 += group) {
        float part[kGemvMaxRows] = {};
        for (int64_t col = g0; col < g0 + group; col += kChunk) {
          const int len = static_cast<int>(min64(kChunk, g0 + group - col));
          load_values(w, r, col, len, values);
          for (int64_t i = 0; i < c.m; ++i) part[i] += dot(values, c.x + i * c.ld_x + col, len);
        }
        const float scale = scaled ? w.scales[r * (w.k / group) + g0 / group] : 1.0f;
        for (int64_t i = 0; i < c.m; ++i) out[i] += scale * part[i];
      }
      for (int64_t i = 0; i < c.m; ++i) {
        float v = out[i] + (c.bias ? c.bias[r] : 0.0f);
        if (c.relu) v = v > 0.0f ? v : 0.0f;
        c.y[i * c.ld_y + r] = v;
      }
    }
  }

  // x16: exact integer dot products per group (int64), then scales.
  static X16Prep x16_prepare(const LinearCall& c) { return prepare_x16(c, /*int4_block_order=*/false); }
  static void x16_rows(const LinearCall& c, const X16Prep& p, int64_t r0, int64_t r1) {
    const PackedWeights& w = c.w;
    const int64_t groups = w.k / w.group;
    for (int64_t r = r0; r < r1; ++r) {
      const auto* row = static_cast<const uint8_t*>(w.data) + r * (w.type == WeightType::Int4 ? w.k / 2 : w.k);
      for (int64_t i = 0; i < c.m; ++i) {
        const int16_t* xq = p.x + i * p.ld_x;
        double out = 0.0;
        for (int64_t g = 0; g < groups; ++g) {
          int64_t dot = 0;
          for (int64_t col = g * w.group; col < (g + 1) * w.group; ++col) {
            const int q = w.type == WeightType::Int4 ? int4_value(row, col) : static_cast<int8_t>(row[col]);
            dot += int64_t{xq[col]} * q;
          }
          out += static_cast<double>(w.scales[r * groups + g]) * static_cast<double>(dot);
        }
        float v = static_cast<float>(out * p.scale[i]) + (c.bias ? c.bias[r] : 0.0f);
        if (c.relu) v = v > 0.0f ? v : 0.0f;
        c.y[i * c.ld_y + r] = v;
      }
    }
  }

  static void dequant_panel(const PackedWeights& w, int64_t r0, int nr, int64_t c0, int64_t kc, float* panel) {
    const bool scaled = w.type != WeightType::F16;
    float values[kChunk];
    for (int j = 0; j < kNr; ++j) {
      for (int64_t p = 0; p < kc; p += kChunk) {
        const int len = static_cast<int>(min64(kChunk, kc - p));
        if (j >= nr) {  // past the last weight row: zeros, and no reads of its (absent) scales
          for (int l = 0; l < len; ++l) panel[(p + l) * kNr + j] = 0.0f;
          continue;
        }
        load_values(w, r0 + j, c0 + p, len, values);
        for (int l = 0; l < len; ++l) {
          const int64_t col = c0 + p + l;
          const float scale = scaled ? w.scales[scale_index(r0 + j, col, w.k, w.group)] : 1.0f;
          panel[(p + l) * kNr + j] = values[l] * scale;
        }
      }
    }
  }

  static void micro(int mr, const MicroArgs& a) {
    float acc[kMr][kNr];
    for (int i = 0; i < mr; ++i)
      for (int j = 0; j < kNr; ++j)
        acc[i][j] = a.first ? (a.bias && j < a.nr ? a.bias[j] : 0.0f) : (j < a.nr ? a.y[i * a.ld_y + j] : 0.0f);
    for (int64_t p = 0; p < a.kc; ++p) {
      const float* w = a.panel + p * kNr;
      for (int i = 0; i < mr; ++i) {
        const float xv = a.x[i * a.ld_x + p];
        for (int j = 0; j < kNr; ++j) acc[i][j] += xv * w[j];
      }
    }
    for (int i = 0; i < mr; ++i)
      for (int j = 0; j < a.nr; ++j) {
        const float v = acc[i][j];
        a.y[i * a.ld_y + j] = a.last && a.relu ? (v > 0.0f ? v : 0.0f) : v;
      }
  }
};

}  // namespace

void linear_generic(const LinearCall& call) { run_linear<GenericPolicy>(call); }

}  // namespace tusk::kernels::detail
