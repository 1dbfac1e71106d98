#include "common.h"

#include <sys/stat.h>

#include <cstdint>
#include <cstdio>
#include <stdexcept>

#include "args.h"

namespace tusk_cli {

std::string library_error(tusk_status_t status) {
  const char* message = tusk_last_error();
  if (message != nullptr && message[0] != '\0') return message;
  return std::string("failed with ") + tusk_status_name(status);
}

int report_error(const std::string& message) {
  std::fprintf(stderr, "tusk: error: %s\n", message.c_str());
  return kExitError;
}

int report_status(tusk_status_t status) { return report_error(library_error(status)); }

void report_warning(const std::string& message) {
  std::fprintf(stderr, "tusk: warning: %s\n", message.c_str());
}

Options make_options() {
  tusk_options_t* raw = nullptr;
  const tusk_status_t st = tusk_options_create(&raw);
  if (st != TUSK_OK) throw std::runtime_error(library_error(st));
  return Options(raw);
}

void set_int_option(tusk_options_t* options, tusk_option_t key, const std::string& flag,
                    int64_t value) {
  const tusk_status_t st = tusk_options_set_int(options, key, value);
  if (st != TUSK_OK) throw UsageError("invalid value for " + flag + ": " + library_error(st));
}

void set_float_option(tusk_options_t* options, tusk_option_t key, const std::string& flag,
                      double value) {
  const tusk_status_t st = tusk_options_set_float(options, key, value);
  if (st != TUSK_OK) throw UsageError("invalid value for " + flag + ": " + library_error(st));
}

bool file_exists(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0;
}

size_t find_invalid_utf8(const std::string& text) {
  const size_t n = text.size();
  size_t i = 0;
  while (i < n) {
    const unsigned char lead = static_cast<unsigned char>(text[i]);
    if (lead < 0x80) {
      ++i;
      continue;
    }
    size_t extra;
    uint32_t code;
    uint32_t smallest;
    if (lead >= 0xC0 && lead < 0xE0) {
      extra = 1, code = lead & 0x1Fu, smallest = 0x80;
    } else if (lead >= 0xE0 && lead < 0xF0) {
      extra = 2, code = lead & 0x0Fu, smallest = 0x800;
    } else if (lead >= 0xF0 && lead < 0xF8) {
      extra = 3, code = lead & 0x07u, smallest = 0x10000;
    } else {
      return i;  // a continuation byte without a lead, or 0xF8..0xFF
    }
    if (n - i <= extra) return i;
    for (size_t k = 1; k <= extra; ++k) {
      const unsigned char c = static_cast<unsigned char>(text[i + k]);
      if ((c & 0xC0u) != 0x80u) return i;
      code = (code << 6) | (c & 0x3Fu);
    }
    if (code < smallest || code > 0x10FFFF || (code >= 0xD800 && code <= 0xDFFF)) return i;
    i += extra + 1;
  }
  return std::string::npos;
}

}  // namespace tusk_cli
