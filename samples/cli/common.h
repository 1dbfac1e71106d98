// Shared pieces of the `tusk` commands: owning wrappers for C ABI handles and error reporting.
// The CLI uses nothing but tusk.h.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "tusk/tusk.h"

namespace tusk_cli {

struct OptionsDeleter {
  void operator()(tusk_options_t* p) const { tusk_options_destroy(p); }
};
struct ModelDeleter {
  void operator()(tusk_model_t* p) const { tusk_model_close(p); }
};
struct TranslatorDeleter {
  void operator()(tusk_translator_t* p) const { tusk_translator_destroy(p); }
};
struct ResultDeleter {
  void operator()(tusk_result_t* p) const { tusk_result_free(p); }
};
using Options = std::unique_ptr<tusk_options_t, OptionsDeleter>;
using Model = std::unique_ptr<tusk_model_t, ModelDeleter>;
using Translator = std::unique_ptr<tusk_translator_t, TranslatorDeleter>;
using Result = std::unique_ptr<tusk_result_t, ResultDeleter>;

// The library's message for the last failure on this thread, or the status name if it left
// none.
std::string library_error(tusk_status_t status);

// Prints "tusk: error: <message>" to stderr and returns kExitError.
int report_error(const std::string& message);
// Same with the library's message for status.
int report_status(tusk_status_t status);
void report_warning(const std::string& message);

// Creates an options object; throws std::runtime_error (with the library's message) on failure.
Options make_options();
// Sets an option from a command-line flag; a value the library refuses is a UsageError.
void set_int_option(tusk_options_t* options, tusk_option_t key, const std::string& flag,
                    int64_t value);
void set_float_option(tusk_options_t* options, tusk_option_t key, const std::string& flag,
                      double value);

bool file_exists(const std::string& path);

// Byte offset of the first malformed UTF-8 sequence in text (overlong forms, surrogates and
// code points above U+10FFFF count as malformed), or std::string::npos if text is well-formed.
size_t find_invalid_utf8(const std::string& text);

// Commands. args are the words after the command name.
int cmd_translate(const std::vector<std::string>& args);
int cmd_convert(const std::vector<std::string>& args);
int cmd_inspect(const std::vector<std::string>& args);
int cmd_serve(const std::vector<std::string>& args);  // only in builds with cpp-httplib

// Help texts (printed for --help, and for usage errors' hints).
extern const char* const kMainUsage;
extern const char* const kTranslateUsage;
extern const char* const kConvertUsage;
extern const char* const kInspectUsage;
extern const char* const kServeUsage;

}  // namespace tusk_cli
