#include "model_format/quantized_tensors.h"

#include <algorithm>

#include "model_format/metadata_reader.h"

namespace tusk::format {
namespace {

constexpr std::string_view kScalesSuffix = ".scales";

std::string shape_text(const std::vector<int64_t>& shape) {
  std::string out = "[";
  for (size_t i = 0; i < shape.size(); ++i) out += (i ? ", " : "") + std::to_string(shape[i]);
  return out + "]";
}

std::string quoted(std::string_view name) { return "'" + printable_name(name) + "'"; }

bool ends_with_scales(std::string_view name) {
  return name.size() > kScalesSuffix.size() &&
         name.substr(name.size() - kScalesSuffix.size()) == kScalesSuffix;
}

// Checks one quantized weight against its scales companion (null when missing).
std::string check_weight(const TensorShapeRef& w, weight_layout::Layout type,
                         const TensorShapeRef* scales) {
  const std::string what = std::string(dtype_name(w.dtype)) + " tensor " + quoted(w.name);
  const std::vector<int64_t>& shape = *w.shape;
  if (shape.size() != 2) {
    return what + " has shape " + shape_text(shape) + ", but quantized weights are matrices [n, k]";
  }
  const int64_t n = shape[0], k = shape[1];
  const std::string companion = quoted(scales_name(w.name));
  if (!scales) return what + " has no scales tensor " + companion;
  if (scales->dtype != DType::F32) {
    return "scales tensor " + companion + " is " + dtype_name(scales->dtype) + ", must be f32";
  }
  const std::vector<int64_t>& s = *scales->shape;
  if (s.size() != 2 || s[0] != n || k % s[1] != 0) {
    return "scales tensor " + companion + " has shape " + shape_text(s) + ", but " + what + " " +
           shape_text(shape) + " needs [" + std::to_string(n) +
           ", k / group] with a group size dividing k = " + std::to_string(k);
  }
  const int64_t group = k / s[1];
  if (const char* problem = weight_layout::check_shape(type, n, k, group)) {
    return what + " " + shape_text(shape) + " with groups of " + std::to_string(group) +
           " columns is not a valid stored layout: " + problem;
  }
  // The file sized the tensor with dtype_bytes; the layout needs packed_bytes.
  if (dtype_bytes(w.dtype, static_cast<size_t>(n) * static_cast<size_t>(k)) !=
      weight_layout::packed_bytes(type, n, k)) {
    return what + " " + shape_text(shape) + " is not sized as its layout packs it";
  }
  return "";
}

}  // namespace

std::string scales_name(std::string_view weight) {
  return std::string(weight) + std::string(kScalesSuffix);
}


std::string check_quantized_tensors(const std::vector<TensorShapeRef>& tensors) {
  std::vector<const TensorShapeRef*> sorted;
  sorted.reserve(tensors.size());
  for (const TensorShapeRef& t : tensors) sorted.push_back(&t);
  std::sort(sorted.begin(), sorted.end(),
            [](const TensorShapeRef* a, const TensorShapeRef* b) { return a->name < b->name; });
  auto find = [&](std::string_view name) -> const TensorShapeRef* {
    const auto it = std::lower_bound(sorted.begin(), sorted.end(), name,
                                     [](const TensorShapeRef* t, std::string_view n) { return t->name < n; });
    return it != sorted.end() && (*it)->name == name ? *it : nullptr;
  };

  for (const TensorShapeRef& t : tensors) {
    if (ends_with_scales(t.name)) {
      const std::string_view base = t.name.substr(0, t.name.size() - kScalesSuffix.size());
      const TensorShapeRef* weight = find(base);
      if (!weight) {
        return "scales tensor " + quoted(t.name) + " belongs to no tensor " + quoted(base);
      }
      if (weight->dtype != DType::I4 && weight->dtype != DType::I8) {
        return std::string(dtype_name(weight->dtype)) + " tensor " + quoted(base) +
               " takes no scales, but " + quoted(t.name) + " exists";
      }
    }
    weight_layout::Layout type;
    if (packed_layout(t.dtype, &type) && type != weight_layout::Layout::F16) {
      const std::string problem = check_weight(t, type, find(scales_name(t.name)));
      if (!problem.empty()) return problem;
    }
  }
  return "";
}

}  // namespace tusk::format
