// Whole small files (configs, tokenizer files, index files, usage tables) with one set of
// errors for every reader in model_format.
#pragma once

#include <cstdint>
#include <string>

namespace tusk::format {

// The file's bytes. Throws Io naming the path when it cannot be opened or read, InvalidModel
// when it holds more than max_bytes (`what` says what kind of file it was meant to be).
std::string read_whole_file(const std::string& path, uint64_t max_bytes, const std::string& what);

// `name` inside folder `dir` ("dir/name"; no doubled slash).
std::string path_in(const std::string& dir, const std::string& name);

// Whether path names a regular file (following links).
bool is_regular_file(const std::string& path);

// Creates or replaces the file with `bytes`; Io naming the path on failure.
void write_whole_file(const std::string& path, const std::string& bytes);

}  // namespace tusk::format
