// The first index of a row's maximum, as torch.argmax picks it: greedy search's next token.
#pragma once

#include <cstdint>

namespace tusk::sdk {

// The lowest v with row[v] == max(row[0..n)), for rows without NaN; 0 when n == 0 or every
// value is -inf.
int32_t first_argmax(const float* row, int64_t n);

}  // namespace tusk::sdk
