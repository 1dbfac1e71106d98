// Calibration: which experts each language pair uses. The model translates sample text of a
// pair one sentence at a time (greedy, the interactive case the warm start serves) and counts
// how often each expert runs; the table goes into the model file (format::PairUsage) and
// translators preload a pair's most used experts (Translator::warm_start).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "common/error.h"
#include "model_format/model_file.h"
#include "sdk/model.h"

namespace tusk::sdk {

struct CalibrationText {
  std::string source, target;          // language codes of the model
  std::vector<std::string> sentences;  // blank ones are skipped
};

// One PairUsage per text, counts in model.file().expert_ids() order. progress (may be null)
// sees sentences done of all texts; returning false cancels (Error Cancelled). Throws for an
// unknown language or a sentence the translator refuses (the message names text and line).
std::vector<format::PairUsage> calibrate(std::shared_ptr<const Model> model,
                                         const std::vector<CalibrationText>& texts, int threads,
                                         ProgressSink* progress);

// calibrate() on the model file at `path`, then the table stored in that file
// (format::replace_expert_usage: all or nothing) and, with usage_out non-empty, written there
// as text first (format_usage_table). The file is closed before it is rewritten.
std::vector<format::PairUsage> calibrate_model_file(const std::string& path, const std::vector<CalibrationText>& texts,
                                                    int threads, bool verify_checksums, const std::string& usage_out,
                                                    ProgressSink* progress);

}  // namespace tusk::sdk
