#include "model_format/tensor_report.h"

#include <algorithm>
#include <cstdio>
#include <map>

#include "model_format/metadata_reader.h"  // printable_name
#include "model_format/quantized_tensors.h"

namespace tusk::format {
namespace {

std::string shape_text(const std::vector<int64_t>& shape) {
  std::string out = "[";
  for (size_t i = 0; i < shape.size(); ++i) out += (i ? ", " : "") + std::to_string(shape[i]);
  return out + "]";
}

// Input columns per scale of a quantized weight, "row" for one scale per output channel,
// "-" for tensors without scales.
std::string group_text(const TensorInfo& t, const std::map<std::string, const TensorInfo*>& by_name) {
  if (t.dtype != DType::I4 && t.dtype != DType::I8) return "-";
  const auto it = by_name.find(scales_name(t.name));
  if (it == by_name.end()) return "?";  // the reader refuses such files; be safe anyway
  const int64_t k = t.shape[1], groups = it->second->shape[1];
  return groups == 1 ? "row" : std::to_string(k / groups);
}

std::string number(const char* format, double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, format, v);
  return buf;
}

struct Totals {
  uint64_t tensors = 0, bytes = 0;
};

}  // namespace

std::string describe_tensors(const ModelFile& file) {
  const std::vector<TensorInfo> infos = file.tensor_infos();
  std::map<std::string, const TensorInfo*> by_name;
  size_t name_width = 4;
  for (const TensorInfo& t : infos) {
    by_name[t.name] = &t;
    name_width = std::max(name_width, printable_name(t.name).size());
  }

  std::string o = "quantization:  " + (file.quantization().empty() ? std::string("(not recorded)")
                                                                   : file.quantization()) + "\n";
  o += "tensors (group: input columns per scale, row = one per output channel; errors against "
       "the converted fp32 weights):\n";
  char line[512];
  const int w = static_cast<int>(name_width);
  std::snprintf(line, sizeof line, "  %-*s  %-5s  %-14s  %-5s  %-11s  %-11s  %s\n", w, "name", "dtype",
                "shape", "group", "max abs err", "rel RMS", "bytes");
  o += line;

  std::map<std::string, Totals> totals;  // by dtype name
  const TensorInfo* worst = nullptr;
  for (const TensorInfo& t : infos) {
    const std::string max_abs = t.stats ? number("%.4g", t.stats->max_abs_error) : "-";
    const std::string rms = t.stats ? number("%.4g", t.stats->relative_rms) : "-";
    std::snprintf(line, sizeof line, "  %-*s  %-5s  %-14s  %-5s  %-11s  %-11s  %llu\n", w,
                  printable_name(t.name).c_str(), dtype_name(t.dtype), shape_text(t.shape).c_str(),
                  group_text(t, by_name).c_str(), max_abs.c_str(), rms.c_str(),
                  static_cast<unsigned long long>(t.bytes));
    o += line;
    Totals& sum = totals[dtype_name(t.dtype)];
    ++sum.tensors;
    sum.bytes += t.bytes;
    if (t.stats && (!worst || !(t.stats->relative_rms <= worst->stats->relative_rms))) worst = &t;
  }

  o += "totals by dtype:\n";
  for (const auto& [dtype, sum] : totals) {
    o += "  " + dtype + ": " + std::to_string(sum.tensors) + " tensors, " + std::to_string(sum.bytes) +
         " bytes\n";
  }
  if (worst) {
    o += "largest relative RMS error: " + number("%.4g", worst->stats->relative_rms) + " (" +
         printable_name(worst->name) + ")\n";
  }
  return o;
}

}  // namespace tusk::format
