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

}  // namespace tusk::sdk
