// The one exception type inside Tusk. Each layer throws tusk::Error with a code; the C shim
// maps codes to tusk_status_t (same numeric values) and the message to tusk_last_error().
#pragma once

#include <stdexcept>
#include <string>

namespace tusk {

enum class ErrorCode : int {
  InvalidArgument = 1,
  Io = 2,
  InvalidModel = 3,
  Unsupported = 4,
  UnknownLanguage = 5,
  InputTooLong = 6,
  OutOfMemory = 7,
  Cancelled = 8,
  Internal = 9,
};

class Error : public std::runtime_error {
 public:
  Error(ErrorCode code, const std::string& message) : std::runtime_error(message), code_(code) {}
  ErrorCode code() const noexcept { return code_; }

 private:
  ErrorCode code_;
};

// Progress of long work: return false to cancel. `what` names the current step.
struct ProgressSink {
  virtual ~ProgressSink() = default;
  virtual bool report(unsigned long long done, unsigned long long total, const char* what) = 0;
};

}  // namespace tusk
