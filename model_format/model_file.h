// Reading a .tusk file: verify, and hand out checked views.
//
// The file is never trusted to stay as it was: by default (Residency::Copy) open() reads the
// header, metadata and dense tensors into memory the model owns, and expert frames are read
// with pread and checksum-verified at each load, so a file overwritten, truncated or deleted
// while in use can never crash the process (no mapping of it exists to fault on). Residency::Map
// uses the dense tensors in place from a read-only mapping instead: no copy and faster opens,
// but a file changed in place under it can end the process with SIGBUS (truncation) or feed
// it the new bytes. Either way check_unchanged() refuses, from the first call after it, a file
// whose size or modification time differ from what open() saw; a file replaced by rename, or
// deleted, is not changed: the open descriptor keeps the old one.
//
// open() validates everything before returning: the fixed header, the FlatBuffer metadata
// (flatbuffers::Verifier with explicit depth/table limits), and for every dense tensor and
// expert frame its offset, size, alignment and dtype/shape agreement against the file size.
// With verify_checksums it also hashes every dense tensor. A hostile or damaged file yields
// tusk::Error(InvalidModel or Io) with a message naming the file and the offending item;
// it never crashes.
#pragma once

#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <optional>
#include <string>
#include <mutex>
#include <string_view>
#include <vector>

#include "model_format/model_config.h"
#include "model_format/tensor_types.h"
#include "model_format/vocabulary.h"

namespace tusk::format {

struct Language {
  std::string code;   // short code: "en" (ISO 639-1 where unambiguous, else as token)
  std::string token;  // the vocabulary's language token: "eng_Latn"
  int32_t token_id = 0;
};

// One decoded expert: owns its bytes; tensors are named "fc1.weight", "fc1.bias",
// "fc2.weight", "fc2.bias" (fc2 already carries the folded expert output scale).
class ExpertWeights {
 public:
  ExpertWeights() = default;
  // A copy gets its own 64-byte aligned bytes and views pointing at them; a move keeps both.
  ExpertWeights(const ExpertWeights& other);
  ExpertWeights& operator=(const ExpertWeights& other);
  ExpertWeights(ExpertWeights&&) noexcept = default;
  ExpertWeights& operator=(ExpertWeights&&) noexcept = default;
  const TensorView& tensor(std::string_view name) const;  // throws InvalidModel if missing
  const std::vector<std::pair<std::string, TensorView>>& tensors() const { return tensors_; }
  size_t bytes() const { return storage_.size(); }

 private:
  friend class ModelFile;
  // Over-allocated by up to 63 bytes so the decoded frame can start 64-byte aligned.
  std::vector<unsigned char> storage_;
  size_t data_offset_ = 0;  // where the decoded frame starts inside storage_
  size_t data_size_ = 0;    // its size (the frame's raw_size)
  std::vector<std::pair<std::string, TensorView>> tensors_;
};

// Expert usage of one language pair, measured on calibration text (schema table ExpertUsage).
struct PairUsage {
  std::string source, target;  // language codes
  uint32_t sentences = 0;
  std::vector<uint32_t> counts;  // one per expert, in ModelFile::expert_ids() order
};

// One expert of one sparse layer, as the file indexes it.
struct ExpertId {
  Stack stack = Stack::Encoder;
  int layer = 0;
  int expert = 0;
};

// Where bytes go in the file, for `tusk inspect`.
struct SectionStats {
  std::string kind;          // "dense", "experts", "metadata", "tokenizer"
  uint64_t stored_bytes = 0; // bytes in the file
  uint64_t raw_bytes = 0;    // bytes once decompressed
  uint64_t items = 0;        // tensors or frames
};

// One stored tensor as the metadata describes it (no weight byte is read), for inspection.
struct TensorInfo {
  // A dense tensor's name; an expert tensor is named as in the Hugging Face checkpoint:
  // "model.encoder.layers.1.ffn.experts.expert_3.fc1.weight".
  std::string name;
  DType dtype = DType::F32;
  std::vector<int64_t> shape;
  uint64_t bytes = 0;       // stored bytes (decoded bytes for an expert tensor)
  bool in_expert = false;
  std::optional<QuantStats> stats = std::nullopt;  // set where the converter measured it
};

struct DenseTensorRecord;

class ModelFile {
 public:
  enum class Residency { Copy, Map };
  struct OpenOptions {
    bool verify_checksums = true;
    Residency residency = Residency::Copy;
  };

  static std::shared_ptr<const ModelFile> open(const std::string& path, const OpenOptions& options);
  ~ModelFile();
  ModelFile(const ModelFile&) = delete;
  ModelFile& operator=(const ModelFile&) = delete;

  const std::string& path() const { return path_; }
  Residency residency() const { return residency_; }
  // Throws Io if the file's size or modification time changed since open (then for good: a
  // change back does not make the old views right again). One fstat. Thread-safe.
  void check_unchanged() const;
  uint32_t format_version() const { return format_version_; }
  const ModelConfig& config() const { return config_; }
  const std::vector<Language>& languages() const { return languages_; }
  // By short code ("en") or by token ("eng_Latn"); nullptr if unknown.
  const Language* find_language(std::string_view code) const;
  // The serialized SentencePiece model (a view into the metadata bytes).
  std::string_view tokenizer_model() const { return tokenizer_; }
  // The id map and added tokens; !recorded() in files from before it (see vocabulary.h).
  const Vocabulary& vocabulary() const { return vocabulary_; }

  bool has_tensor(std::string_view name) const;
  // A checked view into the dense bytes; throws InvalidModel naming the tensor if it is missing.
  const TensorView& tensor(std::string_view name) const;
  const std::vector<std::pair<std::string, TensorView>>& tensors() const { return tensors_; }

  bool has_expert(Stack stack, int layer, int expert) const;
  // Reads (pread: the frame's file pages never enter this process's memory), checksum-verifies
  // and decompresses (if needed) one expert frame. The second form decodes into `into`,
  // reusing its bytes when they are large enough (an evicted expert's, so paging does not
  // allocate). Thread-safe.
  // direct: read with O_DIRECT, bypassing the OS page cache as well, so paged experts cost
  // memory only once, in the caller's cache, and every load really reads storage (a model
  // larger than memory). Falls back to a buffered read where the file system refuses
  // O_DIRECT.
  ExpertWeights load_expert(Stack stack, int layer, int expert) const;
  void load_expert(Stack stack, int layer, int expert, ExpertWeights& into, bool direct = false) const;
  // Decoded size of one expert frame (what it costs in memory once loaded), for budgeting.
  // Throws InvalidModel naming the expert if it is missing.
  uint64_t expert_raw_bytes(Stack stack, int layer, int expert) const;
  // Every expert frame, in (stack, layer, expert) order: the order of PairUsage::counts.
  std::vector<ExpertId> expert_ids() const;
  // Calibration usage per language pair; empty if the file was not calibrated.
  const std::vector<PairUsage>& expert_usage() const { return expert_usage_; }
  const PairUsage* find_expert_usage(std::string_view source, std::string_view target) const;

  std::vector<SectionStats> section_stats() const;
  // Dense tensors by name, then each expert frame's tensors in (stack, layer, expert) order.
  std::vector<TensorInfo> tensor_infos() const;
  // The converter's quantization summary ("" in files from before quantization).
  const std::string& quantization() const { return quantization_; }
  uint64_t file_size() const { return file_size_; }
  uint64_t parameter_count() const;         // all parameters (quantization scales excluded)
  uint64_t expert_parameter_count() const;  // parameters inside expert frames

 private:
  ModelFile() = default;
  struct ExpertFrame;
  void open_file();  // open + fstat: sets fd_, file_size_ and the identity check_unchanged uses
  void map_file();   // mmap of the whole file: sets base_
  // Reads the dense tensors (sorted by offset) into one owned block; returns each one's copy.
  std::vector<const unsigned char*> copy_dense(const std::vector<DenseTensorRecord>& tensors);
  // Throws for bytes read from the file that are not what the metadata promised: Io if the
  // file changed since open, else InvalidModel with the message.
  [[noreturn]] void fail_read(const std::string& message) const;
  // Reads exactly size bytes at offset with pread, or throws Io.
  void read_exact(uint64_t offset, uint64_t size, unsigned char* out) const;
  // The same through the O_DIRECT descriptor: offset and out kDirectAlignment-aligned, out
  // with room for size rounded up to it.
  void read_direct(uint64_t offset, uint64_t size, unsigned char* out) const;
  int direct_fd() const;  // opened on first use; -1 if the file system refuses O_DIRECT
  const ExpertFrame* find_expert(Stack stack, int layer, int expert) const;
  const ExpertFrame& expert_or_throw(Stack stack, int layer, int expert) const;
  uint64_t metadata_size_ = 0;
  std::string path_;
  uint32_t format_version_ = 0;
  Residency residency_ = Residency::Copy;
  const unsigned char* base_ = nullptr;  // the mapping (Map only)
  std::vector<unsigned char> metadata_copy_;  // Copy: the metadata bytes views point into
  struct FreeDeleter { void operator()(unsigned char* p) const { std::free(p); } };
  std::unique_ptr<unsigned char[], FreeDeleter> dense_copy_;  // Copy: every dense tensor, 64-aligned
  uint64_t file_size_ = 0;
  int64_t mtime_ns_ = 0;
  mutable std::atomic<bool> changed_{false};
  int fd_ = -1;  // kept open for expert reads
  mutable std::once_flag direct_once_;
  mutable int direct_fd_ = -1;
  ModelConfig config_;
  std::vector<Language> languages_;
  std::string_view tokenizer_;
  Vocabulary vocabulary_;
  std::vector<std::pair<std::string, TensorView>> tensors_;  // sorted by name
  std::vector<std::optional<QuantStats>> tensor_stats_;      // parallel to tensors_
  std::string quantization_;
  std::vector<PairUsage> expert_usage_;
  std::vector<ExpertFrame> experts_;
};

}  // namespace tusk::format
