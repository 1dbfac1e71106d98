// What every `tusk` command that translates shares: the model flag and how it finds the model,
// the translator flags (search, batching, guards, device, expert paging) and how they become
// options, and opening the model and creating translators with clear errors. Only tusk.h.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "args.h"
#include "common.h"

namespace tusk_cli {

// --model and every translator flag (see kTranslateUsage for what each does).
extern const std::vector<FlagSpec> kTranslatorFlags;

struct ModelChoice {
  std::string path;
  std::string origin;  // "--model", "TUSK_MODEL" or "default"
};

// --model, then $TUSK_MODEL, then the installed default model, then the source tree's.
ModelChoice choose_model(const ParsedArgs& args);

// Space-separated language codes of the model, for hints.
std::string model_languages(const tusk_model_t* model);

// Everything a translating command needs from its flags, checked before the model opens.
struct TranslatorSetup {
  Options options;        // the translator flags' options (expert budgets once the model is open)
  ModelChoice model;
  SizeSpec expert_budget;  // meaningful when has_expert_budget
  bool has_expert_budget = false;
  std::string expert_budget_text;  // as given, for messages
  SizeSpec device_expert_budget;
  bool has_device_expert_budget = false;
};

// Reads the translator flags into options; a value out of range is a UsageError.
TranslatorSetup read_translator_flags(const ParsedArgs& args);

// Opens the chosen model (throws std::runtime_error with the library's message, or a clear
// one for a missing file) and resolves the expert budgets against it: *budget receives the
// expert budget in bytes (0: all experts resident), *expert_bytes_total the model's.
Model open_model(TranslatorSetup& setup, uint64_t* budget, uint64_t* expert_bytes_total);

// A translator with the setup's options; a budget the model refuses is a UsageError naming
// --expert-budget, anything else a std::runtime_error.
Translator create_translator(const TranslatorSetup& setup, tusk_model_t* model);

}  // namespace tusk_cli
