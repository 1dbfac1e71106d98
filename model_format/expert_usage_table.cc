#include "model_format/expert_usage_table.h"

#include <cerrno>
#include <cstdlib>
#include <limits>
#include <sstream>

#include "common/error.h"
#include "model_format/file_io.h"
#include "model_format/model_writer.h"

namespace tusk::format {
namespace {

std::string expert_label(const ExpertId& e) {
  return std::string(e.stack == Stack::Encoder ? "encoder." : "decoder.") + std::to_string(e.layer) + "." +
         std::to_string(e.expert);
}

std::vector<std::string> split_tabs(const std::string& line) {
  std::vector<std::string> fields;
  size_t start = 0;
  for (;;) {
    const size_t tab = line.find('\t', start);
    fields.push_back(line.substr(start, tab == std::string::npos ? std::string::npos : tab - start));
    if (tab == std::string::npos) return fields;
    start = tab + 1;
  }
}

bool parse_u32(const std::string& text, uint32_t* out) {
  if (text.empty() || text.find_first_not_of("0123456789") != std::string::npos) return false;
  errno = 0;
  const unsigned long long v = std::strtoull(text.c_str(), nullptr, 10);
  if (errno != 0 || v > std::numeric_limits<uint32_t>::max()) return false;
  *out = static_cast<uint32_t>(v);
  return true;
}

}  // namespace

std::string format_usage_table(const std::vector<PairUsage>& usage, const std::vector<ExpertId>& experts) {
  std::string out =
      "# tusk expert usage v1: source target sentences, then one count per expert in\n"
      "# (stack, layer, expert) order:";
  for (const ExpertId& e : experts) out += " " + expert_label(e);
  out += "\n";
  for (const PairUsage& u : usage) {
    out += u.source + "\t" + u.target + "\t" + std::to_string(u.sentences);
    for (uint32_t c : u.counts) out += "\t" + std::to_string(c);
    out += "\n";
  }
  return out;
}

std::vector<PairUsage> parse_usage_table(const std::string& text, const std::vector<ExpertId>& experts,
                                         const std::string& what) {
  std::vector<PairUsage> usage;
  std::istringstream in(text);
  std::string line;
  int number = 0;
  while (std::getline(in, line)) {
    ++number;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty() || line[0] == '#') continue;
    const std::string where = what + ", line " + std::to_string(number);
    const std::vector<std::string> fields = split_tabs(line);
    if (fields.size() != experts.size() + 3)
      throw Error(ErrorCode::InvalidArgument, where + ": expected source, target, sentences and " +
                                                  std::to_string(experts.size()) + " counts (" +
                                                  std::to_string(experts.size() + 3) + " tab-separated fields), found " +
                                                  std::to_string(fields.size()));
    PairUsage u;
    u.source = fields[0];
    u.target = fields[1];
    if (u.source.empty() || u.target.empty())
      throw Error(ErrorCode::InvalidArgument, where + ": empty language code");
    if (!parse_u32(fields[2], &u.sentences))
      throw Error(ErrorCode::InvalidArgument, where + ": sentences '" + fields[2] + "' is not a count");
    for (size_t i = 3; i < fields.size(); ++i) {
      uint32_t c = 0;
      if (!parse_u32(fields[i], &c))
        throw Error(ErrorCode::InvalidArgument, where + ": count '" + fields[i] + "' for " +
                                                    expert_label(experts[i - 3]) + " is not a count");
      u.counts.push_back(c);
    }
    usage.push_back(std::move(u));
  }
  return usage;
}

// A 54B model's table (3072 experts) for all 200 x 200 pairs is under 1 GB of text.
constexpr uint64_t kMaxTableBytes = uint64_t{4} << 30;

void import_usage_table(const std::string& path, const std::string& table_path) {
  std::vector<ExpertId> ids;
  {
    const auto file = ModelFile::open(path, ModelFile::OpenOptions{false, ModelFile::Residency::Map});
    ids = file->expert_ids();
  }
  replace_expert_usage(path, parse_usage_table(read_whole_file(table_path, kMaxTableBytes, "an expert usage table"), ids, table_path));
}

}  // namespace tusk::format
