// UTF-8 validation for text crossing the API: the tokenizer must never see malformed bytes.
#pragma once

#include <cstddef>
#include <string_view>

namespace tusk::sdk {

// True when text is well-formed UTF-8 (no overlong forms, no surrogates, <= U+10FFFF).
// On failure *bad_offset (if given) receives the byte offset of the first bad sequence.
bool is_valid_utf8(std::string_view text, size_t* bad_offset = nullptr);

}  // namespace tusk::sdk
