#include "sdk/weight_views.h"

#include <algorithm>
#include <sstream>

#include "common/error.h"

namespace tusk::sdk {

namespace {

std::string shape_text(const std::vector<int64_t>& shape) {
  std::ostringstream o;
  o << "[";
  for (size_t i = 0; i < shape.size(); ++i) o << (i ? "," : "") << shape[i];
  o << "]";
  return o.str();
}

}  // namespace

void WeightViews::fail(ErrorCode code, const std::string& message) const {
  throw Error(code, where_ + ": " + message);
}

const format::TensorView* WeightViews::find(const std::string& name) const {
  // The model file keeps its tensors sorted by name; expert frames hold four or eight.
  auto it = std::find_if(tensors_.begin(), tensors_.end(),
                         [&](const auto& entry) { return entry.first == name; });
  return it == tensors_.end() ? nullptr : &it->second;
}

const format::TensorView& WeightViews::get(const std::string& name) const {
  const auto* t = find(name);
  if (!t) fail(ErrorCode::InvalidModel, "tensor '" + name + "' is missing");
  return *t;
}

const float* WeightViews::f32(const std::string& name, const std::vector<int64_t>& shape) const {
  const auto& t = get(name);
  if (t.dtype != format::DType::F32)
    fail(ErrorCode::Unsupported, "tensor '" + name + "' is " + format::dtype_name(t.dtype) +
                                     "; the engine needs it in F32");
  if (t.shape != shape)
    fail(ErrorCode::InvalidModel, "tensor '" + name + "' has shape " + shape_text(t.shape) +
                                      ", the architecture needs " + shape_text(shape));
  return t.f32();
}

MatrixWeights WeightViews::matrix(const std::string& name, int64_t out, int64_t in) const {
  const auto& t = get(name);
  MatrixWeights m;
  m.out = out;
  m.in = in;
  if (t.shape != std::vector<int64_t>{out, in})
    fail(ErrorCode::InvalidModel, "tensor '" + name + "' has shape " + shape_text(t.shape) +
                                      ", the architecture needs " + shape_text({out, in}));
  if (t.dtype == format::DType::F32) {
    m.f32 = t.f32();
    return m;
  }
  // Backends read the stored layout the file records.
  if (!t.layout)
    fail(ErrorCode::Unsupported, "tensor '" + name + "' is " + format::dtype_name(t.dtype) +
                                     ", which the engine does not run");
  const weight_layout::Layout type = *t.layout;
  int64_t group = in;
  const float* scales = nullptr;
  if (type != weight_layout::Layout::F16) {
    const auto& s = get(name + ".scales");
    if (s.dtype != format::DType::F32 || s.shape.size() != 2 || s.shape[0] != out ||
        s.shape[1] <= 0 || in % s.shape[1] != 0)
      fail(ErrorCode::InvalidModel, "tensor '" + name + ".scales' must be F32 [" +
                                        std::to_string(out) + ", in / group]");
    group = in / s.shape[1];
    scales = s.f32();
  }
  if (const char* problem = weight_layout::check_shape(type, out, in, group))
    fail(ErrorCode::InvalidModel, "tensor '" + name + "': " + problem);
  if (t.bytes != weight_layout::packed_bytes(type, out, in))
    fail(ErrorCode::InvalidModel, "tensor '" + name + "' has the wrong byte size for its type");
  m.packed = {type, t.data, scales, out, in, group};
  return m;
}

}  // namespace tusk::sdk
