// Safetensors reader: header validation, mmap, typed access, sharded checkpoints.
#include "model_format/safetensors.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <sstream>
#include <utility>

#include <nlohmann/json.hpp>

#include "model_format/file_io.h"

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "safetensors data is little-endian; this reader assumes a little-endian host"
#endif

namespace tusk::format {
namespace {

using nlohmann::json;

// transformers' safetensors refuses headers over 100 MB; so do we (a 54B shard needs ~1 MB).
constexpr uint64_t kMaxHeaderBytes = 100'000'000;
// An index.json maps names to shard files; even the largest public ones are a few MB.
constexpr uint64_t kMaxIndexBytes = 64u << 20;

struct DTypeEntry {
  const char* name;
  SafetensorsDType dtype;
  size_t size;
};
constexpr DTypeEntry kDTypes[] = {
    {"BOOL", SafetensorsDType::BOOL, 1},       {"U8", SafetensorsDType::U8, 1},
    {"I8", SafetensorsDType::I8, 1},           {"F8_E4M3", SafetensorsDType::F8_E4M3, 1},
    {"F8_E5M2", SafetensorsDType::F8_E5M2, 1}, {"I16", SafetensorsDType::I16, 2},
    {"U16", SafetensorsDType::U16, 2},         {"F16", SafetensorsDType::F16, 2},
    {"BF16", SafetensorsDType::BF16, 2},       {"I32", SafetensorsDType::I32, 4},
    {"U32", SafetensorsDType::U32, 4},         {"F32", SafetensorsDType::F32, 4},
    {"I64", SafetensorsDType::I64, 8},         {"U64", SafetensorsDType::U64, 8},
    {"F64", SafetensorsDType::F64, 8},
};

const DTypeEntry* find_dtype(std::string_view name) {
  for (const auto& e : kDTypes)
    if (name == e.name) return &e;
  return nullptr;
}

[[noreturn]] void invalid(const std::string& file, const std::string& what) {
  throw Error(ErrorCode::InvalidModel, file + ": " + what);
}

[[noreturn]] void io_error(const std::string& file, const std::string& what) {
  throw Error(ErrorCode::Io, file + ": " + what + ": " + std::strerror(errno));
}

std::string in_quotes(std::string_view s) { return "'" + std::string(s) + "'"; }

uint64_t read_le64(const unsigned char* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

// Valid headers nest three levels (root object, tensor object, shape array). Refusing deeper
// text before building the DOM keeps a hostile header from costing gigabytes of nodes.
void check_nesting(std::string_view text, int max_depth, const std::string& file) {
  int depth = 0;
  bool in_string = false;
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (in_string) {
      if (c == '\\') ++i;
      else if (c == '"') in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '{' || c == '[') {
      if (++depth > max_depth) invalid(file, "header JSON nests deeper than a safetensors header can");
    } else if (c == '}' || c == ']') {
      --depth;
    }
  }
}

json parse_json(std::string_view text, const std::string& file, const char* what) {
  try {
    return json::parse(text.begin(), text.end());
  } catch (const json::exception& e) {
    invalid(file, std::string(what) + " is not valid JSON (" + e.what() + ")");
  }
}

uint64_t unsigned_field(const json& v, const std::string& file, const std::string& tensor,
                        const char* field) {
  if (!v.is_number_unsigned())
    invalid(file, "tensor " + in_quotes(tensor) + ": " + field + " must hold non-negative integers");
  return v.get<uint64_t>();
}

bool is_directory(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

std::string parent_dir(const std::string& path) {
  size_t slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

// A shard name must stay inside the checkpoint folder.
bool is_plain_file_name(const std::string& name) {
  return !name.empty() && name != "." && name != ".." &&
         name.find('/') == std::string::npos && name.find('\0') == std::string::npos;
}

}  // namespace

// ---- dtypes and float conversions ----

const char* safetensors_dtype_name(SafetensorsDType t) {
  for (const auto& e : kDTypes)
    if (e.dtype == t) return e.name;
  return "?";
}

size_t safetensors_dtype_size(SafetensorsDType t) {
  for (const auto& e : kDTypes)
    if (e.dtype == t) return e.size;
  return 0;
}

float f16_to_f32(uint16_t h) {
  uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  uint32_t exponent = (h >> 10) & 0x1fu;
  uint32_t mantissa = h & 0x3ffu;
  uint32_t bits;
  if (exponent == 0x1f) {
    bits = sign | 0x7f800000u | (mantissa << 13);  // inf, or NaN with its payload
  } else if (exponent != 0) {
    bits = sign | ((exponent - 15 + 127) << 23) | (mantissa << 13);
  } else if (mantissa == 0) {
    bits = sign;  // signed zero
  } else {
    // Subnormal: value = mantissa * 2^-24. Shift the leading one up to the implicit bit;
    // every fp16 subnormal is a normal float.
    int e = -14;
    while ((mantissa & 0x400u) == 0) {
      mantissa <<= 1;
      --e;
    }
    bits = sign | (static_cast<uint32_t>(e + 127) << 23) | ((mantissa & 0x3ffu) << 13);
  }
  float f;
  std::memcpy(&f, &bits, sizeof f);
  return f;
}

float bf16_to_f32(uint16_t h) {
  // bfloat16 is the top half of a float, so widening is exact for every pattern.
  uint32_t bits = static_cast<uint32_t>(h) << 16;
  float f;
  std::memcpy(&f, &bits, sizeof f);
  return f;
}

uint64_t SafetensorsTensor::elements() const {
  uint64_t n = 1;
  for (int64_t d : shape) n *= static_cast<uint64_t>(d);  // checked at parse time
  return n;
}

// ---- one file ----

std::unique_ptr<SafetensorsFile> SafetensorsFile::open(const std::string& path) {
  std::unique_ptr<SafetensorsFile> file(new SafetensorsFile());
  file->path_ = path;

  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);  // a FIFO: refused, not waited on
  if (fd < 0) io_error(path, "cannot open");
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    int saved = errno;
    ::close(fd);
    errno = saved;
    io_error(path, "cannot stat");
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    invalid(path, "not a regular file");
  }
  uint64_t size = static_cast<uint64_t>(st.st_size);
  if (size < 8) {
    ::close(fd);
    invalid(path, "file is " + std::to_string(size) +
                      " bytes, too small for a safetensors header length");
  }
  void* map = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
  int saved = errno;
  ::close(fd);
  if (map == MAP_FAILED) {
    errno = saved;
    io_error(path, "cannot mmap");
  }
  file->map_ = static_cast<const unsigned char*>(map);
  file->map_size_ = size;

  uint64_t header_len = read_le64(file->map_);
  if (header_len > size - 8)
    invalid(path, "header length " + std::to_string(header_len) + " runs past the end of the " +
                      std::to_string(size) + "-byte file");
  if (header_len > kMaxHeaderBytes)
    invalid(path, "header length " + std::to_string(header_len) + " is over the " +
                      std::to_string(kMaxHeaderBytes) + "-byte limit");
  std::string_view header(reinterpret_cast<const char*>(file->map_ + 8), header_len);
  file->data_ = file->map_ + 8 + header_len;
  file->parse_header(header, size - 8 - header_len);
  return file;
}

SafetensorsFile::~SafetensorsFile() {
  if (map_) ::munmap(const_cast<unsigned char*>(map_), map_size_);
}

void SafetensorsFile::parse_header(std::string_view header, uint64_t data_size) {
  check_nesting(header, 3, path_);
  json root = parse_json(header, path_, "header");
  if (!root.is_object()) invalid(path_, "header is not a JSON object");

  for (const auto& [name, value] : root.items()) {
    if (name == "__metadata__") {
      if (!value.is_object()) invalid(path_, "__metadata__ is not a JSON object");
      for (const auto& [key, text] : value.items()) {
        if (!text.is_string()) invalid(path_, "__metadata__ value " + in_quotes(key) + " is not a string");
        metadata_[key] = text.get<std::string>();
      }
      continue;
    }
    const std::string where = "tensor " + in_quotes(name);
    if (!value.is_object()) invalid(path_, where + ": entry is not a JSON object");
    auto dtype_it = value.find("dtype");
    auto shape_it = value.find("shape");
    auto offsets_it = value.find("data_offsets");
    if (dtype_it == value.end() || shape_it == value.end() || offsets_it == value.end())
      invalid(path_, where + ": needs dtype, shape and data_offsets");

    SafetensorsTensor t;
    t.name = name;
    if (!dtype_it->is_string()) invalid(path_, where + ": dtype is not a string");
    const std::string dtype_text = dtype_it->get<std::string>();
    const DTypeEntry* dtype = find_dtype(dtype_text);
    if (!dtype) invalid(path_, where + ": unknown dtype " + in_quotes(dtype_text));
    t.dtype = dtype->dtype;

    if (!shape_it->is_array()) invalid(path_, where + ": shape is not an array");
    uint64_t elements = 1;
    for (const json& d : *shape_it) {
      uint64_t dim = unsigned_field(d, path_, name, "shape");
      if (dim > static_cast<uint64_t>(INT64_MAX) || __builtin_mul_overflow(elements, dim, &elements))
        invalid(path_, where + ": shape's element count overflows");
      t.shape.push_back(static_cast<int64_t>(dim));
    }

    if (!offsets_it->is_array() || offsets_it->size() != 2)
      invalid(path_, where + ": data_offsets must be [begin, end]");
    t.begin = unsigned_field((*offsets_it)[0], path_, name, "data_offsets");
    t.end = unsigned_field((*offsets_it)[1], path_, name, "data_offsets");
    if (t.begin > t.end)
      invalid(path_, where + ": data_offsets begin " + std::to_string(t.begin) + " > end " +
                         std::to_string(t.end));
    if (t.end > data_size)
      invalid(path_, where + ": data_offsets end " + std::to_string(t.end) +
                         " is past the data area (" + std::to_string(data_size) + " bytes)");
    uint64_t expected;
    if (__builtin_mul_overflow(elements, static_cast<uint64_t>(dtype->size), &expected))
      invalid(path_, where + ": shape's byte size overflows");
    if (expected != t.bytes())
      invalid(path_, where + ": data_offsets span " + std::to_string(t.bytes()) + " bytes but " +
                         std::to_string(elements) + " " + dtype->name + " elements need " +
                         std::to_string(expected));
    tensors_.emplace(name, std::move(t));
  }

  // Like the reference implementation: tensors tile the data area exactly, no holes, no
  // overlap, nothing after the last one (a file can't hide a second payload).
  std::vector<const SafetensorsTensor*> by_offset;
  for (const auto& [name, t] : tensors_) by_offset.push_back(&t);
  std::sort(by_offset.begin(), by_offset.end(), [](const auto* a, const auto* b) {
    return a->begin != b->begin ? a->begin < b->begin : a->end < b->end;
  });
  uint64_t cursor = 0;
  for (const auto* t : by_offset) {
    if (t->begin != cursor)
      invalid(path_, "tensor " + in_quotes(t->name) + " starts at " + std::to_string(t->begin) +
                         " but the previous tensor ends at " + std::to_string(cursor) +
                         " (overlap or gap in the data area)");
    cursor = t->end;
  }
  if (cursor != data_size)
    invalid(path_, "tensors cover " + std::to_string(cursor) + " of the " +
                       std::to_string(data_size) + " data bytes");
}

std::vector<std::string> SafetensorsFile::names() const {
  std::vector<std::string> out;
  out.reserve(tensors_.size());
  for (const auto& [name, t] : tensors_) out.push_back(name);
  return out;
}

bool SafetensorsFile::has(std::string_view name) const { return tensors_.count(name) != 0; }

const SafetensorsTensor& SafetensorsFile::info(std::string_view name) const {
  auto it = tensors_.find(name);
  if (it == tensors_.end()) invalid(path_, "no tensor " + in_quotes(name));
  return it->second;
}

std::string_view SafetensorsFile::raw(std::string_view name) const {
  const SafetensorsTensor& t = info(name);
  return {reinterpret_cast<const char*>(data_ + t.begin), static_cast<size_t>(t.bytes())};
}

namespace {

// Drops the whole pages inside [begin, end) from this process. A read-only private file
// mapping: a dropped page is read back from the file if it is touched again.
void drop_pages(const unsigned char* begin, const unsigned char* end) {
  const uintptr_t page = static_cast<uintptr_t>(::sysconf(_SC_PAGESIZE));
  const uintptr_t first = (reinterpret_cast<uintptr_t>(begin) + page - 1) / page * page;
  const uintptr_t last = reinterpret_cast<uintptr_t>(end) / page * page;
  if (last > first) ::madvise(reinterpret_cast<void*>(first), last - first, MADV_DONTNEED);
}

}  // namespace

void SafetensorsFile::release(std::string_view name) const {
  const SafetensorsTensor& t = info(name);
  drop_pages(data_ + t.begin, data_ + t.end);
}

std::vector<float> SafetensorsFile::read_as_f32(std::string_view name) const {
  std::vector<float> out(static_cast<size_t>(info(name).elements()));
  read_range_as_f32(name, 0, out.size(), out.data());
  release(name);  // the pages the pieces shared at their edges
  return out;
}

void SafetensorsFile::read_range_as_f32(std::string_view name, uint64_t first, uint64_t count, float* out) const {
  const SafetensorsTensor& t = info(name);
  if (t.dtype != SafetensorsDType::F32 && t.dtype != SafetensorsDType::F16 && t.dtype != SafetensorsDType::BF16)
    throw Error(ErrorCode::Unsupported, path_ + ": tensor " + in_quotes(name) + " has dtype " +
                                            safetensors_dtype_name(t.dtype) +
                                            "; only F32, F16 and BF16 convert to float");
  const uint64_t n = t.elements();
  if (first > n || count > n - first)
    throw Error(ErrorCode::Internal, path_ + ": elements " + std::to_string(first) + "+" + std::to_string(count) +
                                         " of tensor " + in_quotes(name) + " are outside it");
  const unsigned char* p = data_ + t.begin;
  const size_t size = safetensors_dtype_size(t.dtype);
  // In 64 MB pieces, each piece's pages dropped once converted: the mapping never holds more
  // than a piece of the tensor beside the floats.
  const uint64_t piece = (64u << 20) / size;
  for (uint64_t done = 0; done < count; done += piece) {
    const size_t m = static_cast<size_t>(std::min(piece, count - done));
    const unsigned char* q = p + (first + done) * size;
    float* o = out + done;
    switch (t.dtype) {
      case SafetensorsDType::F32:
        std::memcpy(o, q, m * sizeof(float));  // host is little-endian
        break;
      case SafetensorsDType::F16:
        for (size_t i = 0; i < m; ++i) o[i] = f16_to_f32(static_cast<uint16_t>(q[2 * i] | q[2 * i + 1] << 8));
        break;
      default:
        for (size_t i = 0; i < m; ++i) o[i] = bf16_to_f32(static_cast<uint16_t>(q[2 * i] | q[2 * i + 1] << 8));
        break;
    }
    drop_pages(q, q + m * size);
  }
}

// ---- a checkpoint: one file or shards ----

SafetensorsCheckpoint SafetensorsCheckpoint::open(const std::string& path) {
  std::string single, index;
  if (is_directory(path)) {
    const std::string dir = path.empty() || path.back() == '/' ? path : path + "/";
    if (is_regular_file(dir + "model.safetensors")) single = dir + "model.safetensors";
    else if (is_regular_file(dir + "model.safetensors.index.json")) index = dir + "model.safetensors.index.json";
    else
      throw Error(ErrorCode::Io, path + ": holds neither model.safetensors nor model.safetensors.index.json");
  } else if (ends_with(path, ".json")) {
    index = path;
  } else {
    single = path;
  }

  SafetensorsCheckpoint ckpt;
  if (!single.empty()) {
    ckpt.shards_.push_back(SafetensorsFile::open(single));
    for (const std::string& name : ckpt.shards_[0]->names()) ckpt.where_.emplace(name, 0);
    ckpt.source_ = single;
    return ckpt;
  }

  ckpt.source_ = index;
  const std::string text = read_whole_file(index, kMaxIndexBytes, "a safetensors index");
  json root = parse_json(text, index, "index");
  if (!root.is_object()) invalid(index, "index is not a JSON object");
  auto map_it = root.find("weight_map");
  if (map_it == root.end() || !map_it->is_object()) invalid(index, "index has no weight_map object");
  if (map_it->empty()) invalid(index, "weight_map lists no tensors");

  // shard file name -> tensors the index puts there (std::map: shards open in name order).
  std::map<std::string, std::vector<std::string>> by_shard;
  for (const auto& [tensor, shard] : map_it->items()) {
    if (!shard.is_string()) invalid(index, "weight_map entry " + in_quotes(tensor) + " is not a file name");
    std::string file = shard.get<std::string>();
    if (!is_plain_file_name(file))
      invalid(index, "weight_map entry " + in_quotes(tensor) + " names " + in_quotes(file) +
                         ", not a file in the checkpoint folder");
    by_shard[file].push_back(tensor);
  }

  const std::string dir = parent_dir(index) + "/";
  for (const auto& [file, tensors] : by_shard) {
    auto shard = std::shared_ptr<const SafetensorsFile>(SafetensorsFile::open(dir + file));
    const size_t id = ckpt.shards_.size();
    for (const std::string& tensor : tensors) {
      if (!shard->has(tensor))
        invalid(index, "weight_map puts " + in_quotes(tensor) + " in " + file + ", which does not hold it");
      ckpt.where_.emplace(tensor, id);
    }
    for (const std::string& tensor : shard->names()) {
      auto it = ckpt.where_.find(tensor);
      if (it == ckpt.where_.end() || it->second != id)
        invalid(index, file + " holds " + in_quotes(tensor) + ", which weight_map does not place there");
    }
    ckpt.shards_.push_back(std::move(shard));
  }
  return ckpt;
}

std::vector<std::string> SafetensorsCheckpoint::names() const {
  std::vector<std::string> out;
  out.reserve(where_.size());
  for (const auto& [name, id] : where_) out.push_back(name);
  return out;
}

bool SafetensorsCheckpoint::has(std::string_view name) const { return where_.count(name) != 0; }

const SafetensorsFile& SafetensorsCheckpoint::shard_of(std::string_view name) const {
  auto it = where_.find(name);
  if (it == where_.end()) invalid(source_, "no tensor " + in_quotes(name));
  return *shards_[it->second];
}

const SafetensorsTensor& SafetensorsCheckpoint::info(std::string_view name) const {
  return shard_of(name).info(name);
}

std::string_view SafetensorsCheckpoint::raw(std::string_view name) const {
  return shard_of(name).raw(name);
}

std::vector<float> SafetensorsCheckpoint::read_as_f32(std::string_view name) const {
  return shard_of(name).read_as_f32(name);
}

void SafetensorsCheckpoint::release(std::string_view name) const { shard_of(name).release(name); }

void SafetensorsCheckpoint::read_range_as_f32(std::string_view name, uint64_t first, uint64_t count,
                                              float* out) const {
  shard_of(name).read_range_as_f32(name, first, count, out);
}

const std::string& SafetensorsCheckpoint::file_of(std::string_view name) const {
  return shard_of(name).path();
}

}  // namespace tusk::format
