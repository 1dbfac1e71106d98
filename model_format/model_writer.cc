#include "model_format/model_writer.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <zstd.h>

#include <cerrno>
#include <cstring>
#include <random>
#include <set>
#include <tuple>

#include "common/error.h"
#include "model_format/checksum.h"
#include "model_format/file_layout.h"
#include "model_format/metadata_builder.h"
#include "model_format/metadata_reader.h"
#include "model_format/shape_math.h"

namespace tusk::format {
namespace {

using std::to_string;

[[noreturn]] void fail_argument(const std::string& path, const std::string& message) {
  throw Error(ErrorCode::InvalidArgument, path + ": " + message);
}

std::string random_suffix() {
  static const char kChars[] = "abcdefghijklmnopqrstuvwxyz0123456789";
  std::random_device device;
  std::mt19937_64 rng((static_cast<uint64_t>(device()) << 32) ^ device() ^ ::getpid());
  std::string suffix;
  for (int i = 0; i < 8; ++i) suffix += kChars[rng() % (sizeof(kChars) - 1)];
  return suffix;
}

// The directory entry of a renamed file is durable only once its directory is synced.
void sync_parent_directory(const std::string& path) {
  const size_t slash = path.find_last_of('/');
  const std::string dir = slash == std::string::npos ? "." : (slash == 0 ? "/" : path.substr(0, slash));
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return;  // best effort: the data itself is already synced
  ::fsync(fd);
  ::close(fd);
}

// Checks a tensor handed to the writer; returns its byte count.
uint64_t checked_input_bytes(const std::string& path, const std::string& what, const TensorData& t) {
  if (t.name.empty()) fail_argument(path, what + " has an empty name");
  if (!is_known_dtype(t.dtype)) fail_argument(path, what + " '" + t.name + "' has an unknown dtype");
  uint64_t elements = 0, bytes = 0;
  if (!checked_element_count(t.shape, &elements) || !checked_dtype_bytes(t.dtype, elements, &bytes)) {
    fail_argument(path, what + " '" + t.name + "' has an invalid shape");
  }
  if (!t.data) fail_argument(path, what + " '" + t.name + "' has no data");
  return bytes;
}

}  // namespace

struct ModelWriter::Impl {
  std::string path;
  std::string temp_path;
  int fd = -1;
  uint64_t position = 0;  // bytes written so far = where the next byte goes
  bool finished = false;
  bool failed = false;    // a write failed: the temp file is useless
  MetadataRecord metadata;
  std::set<std::string> dense_names;
  std::set<std::tuple<Stack, int, int>> expert_keys;
  ZSTD_CCtx* zstd = nullptr;

  ~Impl() {
    if (zstd) ZSTD_freeCCtx(zstd);
    if (fd >= 0) ::close(fd);
    if (!finished && !temp_path.empty()) ::unlink(temp_path.c_str());
  }

  [[noreturn]] void fail_io(const std::string& action, int error) {
    failed = true;
    throw Error(ErrorCode::Io, path + ": cannot " + action + ": " + std::strerror(error));
  }

  void check_writable() const {
    if (finished) fail_argument(path, "the model writer is already finished");
    if (failed) fail_argument(path, "the model writer failed earlier");
  }

  void write_bytes(const void* data, uint64_t size) {
    const auto* p = static_cast<const unsigned char*>(data);
    while (size > 0) {
      const size_t chunk = static_cast<size_t>(std::min<uint64_t>(size, 1u << 30));
      const ssize_t n = ::write(fd, p, chunk);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) fail_io("write " + temp_path, n < 0 ? errno : EIO);
      p += n;
      size -= static_cast<uint64_t>(n);
      position += static_cast<uint64_t>(n);
    }
  }

  // Zero bytes up to the next multiple of `alignment`.
  void pad_to(uint64_t alignment) {
    static const unsigned char kZeros[layout::kExpertAlignment] = {};
    const uint64_t target = (position + alignment - 1) & ~(alignment - 1);
    write_bytes(kZeros, target - position);
  }
};

ModelWriter::ModelWriter(const std::string& path) : impl_(std::make_unique<Impl>()) {
  impl_->path = path;
  // O_EXCL with a random name: never clobber another writer's temp file. Mode 0666 lets the
  // umask decide, like any other file the user creates.
  for (int attempt = 0; attempt < 100 && impl_->fd < 0; ++attempt) {
    const std::string candidate = path + ".tmp-" + random_suffix();
    const int fd = ::open(candidate.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd >= 0) {
      impl_->fd = fd;
      impl_->temp_path = candidate;
    } else if (errno != EEXIST) {
      throw Error(ErrorCode::Io, path + ": cannot create " + candidate + ": " + std::strerror(errno));
    }
  }
  if (impl_->fd < 0) throw Error(ErrorCode::Io, path + ": cannot find a free temporary file name");
  impl_->zstd = ZSTD_createCCtx();
  if (!impl_->zstd) throw Error(ErrorCode::OutOfMemory, path + ": cannot create a zstd context");
  // The header is written last; hold its place with zeros.
  const unsigned char zeros[layout::kHeaderSize] = {};
  impl_->write_bytes(zeros, sizeof(zeros));
}

namespace {

// Packed weights are written in their dtype's one layout (the quantizer's output).
std::optional<weight_layout::Layout> layout_of(DType dtype) {
  weight_layout::Layout l;
  return packed_layout(dtype, &l) ? std::optional<weight_layout::Layout>(l) : std::nullopt;
}

}  // namespace

ModelWriter::~ModelWriter() = default;

void ModelWriter::set_config(const ModelConfig& config) {
  impl_->check_writable();
  impl_->metadata.config = config;
}

void ModelWriter::set_tokenizer(const std::string& sentencepiece_model_bytes) {
  impl_->check_writable();
  impl_->metadata.tokenizer = sentencepiece_model_bytes;
}

void ModelWriter::add_language(const Language& language) {
  impl_->check_writable();
  impl_->metadata.languages.push_back(language);
}

void ModelWriter::set_vocabulary(const Vocabulary& vocabulary) {
  impl_->check_writable();
  impl_->metadata.vocabulary = vocabulary;
}

void ModelWriter::set_quantization(const std::string& summary) {
  impl_->check_writable();
  impl_->metadata.quantization = summary;
}

void ModelWriter::add_dense(const TensorData& tensor) {
  Impl& w = *impl_;
  w.check_writable();
  const uint64_t bytes = checked_input_bytes(w.path, "dense tensor", tensor);
  if (!w.dense_names.insert(tensor.name).second) {
    fail_argument(w.path, "dense tensor '" + tensor.name + "' added twice");
  }
  w.pad_to(layout::kDenseAlignment);
  DenseTensorRecord record;
  record.name = tensor.name;
  record.dtype = tensor.dtype;
  record.shape = tensor.shape;
  record.offset = w.position;
  record.size = bytes;
  record.checksum = checksum64(tensor.data, static_cast<size_t>(bytes));
  record.stats = tensor.stats;
  record.layout = layout_of(tensor.dtype);
  w.write_bytes(tensor.data, bytes);
  w.metadata.tensors.push_back(std::move(record));
}

void ModelWriter::add_expert(Stack stack, int layer, int expert,
                             const std::vector<TensorData>& tensors, int zstd_level) {
  Impl& w = *impl_;
  w.check_writable();
  const std::string what = std::string("expert (") +
                           (stack == Stack::Encoder ? "encoder" : "decoder") + " layer " +
                           to_string(layer) + ", expert " + to_string(expert) + ")";
  if (stack != Stack::Encoder && stack != Stack::Decoder) fail_argument(w.path, "unknown stack");
  if (layer < 0 || expert < 0) fail_argument(w.path, what + " has a negative index");
  if (tensors.empty()) fail_argument(w.path, what + " has no tensors");
  if (zstd_level < ZSTD_minCLevel() || zstd_level > ZSTD_maxCLevel()) {
    fail_argument(w.path, "zstd level " + to_string(zstd_level) + " is out of range");
  }
  if (w.expert_keys.count({stack, layer, expert})) fail_argument(w.path, what + " added twice");

  // Lay the tensors out back to back, each 64-byte aligned from the frame start, zero gaps.
  ExpertRecord record;
  record.stack = stack;
  record.layer = layer;
  record.expert = expert;
  std::set<std::string> names;
  uint64_t raw_size = 0;
  for (const TensorData& t : tensors) {
    const uint64_t bytes = checked_input_bytes(w.path, what + " tensor", t);
    if (!names.insert(t.name).second) fail_argument(w.path, what + " tensor '" + t.name + "' added twice");
    ExpertTensorRecord inner;
    inner.name = t.name;
    inner.dtype = t.dtype;
    inner.shape = t.shape;
    inner.stats = t.stats;
    inner.layout = layout_of(t.dtype);
    if (!layout::align_up(raw_size, layout::kExpertTensorAlignment, &inner.offset) ||
        __builtin_add_overflow(inner.offset, bytes, &raw_size)) {
      fail_argument(w.path, what + " is too large");
    }
    inner.size = bytes;
    record.tensors.push_back(std::move(inner));
  }
  std::vector<unsigned char> raw(static_cast<size_t>(raw_size), 0);
  for (size_t i = 0; i < tensors.size(); ++i) {
    std::memcpy(raw.data() + record.tensors[i].offset, tensors[i].data, record.tensors[i].size);
  }

  // Keep the zstd frame only when it saves at least a quarter of the bytes. Quantized and
  // float weights save 7-10% and zstd decodes them at under 1 GB/s, while a raw frame loads
  // at copy speed: paging an int4 expert of the bundled model took 0.39 ms from zstd and
  // 0.05 ms raw. ZSTD_compressCCtx is single-threaded
  // and resets its parameters each call, so the bytes depend only on the input and the level.
  std::vector<unsigned char> compressed(ZSTD_compressBound(raw.size()));
  const size_t compressed_size = ZSTD_compressCCtx(w.zstd, compressed.data(), compressed.size(),
                                                   raw.data(), raw.size(), zstd_level);
  if (ZSTD_isError(compressed_size)) {
    throw Error(ErrorCode::Internal, w.path + ": zstd failed on " + what + ": " +
                                         ZSTD_getErrorName(compressed_size));
  }
  const bool use_zstd = compressed_size < raw.size() && (raw.size() - compressed_size) * 4 >= raw.size();
  const std::vector<unsigned char>& stored = use_zstd ? compressed : raw;
  const size_t stored_size = use_zstd ? compressed_size : raw.size();

  w.pad_to(layout::kExpertAlignment);
  record.offset = w.position;
  record.stored_size = stored_size;
  record.raw_size = raw_size;
  record.compression = use_zstd ? Compression::Zstd : Compression::None;
  record.checksum = checksum64(stored.data(), stored_size);
  w.write_bytes(stored.data(), stored_size);
  w.expert_keys.insert({stack, layer, expert});
  w.metadata.experts.push_back(std::move(record));
}

void ModelWriter::finish() {
  Impl& w = *impl_;
  w.check_writable();
  w.pad_to(layout::kMetadataAlignment);
  const std::vector<unsigned char> metadata = build_metadata(w.metadata);

  layout::FileHeader header;
  header.flags = header_flags(w.metadata);
  header.metadata_offset = w.position;
  header.metadata_size = metadata.size();
  header.metadata_checksum = checksum64(metadata.data(), metadata.size());
  w.write_bytes(metadata.data(), metadata.size());
  header.file_size = w.position;
  unsigned char encoded[layout::kHeaderSize];
  layout::encode_header(header, encoded);
  if (::pwrite(w.fd, encoded, sizeof(encoded), 0) != static_cast<ssize_t>(sizeof(encoded))) {
    w.fail_io("write the header of " + w.temp_path, errno ? errno : EIO);
  }
  if (::fsync(w.fd) != 0) w.fail_io("sync " + w.temp_path, errno);

  // Never rename into place a file the reader would refuse: open it with the same checks.
  try {
    ModelFile::open(w.temp_path, ModelFile::OpenOptions{false, ModelFile::Residency::Map});
  } catch (const Error& e) {
    w.failed = true;
    throw Error(ErrorCode::InvalidArgument,
                w.path + ": the model being written is not valid: " + e.what());
  }

  const int fd = w.fd;
  w.fd = -1;
  if (::close(fd) != 0) w.fail_io("close " + w.temp_path, errno);
  if (::rename(w.temp_path.c_str(), w.path.c_str()) != 0) {
    w.fail_io("rename " + w.temp_path + " into place", errno);
  }
  w.finished = true;
  sync_parent_directory(w.path);
}

namespace {

// Reads exactly size bytes at offset of fd.
void pread_exact(int fd, const std::string& path, uint64_t offset, uint64_t size, unsigned char* out) {
  while (size > 0) {
    const ssize_t got = ::pread(fd, out, static_cast<size_t>(std::min<uint64_t>(size, 1u << 30)),
                                static_cast<off_t>(offset));
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) throw Error(ErrorCode::Io, path + ": cannot read: " + std::strerror(got < 0 ? errno : EIO));
    out += got;
    offset += static_cast<uint64_t>(got);
    size -= static_cast<uint64_t>(got);
  }
}

}  // namespace

void replace_expert_usage(const std::string& path, const std::vector<PairUsage>& usage) {
  // Opening checks header, metadata and every bound; its answer sizes what is copied below.
  const auto model = ModelFile::open(path, ModelFile::OpenOptions{false, ModelFile::Residency::Map});
  const int in = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (in < 0) throw Error(ErrorCode::Io, path + ": cannot open: " + std::strerror(errno));
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{in};

  unsigned char head[layout::kHeaderSize];
  pread_exact(in, path, 0, sizeof(head), head);
  layout::FileHeader header = layout::decode_header(head);
  std::vector<unsigned char> old_metadata(static_cast<size_t>(header.metadata_size));
  pread_exact(in, path, header.metadata_offset, header.metadata_size, old_metadata.data());
  const FileExtent extent{header.file_size, header.metadata_offset, header.metadata_size};
  CheckedMetadata checked = read_metadata(old_metadata.data(), extent, path);
  MetadataRecord records = std::move(checked.records);
  records.tokenizer = std::string(checked.tokenizer);
  records.expert_usage = usage;
  for (const PairUsage& u : usage) {
    if (u.counts.size() != records.experts.size())
      fail_argument(path, "expert usage of " + u.source + "-" + u.target + " has " +
                              to_string(u.counts.size()) + " counts, the model has " +
                              to_string(records.experts.size()) + " experts");
    if (!model->find_language(u.source) || !model->find_language(u.target))
      fail_argument(path, "expert usage names language pair " + u.source + "-" + u.target +
                              ", which the model does not have");
  }
  const std::vector<unsigned char> metadata = build_metadata(records);

  // The new file: the old bytes up to the metadata, then the new metadata and header.
  std::string temp;
  int out = -1;
  for (int attempt = 0; attempt < 100 && out < 0; ++attempt) {
    temp = path + ".tmp-" + random_suffix();
    out = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (out < 0 && errno != EEXIST) throw Error(ErrorCode::Io, path + ": cannot create " + temp + ": " + std::strerror(errno));
  }
  if (out < 0) throw Error(ErrorCode::Io, path + ": cannot find a free temporary file name");
  bool done = false;
  struct Cleanup {
    int& fd;
    const std::string& temp;
    bool& done;
    ~Cleanup() {
      if (fd >= 0) ::close(fd);
      if (!done) ::unlink(temp.c_str());
    }
  } cleanup{out, temp, done};
  const auto write_all = [&](const unsigned char* p, uint64_t size, uint64_t offset) {
    while (size > 0) {
      const ssize_t n = ::pwrite(out, p, static_cast<size_t>(std::min<uint64_t>(size, 1u << 30)),
                                 static_cast<off_t>(offset));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) throw Error(ErrorCode::Io, path + ": cannot write " + temp + ": " + std::strerror(n < 0 ? errno : EIO));
      p += n;
      offset += static_cast<uint64_t>(n);
      size -= static_cast<uint64_t>(n);
    }
  };
  std::vector<unsigned char> chunk(8u << 20);
  for (uint64_t at = layout::kHeaderSize; at < header.metadata_offset;) {
    const uint64_t n = std::min<uint64_t>(chunk.size(), header.metadata_offset - at);
    pread_exact(in, path, at, n, chunk.data());
    write_all(chunk.data(), n, at);
    at += n;
  }
  write_all(metadata.data(), metadata.size(), header.metadata_offset);
  header.metadata_size = metadata.size();
  header.metadata_checksum = checksum64(metadata.data(), metadata.size());
  header.file_size = header.metadata_offset + metadata.size();
  unsigned char encoded[layout::kHeaderSize];
  layout::encode_header(header, encoded);
  write_all(encoded, sizeof(encoded), 0);
  if (::fsync(out) != 0) throw Error(ErrorCode::Io, path + ": cannot sync " + temp + ": " + std::strerror(errno));
  try {
    ModelFile::open(temp, ModelFile::OpenOptions{false, ModelFile::Residency::Map});
  } catch (const Error& e) {
    throw Error(ErrorCode::InvalidArgument, path + ": the model with the new expert usage is not valid: " + e.what());
  }
  const int fd = out;
  out = -1;
  if (::close(fd) != 0) throw Error(ErrorCode::Io, path + ": cannot close " + temp + ": " + std::strerror(errno));
  if (::rename(temp.c_str(), path.c_str()) != 0)
    throw Error(ErrorCode::Io, path + ": cannot rename " + temp + " into place: " + std::strerror(errno));
  done = true;
  sync_parent_directory(path);
}

}  // namespace tusk::format
