#include "model_format/model_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <zstd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <tuple>

#include "common/error.h"
#include "model_format/checksum.h"
#include "model_format/file_layout.h"
#include "model_format/metadata_reader.h"

// Dense tensors are used as stored (copied or mapped), so the file's little-endian bytes must be
// the host's own.
static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "Tusk model files need a little-endian host");

namespace tusk::format {

struct ModelFile::ExpertFrame {
  ExpertRecord record;  // checked: the frame lies inside the file, its tensors inside raw_size
};

namespace {

using std::to_string;

[[noreturn]] void fail(const std::string& path, const std::string& message) {
  throw Error(ErrorCode::InvalidModel, path + ": " + message);
}

[[noreturn]] void fail_io(const std::string& path, const std::string& action, int error) {
  throw Error(ErrorCode::Io, path + ": cannot " + action + ": " + std::strerror(error));
}

std::string expert_name(Stack stack, int layer, int expert) {
  return std::string("expert (") + (stack == Stack::Encoder ? "encoder" : "decoder") + " layer " +
         to_string(layer) + ", expert " + to_string(expert) + ")";
}

// Scales tensors belong to the quantization, not to the model: leave them out of parameter
// counts so a model has the same count however it is stored. (The reader guarantees every
// "*.scales" tensor is the companion of a quantized weight.)
bool is_scales(const std::string& name) {
  constexpr size_t n = sizeof(".scales") - 1;
  return name.size() > n && name.compare(name.size() - n, n, ".scales") == 0;
}

uint64_t element_count(const std::vector<int64_t>& shape) {
  uint64_t n = 1;
  for (int64_t d : shape) n *= static_cast<uint64_t>(d);  // checked at open: no overflow
  return n;
}

// Checks the fixed header (`base`: the file's first kHeaderSize bytes, zero past its end) against
// the real file size; returns where the metadata is. Its checksum is checked by check_metadata.
FileExtent check_header(const std::string& path, const unsigned char* base, uint64_t file_size) {
  if (file_size >= 4 && !layout::has_magic(base)) {
    fail(path, "not a .tusk model file (bad magic)");
  }
  if (file_size < layout::kHeaderSize) {
    fail(path, "file is truncated (" + to_string(file_size) + " bytes, shorter than the " +
                   to_string(layout::kHeaderSize) + "-byte header)");
  }
  const layout::FileHeader header = layout::decode_header(base);
  // The version is read before the checksum so a newer file says so instead of "corrupt".
  if (header.format_version != layout::kFormatVersion) {
    fail(path, "unsupported format version " + to_string(header.format_version) +
                   " (this build reads version " + to_string(layout::kFormatVersion) + ")");
  }
  if (header.header_checksum != checksum64(base, layout::kHeaderSize - 8)) {
    fail(path, "header is corrupt (checksum mismatch)");
  }
  if (header.header_size != layout::kHeaderSize || header.reserved != 0) {
    fail(path, "header is malformed (header size " + to_string(header.header_size) +
                   ", reserved field " + to_string(header.reserved) + ")");
  }
  if ((header.flags & ~layout::kKnownFlags) != 0) {
    fail(path, "file uses feature flags this build does not know (flags " +
                   to_string(header.flags) + ")");
  }
  if (header.file_size > file_size) {
    fail(path, "file is truncated (header says " + to_string(header.file_size) +
                   " bytes, file has " + to_string(file_size) + ")");
  }
  if (header.file_size < file_size) {
    fail(path, "file has " + to_string(file_size - header.file_size) +
                   " unexpected bytes after its end (header says " + to_string(header.file_size) +
                   " bytes, file has " + to_string(file_size) + ")");
  }
  uint64_t metadata_end;
  if (header.metadata_offset < layout::kHeaderSize ||
      header.metadata_offset % layout::kMetadataAlignment != 0 ||
      __builtin_add_overflow(header.metadata_offset, header.metadata_size, &metadata_end) ||
      metadata_end > file_size) {
    fail(path, "metadata location is invalid (offset " + to_string(header.metadata_offset) +
                   ", size " + to_string(header.metadata_size) + ", file has " +
                   to_string(file_size) + " bytes)");
  }
  return FileExtent{file_size, header.metadata_offset, header.metadata_size, header.flags,
                    header.metadata_checksum};
}

void check_metadata(const std::string& path, const unsigned char* metadata, const FileExtent& extent) {
  if (extent.metadata_checksum != checksum64(metadata, extent.metadata_size)) {
    fail(path, "metadata is corrupt (checksum mismatch)");
  }
}

int64_t mtime_ns(const struct stat& st) {
  return static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
}

}  // namespace

void ModelFile::open_file() {
  // O_NONBLOCK: opening a FIFO would otherwise wait for a writer; it is refused below. (It
  // changes nothing for the regular files that pass.)
  const int fd = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) fail_io(path_, "open", errno);
  fd_ = fd;  // closed by the destructor from here on
  struct stat st;
  if (::fstat(fd, &st) != 0) fail_io(path_, "stat", errno);
  if (!S_ISREG(st.st_mode)) throw Error(ErrorCode::Io, path_ + ": not a regular file");
  const uint64_t size = static_cast<uint64_t>(st.st_size);
  if (size == 0) fail(path_, "file is empty (0 bytes), not a .tusk model");
  if (size > SIZE_MAX) throw Error(ErrorCode::Io, path_ + ": file is too large for this system");
  file_size_ = size;
  mtime_ns_ = mtime_ns(st);
}

void ModelFile::map_file() {
  void* mapped = ::mmap(nullptr, static_cast<size_t>(file_size_), PROT_READ, MAP_PRIVATE, fd_, 0);
  if (mapped == MAP_FAILED) fail_io(path_, "mmap", errno);
  base_ = static_cast<const unsigned char*>(mapped);
}

void ModelFile::check_unchanged() const {
  if (!changed_.load(std::memory_order_relaxed)) {
    struct stat st;
    if (::fstat(fd_, &st) != 0) fail_io(path_, "stat", errno);
    if (static_cast<uint64_t>(st.st_size) == file_size_ && mtime_ns(st) == mtime_ns_) return;
    changed_.store(true, std::memory_order_relaxed);
  }
  throw Error(ErrorCode::Io, path_ + ": the model file was changed in place after it was opened; "
                                     "open the model again (to update a model in use, write the new "
                                     "file elsewhere and rename it over the old one)");
}

void ModelFile::fail_read(const std::string& message) const {
  check_unchanged();  // a file changed under a read says so, rather than "corrupt"
  fail(path_, message);
}

std::vector<const unsigned char*> ModelFile::copy_dense(const std::vector<DenseTensorRecord>& tensors) {
  // One block, each tensor 64-byte aligned as in the file; read in file order.
  std::vector<size_t> order(tensors.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return tensors[a].offset < tensors[b].offset; });
  std::vector<uint64_t> at(tensors.size());
  uint64_t total = 0;
  for (size_t i : order) {  // sizes are within the file (checked), so no sum overflows
    at[i] = total;
    uint64_t aligned = 0;
    layout::align_up(tensors[i].size, layout::kDenseAlignment, &aligned);
    total += aligned;
  }
  dense_copy_.reset(static_cast<unsigned char*>(
      std::aligned_alloc(layout::kDenseAlignment, static_cast<size_t>(std::max<uint64_t>(total, layout::kDenseAlignment)))));
  if (!dense_copy_) {
    throw Error(ErrorCode::OutOfMemory, path_ + ": cannot allocate " + to_string(total) +
                                            " bytes for the dense weights");
  }
  std::vector<const unsigned char*> data(tensors.size());
  for (size_t i : order) {
    unsigned char* out = dense_copy_.get() + at[i];
    read_exact(tensors[i].offset, tensors[i].size, out);
    data[i] = out;
  }
  return data;
}

void ModelFile::read_exact(uint64_t offset, uint64_t size, unsigned char* out) const {
  while (size > 0) {
    const ssize_t got = ::pread(fd_, out, static_cast<size_t>(size), static_cast<off_t>(offset));
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) fail_io(path_, "pread", errno);
    if (got == 0) fail_read("file ended while reading weights (was it truncated after opening?)");
    out += got;
    offset += static_cast<uint64_t>(got);
    size -= static_cast<uint64_t>(got);
  }
}

namespace {
constexpr uint64_t kDirectAlignment = 4096;  // O_DIRECT: buffer, offset and length
uint64_t round_up(uint64_t v, uint64_t a) { return (v + a - 1) / a * a; }
}  // namespace

int ModelFile::direct_fd() const {
  // Reopened through the descriptor, not the path: a file renamed over ours since open is
  // another file.
  std::call_once(direct_once_, [this] {
    direct_fd_ = ::open(("/proc/self/fd/" + to_string(fd_)).c_str(), O_RDONLY | O_DIRECT | O_CLOEXEC);
  });
  return direct_fd_;
}

void ModelFile::read_direct(uint64_t offset, uint64_t size, unsigned char* out) const {
  // Whole aligned blocks; the last may run past the frame (bytes ignored) or the file's end
  // (a short read, which is fine once `size` bytes are in).
  uint64_t done = 0;
  const uint64_t length = round_up(size, kDirectAlignment);
  while (done < size) {
    const ssize_t got = ::pread(direct_fd_, out + done, static_cast<size_t>(length - done),
                                static_cast<off_t>(offset + done));
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) fail_io(path_, "pread (O_DIRECT)", errno);
    if (got == 0) fail_read("file ended while reading weights (was it truncated after opening?)");
    done += static_cast<uint64_t>(got);
    if (done < size && done % kDirectAlignment != 0)
      fail_read("short O_DIRECT read inside an expert frame (was the file truncated after opening?)");
  }
}

ModelFile::~ModelFile() {
  if (base_) ::munmap(const_cast<unsigned char*>(base_), static_cast<size_t>(file_size_));
  if (fd_ >= 0) ::close(fd_);
  if (direct_fd_ >= 0) ::close(direct_fd_);
}

std::shared_ptr<const ModelFile> ModelFile::open(const std::string& path,
                                                 const OpenOptions& options) {
  // Owned from the start, so a throw below closes and unmaps.
  std::shared_ptr<ModelFile> file(new ModelFile());
  file->path_ = path;
  file->residency_ = options.residency;
  file->open_file();
  const bool map = options.residency == Residency::Map;
  if (map) file->map_file();
  unsigned char header[layout::kHeaderSize] = {};
  if (!map) {
    file->read_exact(0, std::min<uint64_t>(file->file_size_, layout::kHeaderSize), header);
  }
  const FileExtent extent = check_header(path, map ? file->base_ : header, file->file_size_);
  const unsigned char* metadata_bytes = map ? file->base_ + extent.metadata_offset : nullptr;
  if (!map) {
    file->metadata_copy_.resize(static_cast<size_t>(extent.metadata_size));
    file->read_exact(extent.metadata_offset, extent.metadata_size, file->metadata_copy_.data());
    metadata_bytes = file->metadata_copy_.data();
  }
  check_metadata(path, metadata_bytes, extent);
  CheckedMetadata metadata = read_metadata(metadata_bytes, extent, path);
  if (extent.flags != header_flags(metadata.records))
    fail(path, "header flags " + to_string(extent.flags) + " do not match the metadata (flags " +
                   to_string(header_flags(metadata.records)) + ": an id-mapping vocabulary sets bit 0)");

  file->format_version_ = layout::kFormatVersion;
  file->metadata_size_ = extent.metadata_size;
  file->config_ = std::move(metadata.records.config);
  file->languages_ = std::move(metadata.records.languages);
  file->tokenizer_ = metadata.tokenizer;
  file->vocabulary_ = std::move(metadata.records.vocabulary);
  file->quantization_ = std::move(metadata.records.quantization);
  file->expert_usage_ = std::move(metadata.records.expert_usage);

  file->tensors_.reserve(metadata.records.tensors.size());
  file->tensor_stats_.reserve(metadata.records.tensors.size());
  std::vector<const unsigned char*> copies;
  if (!map) copies = file->copy_dense(metadata.records.tensors);
  for (size_t i = 0; i < metadata.records.tensors.size(); ++i) {  // sorted by name
    DenseTensorRecord& t = metadata.records.tensors[i];
    const unsigned char* data = map ? file->base_ + t.offset : copies[i];
    if (options.verify_checksums && checksum64(data, t.size) != t.checksum) {
      fail(path, "tensor '" + printable_name(t.name) + "' is corrupt (checksum mismatch)");
    }
    TensorView view;
    view.data = data;
    view.dtype = t.dtype;
    view.layout = t.layout;
    view.shape = std::move(t.shape);
    view.bytes = static_cast<size_t>(t.size);
    file->tensors_.emplace_back(std::move(t.name), std::move(view));
    file->tensor_stats_.push_back(t.stats);
  }
  file->experts_.reserve(metadata.records.experts.size());
  for (ExpertRecord& e : metadata.records.experts) {  // sorted by (stack, layer, expert)
    file->experts_.push_back(ExpertFrame{std::move(e)});
  }
  return file;
}

const Language* ModelFile::find_language(std::string_view code) const {
  for (const Language& l : languages_) {
    if (l.code == code) return &l;
  }
  for (const Language& l : languages_) {
    if (l.token == code) return &l;
  }
  return nullptr;
}

bool ModelFile::has_tensor(std::string_view name) const {
  const auto it = std::lower_bound(tensors_.begin(), tensors_.end(), name,
                                   [](const auto& entry, std::string_view n) { return entry.first < n; });
  return it != tensors_.end() && it->first == name;
}

const TensorView& ModelFile::tensor(std::string_view name) const {
  const auto it = std::lower_bound(tensors_.begin(), tensors_.end(), name,
                                   [](const auto& entry, std::string_view n) { return entry.first < n; });
  if (it == tensors_.end() || it->first != name) {
    fail(path_, "model has no tensor '" + std::string(name) + "'");
  }
  return it->second;
}

const ModelFile::ExpertFrame* ModelFile::find_expert(Stack stack, int layer, int expert) const {
  const auto key = std::make_tuple(stack, layer, expert);
  const auto it = std::lower_bound(experts_.begin(), experts_.end(), key,
                                   [](const ExpertFrame& f, const auto& k) {
                                     return std::make_tuple(f.record.stack, int{f.record.layer},
                                                            int{f.record.expert}) < k;
                                   });
  if (it == experts_.end() || it->record.stack != stack || it->record.layer != layer ||
      it->record.expert != expert) {
    return nullptr;
  }
  return &*it;
}

const ModelFile::ExpertFrame& ModelFile::expert_or_throw(Stack stack, int layer, int expert) const {
  const ExpertFrame* frame = find_expert(stack, layer, expert);
  if (!frame) fail(path_, "model has no " + expert_name(stack, layer, expert));
  return *frame;
}

bool ModelFile::has_expert(Stack stack, int layer, int expert) const {
  return find_expert(stack, layer, expert) != nullptr;
}

std::vector<ExpertId> ModelFile::expert_ids() const {
  std::vector<ExpertId> ids;
  ids.reserve(experts_.size());
  for (const ExpertFrame& f : experts_) ids.push_back({f.record.stack, f.record.layer, f.record.expert});
  return ids;
}

const PairUsage* ModelFile::find_expert_usage(std::string_view source, std::string_view target) const {
  for (const PairUsage& u : expert_usage_)
    if (u.source == source && u.target == target) return &u;
  return nullptr;
}

uint64_t ModelFile::expert_raw_bytes(Stack stack, int layer, int expert) const {
  return expert_or_throw(stack, layer, expert).record.raw_size;
}

ExpertWeights ModelFile::load_expert(Stack stack, int layer, int expert) const {
  ExpertWeights weights;
  load_expert(stack, layer, expert, weights);
  return weights;
}

void ModelFile::load_expert(Stack stack, int layer, int expert, ExpertWeights& into, bool direct) const {
  const ExpertRecord& frame = expert_or_throw(stack, layer, expert).record;
  check_unchanged();
  const std::string what = expert_name(stack, layer, expert);
  const size_t raw_size = static_cast<size_t>(frame.raw_size);
  const size_t stored_size = static_cast<size_t>(frame.stored_size);
  direct = direct && direct_fd() >= 0 && frame.offset % kDirectAlignment == 0;
  const bool direct_raw = direct && frame.compression == Compression::None;

  // Views first, they go stale. The bytes are reused only at exactly the size needed, so an
  // expert never holds more memory than its decoded size (+ alignment slack) says. A direct
  // read lands whole aligned blocks, so it needs 4096-byte alignment and a rounded-up tail.
  into.tensors_.clear();
  const size_t align = direct_raw ? kDirectAlignment : 64;
  const size_t room = (direct_raw ? round_up(raw_size, kDirectAlignment) : raw_size) + align - 1;
  if (into.storage_.size() != room) into.storage_ = std::vector<unsigned char>(room);
  into.data_offset_ = (align - reinterpret_cast<uintptr_t>(into.storage_.data()) % align) % align;
  into.data_size_ = raw_size;
  unsigned char* decoded = into.storage_.data() + into.data_offset_;

  // pread, not the mapping: a paged expert then costs its decoded copy only, not also its
  // file pages (which madvise could drop, but only at the price of TLB shootdowns that
  // stall every thread of the process).
  if (frame.compression == Compression::None) {
    if (direct_raw)
      read_direct(frame.offset, stored_size, decoded);
    else
      read_exact(frame.offset, stored_size, decoded);
    if (checksum64(decoded, stored_size) != frame.checksum) fail_read(what + " is corrupt (checksum mismatch)");
  } else {
    thread_local std::vector<unsigned char> stored_buffer;
    const size_t need = round_up(stored_size, kDirectAlignment) + kDirectAlignment - 1;
    if (stored_buffer.size() < need) stored_buffer.resize(need);
    unsigned char* aligned = stored_buffer.data() +
        (kDirectAlignment - reinterpret_cast<uintptr_t>(stored_buffer.data()) % kDirectAlignment) % kDirectAlignment;
    const unsigned char* stored = aligned;
    if (direct)
      read_direct(frame.offset, stored_size, aligned);
    else
      read_exact(frame.offset, stored_size, aligned);
    if (checksum64(stored, stored_size) != frame.checksum) fail_read(what + " is corrupt (checksum mismatch)");
    // The zstd frame header must agree with the index.
    const unsigned long long content_size = ZSTD_getFrameContentSize(stored, stored_size);
    if (content_size != frame.raw_size) {
      fail_read(what + " is damaged: its zstd frame does not declare " + to_string(raw_size) +
                      " decoded bytes");
    }
    const size_t frame_size = ZSTD_findFrameCompressedSize(stored, stored_size);
    if (ZSTD_isError(frame_size) || frame_size != stored_size) {
      fail_read(what + " is damaged: it is not exactly one zstd frame");
    }
    const size_t got = ZSTD_decompress(decoded, raw_size, stored, stored_size);
    if (ZSTD_isError(got)) {
      fail_read(what + " is damaged: zstd says " + ZSTD_getErrorName(got));
    }
    if (got != raw_size) {
      fail_read(what + " is damaged: decoded " + to_string(got) + " bytes, expected " +
                      to_string(raw_size));
    }
  }

  into.tensors_.reserve(frame.tensors.size());
  for (const ExpertTensorRecord& t : frame.tensors) {
    TensorView view;
    view.data = decoded + t.offset;
    view.dtype = t.dtype;
    view.layout = t.layout;
    view.shape = t.shape;
    view.bytes = static_cast<size_t>(t.size);
    into.tensors_.emplace_back(t.name, std::move(view));
  }
}

std::vector<SectionStats> ModelFile::section_stats() const {
  SectionStats dense{"dense", 0, 0, 0};
  for (const auto& entry : tensors_) {
    dense.stored_bytes += entry.second.bytes;
    ++dense.items;
  }
  dense.raw_bytes = dense.stored_bytes;
  SectionStats experts{"experts", 0, 0, 0};
  for (const ExpertFrame& f : experts_) {
    experts.stored_bytes += f.record.stored_size;
    experts.raw_bytes += f.record.raw_size;
    ++experts.items;
  }
  // The tokenizer lives inside the metadata FlatBuffer; report the two apart.
  const uint64_t tokenizer_bytes = tokenizer_.size();
  SectionStats metadata{"metadata", metadata_size_ - tokenizer_bytes,
                        metadata_size_ - tokenizer_bytes, 1};
  SectionStats tokenizer{"tokenizer", tokenizer_bytes, tokenizer_bytes, tokenizer_bytes ? 1u : 0u};
  return {dense, experts, metadata, tokenizer};
}

std::vector<TensorInfo> ModelFile::tensor_infos() const {
  std::vector<TensorInfo> infos;
  for (size_t i = 0; i < tensors_.size(); ++i) {
    const TensorView& v = tensors_[i].second;
    infos.push_back({tensors_[i].first, v.dtype, v.shape, v.bytes, false, tensor_stats_[i]});
  }
  for (const ExpertFrame& f : experts_) {
    const ExpertRecord& e = f.record;
    const std::string prefix = std::string("model.") +
                               (e.stack == Stack::Encoder ? "encoder" : "decoder") + ".layers." +
                               to_string(e.layer) + ".ffn.experts.expert_" + to_string(e.expert) + ".";
    for (const ExpertTensorRecord& t : e.tensors) {
      infos.push_back({prefix + t.name, t.dtype, t.shape, t.size, true, t.stats});
    }
  }
  return infos;
}

uint64_t ModelFile::expert_parameter_count() const {
  uint64_t n = 0;
  for (const ExpertFrame& f : experts_) {
    for (const ExpertTensorRecord& t : f.record.tensors) {
      if (!is_scales(t.name)) n += element_count(t.shape);
    }
  }
  return n;
}

uint64_t ModelFile::parameter_count() const {
  uint64_t n = expert_parameter_count();
  for (const auto& entry : tensors_) {
    if (!is_scales(entry.first)) n += element_count(entry.second.shape);
  }
  return n;
}

}  // namespace tusk::format
