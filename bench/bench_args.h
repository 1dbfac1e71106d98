// Command-line pieces the C++ benchmarks share.
#pragma once

#include <algorithm>
#include <cstdlib>
#include <vector>

namespace tusk::bench {

// "1,2,8" -> {1, 2, 8}; values below 1 become 1.
inline std::vector<int> parse_int_list(const char* text) {
  std::vector<int> out;
  for (const char* p = text; *p;) {
    out.push_back(std::max(1, std::atoi(p)));
    while (*p && *p != ',') ++p;
    if (*p == ',') ++p;
  }
  return out;
}

}  // namespace tusk::bench
