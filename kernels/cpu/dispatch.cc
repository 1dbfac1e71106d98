// The one dispatch point: argument checks, per-thread scratch, and the jump to an ISA level.
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>

#include "kernels/cpu/kernel_entry.h"
#include "kernels/cpu/quantized_linear.h"

namespace tusk::kernels {
namespace {

[[noreturn]] void fail(const std::string& what) {
  throw std::invalid_argument("quantized_linear: " + what);
}

// Grows, never shrinks: after the first call of a shape nothing here allocates.
float* scratch(size_t floats) {
  struct Buffer {
    std::unique_ptr<float[]> data;
    size_t capacity = 0;
  };
  thread_local Buffer buffer;
  if (floats == 0) return nullptr;
  constexpr size_t kAlignFloats = 16;  // 64 bytes
  if (floats > buffer.capacity) {
    buffer.data.reset(new float[floats + kAlignFloats]);
    buffer.capacity = floats;
  }
  const auto address = reinterpret_cast<uintptr_t>(buffer.data.get());
  return buffer.data.get() + ((64 - address % 64) % 64) / sizeof(float);
}

}  // namespace

namespace {

void run(Isa isa, const PackedWeights& w, const float* x, int64_t m, int64_t ld_x, const float* bias,
         bool relu, float* y, int64_t ld_y, int threads, bool x16, bool x8 = false) {
  if (!isa_supported(isa)) fail(std::string("ISA level ") + isa_name(isa) + " is not supported by this CPU");
  if (const char* problem = check_shape(w.type, w.n, w.k, w.group)) fail(problem);
  if (m < 0) fail("m must not be negative");
  if (ld_x < w.k) fail("ld_x must be at least k");
  if (ld_y < w.n) fail("ld_y must be at least n");
  if (m == 0) return;
  if (!w.data || !x || !y) fail("null weights, x or y");
  if (w.type != WeightType::F16 && !w.scales) fail("null scales");

  detail::LinearCall call{w, x, m, ld_x, bias, relu, y, ld_y, threads < 1 ? 1 : threads, x16, x8, nullptr};
  call.x16 = detail::uses_x16(call, isa);  // from here on: whether x becomes int16 (or int8, x8)
  call.x8 = call.x16 && x8;
  call.scratch = scratch(detail::gemv_scratch_floats(w, m, call.x16));
  switch (isa) {
    case Isa::Generic: return detail::linear_generic(call);
    case Isa::Avx2: return detail::linear_avx2(call);
    case Isa::Avx512: return detail::linear_avx512(call);
    case Isa::Avx512Vnni: return detail::linear_avx512vnni(call);
  }
}

}  // namespace

void quantized_linear(Isa isa, const PackedWeights& w, const float* x, int64_t m, int64_t ld_x,
                      const float* bias, bool relu, float* y, int64_t ld_y, int threads) {
  run(isa, w, x, m, ld_x, bias, relu, y, ld_y, threads, /*x16=*/false);
}

void quantized_linear_x16(Isa isa, const PackedWeights& w, const float* x, int64_t m, int64_t ld_x,
                          const float* bias, bool relu, float* y, int64_t ld_y, int threads) {
  run(isa, w, x, m, ld_x, bias, relu, y, ld_y, threads, /*x16=*/true);
}

void quantized_linear_x8(Isa isa, const PackedWeights& w, const float* x, int64_t m, int64_t ld_x,
                         const float* bias, bool relu, float* y, int64_t ld_y, int threads) {
  run(isa, w, x, m, ld_x, bias, relu, y, ld_y, threads, /*x16=*/true, /*x8=*/true);
}

}  // namespace tusk::kernels
