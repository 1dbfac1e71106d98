// The text form of a model's expert usage table (one line per language pair), so a measured
// table can be reviewed, committed and embedded again without re-running calibration:
//
//   # tusk expert usage v1: source target sentences, then one count per expert in
//   # (stack, layer, expert) order: encoder.1.0 encoder.1.1 ... decoder.3.7
//   en	de	1014	812	33	...
//
// Fields are tab-separated; lines starting with '#' and blank lines are ignored.
#pragma once

#include <string>
#include <vector>

#include "model_format/model_file.h"

namespace tusk::format {

std::string format_usage_table(const std::vector<PairUsage>& usage, const std::vector<ExpertId>& experts);

// Throws InvalidArgument naming `what` and the line for a malformed line, or a count list
// whose length is not experts.size().
std::vector<PairUsage> parse_usage_table(const std::string& text, const std::vector<ExpertId>& experts,
                                         const std::string& what);

// Reads the table at table_path and stores it in the model file at path
// (replace_expert_usage: all or nothing). Io for unreadable files, as parse_usage_table else.
void import_usage_table(const std::string& path, const std::string& table_path);

}  // namespace tusk::format
