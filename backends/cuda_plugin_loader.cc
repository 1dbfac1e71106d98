#include "backends/cuda_plugin_loader.h"

#include <dlfcn.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <mutex>
#include <vector>

namespace tusk::backends::cuda_plugin {
namespace {

struct Loaded {
  const Entry* entry = nullptr;
  std::string why;
};

std::string folder_of_this_code() {
  Dl_info info;
  if (dladdr(reinterpret_cast<const void*>(&load), &info) == 0 || info.dli_fname == nullptr) return {};
  std::string path = info.dli_fname;
  const size_t slash = path.rfind('/');
  return slash == std::string::npos ? std::string(".") : path.substr(0, slash);
}

bool file_exists(const std::string& path) { return !path.empty() && access(path.c_str(), F_OK) == 0; }

Loaded open_plugin() {
  std::vector<std::string> candidates;
  if (const char* env = std::getenv("TUSK_CUDA_LIBRARY"); env != nullptr && *env != '\0') {
    candidates.push_back(env);
  } else {
    const std::string here = folder_of_this_code();
    if (!here.empty()) {
      candidates.push_back(here + "/" + kLibraryName);
      candidates.push_back(here + "/../lib/" + kLibraryName);
    }
    candidates.push_back(kLibraryName);  // the dynamic linker's search
  }
  Loaded result;
  std::string looked;
  void* handle = nullptr;
  for (const std::string& path : candidates) {
    const bool bare = path.find('/') == std::string::npos;
    if (!bare && !file_exists(path)) {
      looked += (looked.empty() ? "" : ", ") + path;
      continue;
    }
    handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (handle != nullptr) break;
    const char* error = dlerror();
    const std::string message = error ? error : "unknown dlopen error";
    // Found but not loadable (a CUDA library it needs is missing, say): that is the answer.
    if (!bare || message.find("cannot open shared object file") == std::string::npos) {
      result.why = "CUDA: " + path + " could not be loaded: " + message;
      return result;
    }
    looked += (looked.empty() ? "" : ", ") + std::string("the library search path");
  }
  if (handle == nullptr) {
    result.why = std::string("CUDA: ") + kLibraryName +
                 " was not found, so this build or install has no CUDA backend (looked in: " + looked +
                 "; TUSK_CUDA_LIBRARY may name its path)";
    return result;
  }
  auto function = reinterpret_cast<EntryFunction>(dlsym(handle, kEntrySymbol));
  const Entry* entry = function ? function() : nullptr;
  if (entry == nullptr) {
    result.why = std::string("CUDA: ") + kLibraryName + " has no " + kEntrySymbol + ": not a Tusk CUDA plugin";
    return result;
  }
  if (std::strcmp(entry->abi, TUSK_BACKEND_ABI) != 0) {
    result.why = std::string("CUDA: ") + kLibraryName + " comes from another Tusk build (backend interface " +
                 entry->abi + ", this library expects " + TUSK_BACKEND_ABI +
                 "); install the CUDA library built with this one";
    return result;
  }
  result.entry = entry;
  return result;
}

}  // namespace

const Entry* load(std::string* why) {
  static std::once_flag once;
  static Loaded loaded;
  std::call_once(once, [] { loaded = open_plugin(); });
  if (loaded.entry == nullptr && why != nullptr) *why = loaded.why;
  return loaded.entry;
}

}  // namespace tusk::backends::cuda_plugin
