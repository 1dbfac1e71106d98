#include "model_format/file_io.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "common/error.h"

namespace tusk::format {

std::string read_whole_file(const std::string& path, uint64_t max_bytes, const std::string& what) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) throw Error(ErrorCode::Io, path + ": cannot open: " + std::strerror(errno));
  std::string bytes;
  char buf[65536];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) {
    if (bytes.size() + n > max_bytes) {
      std::fclose(f);
      throw Error(ErrorCode::InvalidModel,
                  path + ": more than " + std::to_string(max_bytes) + " bytes, too large for " + what);
    }
    bytes.append(buf, n);
  }
  const bool failed = std::ferror(f) != 0;
  std::fclose(f);
  if (failed) throw Error(ErrorCode::Io, path + ": cannot read");
  return bytes;
}

std::string path_in(const std::string& dir, const std::string& name) {
  return dir.empty() || dir.back() == '/' ? dir + name : dir + "/" + name;
}

bool is_regular_file(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

void write_whole_file(const std::string& path, const std::string& bytes) {
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) throw Error(ErrorCode::Io, path + ": cannot create: " + std::strerror(errno));
  const bool wrote = std::fwrite(bytes.data(), 1, bytes.size(), f) == bytes.size();
  if (std::fclose(f) != 0 || !wrote) throw Error(ErrorCode::Io, path + ": cannot write");
}

}  // namespace tusk::format
