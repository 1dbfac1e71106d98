// Hostile model files (issue 18, requirement 6): 2,775 damaged variants of the bundled
// model, made here from a fixed seed: bit flips in the header and in the metadata (with the
// header and metadata checksums re-stamped, so the checks behind them are what refuses it),
// header fields moved (misaligned or out-of-file metadata), bit flips in the weights (dense
// tensors and expert frames), records pointing outside the file (each tensor's and expert
// frame's offset and size rewritten in otherwise valid metadata), and truncation at every
// section boundary: the file cut there as is, and cut there with the metadata re-appended and
// the header re-stamped, so the sections past the cut point outside the file or into the
// metadata. Each is opened and, where that succeeds, translated with checksum verification on,
// off, and with paging on. Every call must return (no crash, no hang: decoding is capped) with
// a status; with verification on, a translation that succeeds must be the undamaged model's.
#include <sys/mman.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cstring>
#include <functional>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "model_format/checksum.h"
#include "model_format/file_layout.h"
#include "model_format/metadata_reader.h"
#include "tusk_test_util.h"

namespace {

using namespace tusk_test;

const std::vector<std::string> kTexts = {"A man rides a bike down the street.", "Two dogs play in the snow."};

uint64_t load_le64(const std::string& b, size_t at) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(b[at + static_cast<size_t>(i)]);
  return v;
}
void store_le64(std::string& b, size_t at, uint64_t v) {
  for (int i = 0; i < 8; ++i) b[at + static_cast<size_t>(i)] = static_cast<char>(v >> (8 * i));
}

// Re-stamping needs the format's checksum (model_format/checksum.h, linked from tusk_format:
// the one piece of the format this otherwise C-ABI-only test uses).
void restamp(std::string& b) {
  const uint64_t off = load_le64(b, 16), size = load_le64(b, 24);
  if (off <= b.size() && size <= b.size() - off)
    store_le64(b, 40, tusk::format::checksum64(reinterpret_cast<const unsigned char*>(b.data()) + off, size));
  store_le64(b, 56, tusk::format::checksum64(reinterpret_cast<const unsigned char*>(b.data()), 56));
}

// `prefix` (padded to the metadata alignment) followed by `metadata`, with the header's metadata
// offset, size, file size and both checksums re-stamped: a file whose header and metadata agree
// with each other but whose records may point anywhere.
std::string with_metadata(std::string prefix, const std::vector<unsigned char>& metadata) {
  prefix.resize((prefix.size() + 63) / 64 * 64, '\0');
  const uint64_t meta_off = prefix.size();
  prefix.append(reinterpret_cast<const char*>(metadata.data()), metadata.size());
  store_le64(prefix, 16, meta_off);
  store_le64(prefix, 24, metadata.size());
  store_le64(prefix, 32, prefix.size());
  restamp(prefix);
  return prefix;
}

class MemoryFile {
 public:
  MemoryFile() : fd_(::memfd_create("tusk-hostile", MFD_CLOEXEC)), path_("/proc/self/fd/" + std::to_string(fd_)) {}
  ~MemoryFile() { ::close(fd_); }
  const std::string& hold(const std::string& bytes) {
    if (::ftruncate(fd_, 0) != 0) throw std::runtime_error("ftruncate");
    if (::pwrite(fd_, bytes.data(), bytes.size(), 0) != static_cast<ssize_t>(bytes.size()))
      throw std::runtime_error("pwrite");
    return path_;
  }

 private:
  int fd_;
  std::string path_;
};

struct Outcome {
  int refused_at_open = 0, refused_in_call = 0, translated = 0;
};

// Opens `path` with verification on or off, translates with a budget (0 or paging), and checks.
void try_variant(const std::string& path, bool verify, int64_t budget, const std::vector<std::string>& reference,
                 const std::string& what, Outcome& out) {
  const Options open_options = make_options({{TUSK_OPT_VERIFY_CHECKSUMS, verify ? 1 : 0}});
  tusk_model_t* raw_model = nullptr;
  if (tusk_model_open(path.c_str(), open_options.get(), &raw_model) != TUSK_OK) {
    ASSERT_EQ(raw_model, nullptr) << what;
    ASSERT_NE(*tusk_last_error(), '\0') << what;
    ++out.refused_at_open;
    return;
  }
  const Model model(raw_model);
  const Options options = make_options({{TUSK_OPT_THREADS, 1}, {TUSK_OPT_MAX_DECODING_LENGTH, 12},
                                        {TUSK_OPT_EXPERT_BUDGET_BYTES, budget}});
  tusk_translator_t* raw_tr = nullptr;
  if (tusk_translator_create(model.get(), options.get(), &raw_tr) != TUSK_OK) {
    ++out.refused_in_call;
    return;
  }
  const Translator tr(raw_tr);
  std::vector<const char*> ptrs;
  for (const auto& t : kTexts) ptrs.push_back(t.c_str());
  tusk_result_t* raw = nullptr;
  const tusk_status_t st = tusk_translate(tr.get(), "en", "de", ptrs.data(), ptrs.size(), &raw);
  const Result result(raw);
  if (st != TUSK_OK) {
    ASSERT_EQ(raw, nullptr) << what;
    ++out.refused_in_call;
    return;
  }
  ++out.translated;
  if (!verify) return;  // unverified damaged weights may translate differently: that is the contract
  for (size_t i = 0; i < kTexts.size(); ++i)
    ASSERT_EQ(tusk_result_text(raw, i), reference[i]) << what << ": a damaged file translated differently";
}

TEST(HostileFiles, ThousandsOfDamagedVariantsNeverCrashOrLie) {
  std::ifstream in(model_path(), std::ios::binary);
  const std::string original((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  ASSERT_GT(original.size(), 1u << 20);
  const uint64_t meta_off = load_le64(original, 16), meta_size = load_le64(original, 24);
  ASSERT_LT(meta_off + meta_size, original.size() + 1);

  std::vector<std::string> reference;
  {
    const Model model = open_model();
    const Options options = make_options({{TUSK_OPT_THREADS, 1}, {TUSK_OPT_MAX_DECODING_LENGTH, 12}});
    const Translator tr = make_translator(model.get(), options.get());
    for (const Hyp& h : translate(tr.get(), "en", "de", kTexts)) reference.push_back(h.text);
  }
  uint64_t total = 0, largest = 0;
  {
    const Model model = open_model();
    check(tusk_model_expert_bytes(model.get(), &total, &largest), "tusk_model_expert_bytes");
  }

  std::mt19937_64 rng(20261207);
  auto pick = [&](uint64_t lo, uint64_t hi) { return std::uniform_int_distribution<uint64_t>(lo, hi - 1)(rng); };
  // Made one at a time when tried: two thousand 16 MB copies would not fit in memory.
  struct Variant {
    std::string what;
    std::function<std::string()> bytes;
  };
  std::vector<Variant> variants;
  auto flip = [&](const std::string& kind, uint64_t lo, uint64_t hi, bool restamped) {
    const uint64_t at = pick(lo, hi);
    const int bit = static_cast<int>(pick(0, 8));
    variants.push_back({kind + " bit flip at byte " + std::to_string(at), [&original, at, bit, restamped] {
                          std::string b = original;
                          b[at] = static_cast<char>(b[at] ^ (1 << bit));
                          if (restamped) restamp(b);
                          return b;
                        }});
  };
  for (int i = 0; i < 150; ++i) flip("header", 0, 64, false);
  for (int i = 0; i < 100; ++i) flip("header (re-stamped)", 0, 56, true);
  for (int i = 0; i < 300; ++i) flip("metadata (re-stamped)", meta_off, meta_off + meta_size, true);
  for (int i = 0; i < 300; ++i) flip("weights", 64, meta_off, false);
  for (int i = 1; i < 64; ++i) {  // metadata moved: misaligned, past the end, overlapping weights
    const uint64_t moved = meta_off + static_cast<uint64_t>(i) * (i % 2 ? 1 : 4096);
    variants.push_back({"metadata offset moved to " + std::to_string(moved), [&original, moved] {
                          std::string b = original;
                          store_le64(b, 16, moved);
                          restamp(b);
                          return b;
                        }});
  }
  for (int i = 0; i < 20; ++i) {  // truncations spread over the file
    const uint64_t at = original.size() * static_cast<uint64_t>(i) / 20;
    variants.push_back({"truncated at " + std::to_string(at), [&original, at] { return original.substr(0, at); }});
  }

  // The metadata's own records, rebuilt unchanged and then with one record pointing elsewhere.
  tusk::format::FileExtent extent{original.size(), meta_off, meta_size, static_cast<uint32_t>(load_le64(original, 8)),
                                  load_le64(original, 40)};
  tusk::format::CheckedMetadata checked = tusk::format::read_metadata(
      reinterpret_cast<const unsigned char*>(original.data()) + meta_off, extent, "bundled model");
  tusk::format::MetadataRecord records = checked.records;
  records.tokenizer = std::string(checked.tokenizer);
  ASSERT_GT(records.tensors.size(), 100u);
  ASSERT_GT(records.experts.size(), 10u);
  const std::string weights = original.substr(0, meta_off);
  ASSERT_EQ(with_metadata(weights, tusk::format::build_metadata(records)).size(), original.size())
      << "rebuilding the unchanged metadata must give a file of the same size";

  const uint64_t size = original.size();
  const uint64_t huge = ~uint64_t{0} - 7;
  for (size_t t = 0; t < records.tensors.size(); t += 3) {  // dense records pointing elsewhere
    const auto& r = records.tensors[t];
    const std::pair<uint64_t, uint64_t> placements[] = {{size, r.size},        {size - r.size / 2, r.size},
                                                        {r.offset + 1, r.size}, {0, r.size},
                                                        {r.offset, r.size + 64}, {r.offset, huge},
                                                        {huge, r.size},          {meta_off, r.size}};
    for (const auto& [offset, bytes] : placements) {
      variants.push_back({"tensor " + r.name + " at " + std::to_string(offset) + ", " + std::to_string(bytes) +
                              " bytes",
                          [&records, &weights, t, offset = offset, bytes = bytes] {
                            tusk::format::MetadataRecord m = records;
                            m.tensors[t].offset = offset;
                            m.tensors[t].size = bytes;
                            return with_metadata(weights, tusk::format::build_metadata(m));
                          }});
    }
  }
  for (size_t e = 0; e < records.experts.size(); ++e) {  // expert frames pointing elsewhere
    struct Change {
      const char* what;
      void (*apply)(tusk::format::ExpertRecord&, uint64_t size, uint64_t meta_off);
    };
    const Change changes[] = {
        {"offset past the end", [](auto& x, uint64_t s, uint64_t) { x.offset = s + 4096; }},
        {"offset misaligned", [](auto& x, uint64_t, uint64_t) { x.offset += 64; }},
        {"offset into the metadata", [](auto& x, uint64_t, uint64_t m) { x.offset = m / 4096 * 4096; }},
        {"stored size huge", [](auto& x, uint64_t, uint64_t) { x.stored_size = ~uint64_t{0} - 4095; }},
        {"stored size short", [](auto& x, uint64_t, uint64_t) { x.stored_size /= 2; }},
        {"raw size larger", [](auto& x, uint64_t, uint64_t) { x.raw_size *= 2; }},
        {"marked compressed", [](auto& x, uint64_t, uint64_t) { x.compression = tusk::format::Compression::Zstd; }},
        {"inner tensor outside the frame", [](auto& x, uint64_t, uint64_t) { x.tensors.back().offset = x.raw_size; }},
    };
    for (const Change& c : changes)
      variants.push_back({"expert frame " + std::to_string(e) + ": " + c.what, [&records, &weights, e, c, size, meta_off] {
                            tusk::format::MetadataRecord m = records;
                            c.apply(m.experts[e], size, meta_off);
                            return with_metadata(weights, tusk::format::build_metadata(m));
                          }});
  }

  // Truncation at every section boundary (each section's start and its last byte's place), as
  // a cut file and as a cut file whose metadata was re-appended after the cut.
  std::set<uint64_t> boundaries = {tusk::format::layout::kHeaderSize, meta_off, meta_off + meta_size - 1};
  for (const auto& r : records.tensors) boundaries.insert({r.offset, r.offset + r.size - 1});
  for (const auto& r : records.experts) boundaries.insert({r.offset, r.offset + r.stored_size - 1});
  const auto metadata = tusk::format::build_metadata(records);
  for (const uint64_t at : boundaries) {
    variants.push_back({"truncated at section boundary " + std::to_string(at), [&original, at] {
                          return original.substr(0, at);
                        }});
    if (at < meta_off)
      variants.push_back({"truncated at section boundary " + std::to_string(at) + ", metadata re-appended",
                          [&original, &metadata, at] { return with_metadata(original.substr(0, at), metadata); }});
  }
  std::printf("%zu section boundaries\n", boundaries.size());
  ASSERT_GE(variants.size(), 2000u);

  MemoryFile file;
  Outcome verified, unverified, paged;
  for (const Variant& v : variants) {
    const std::string& path = file.hold(v.bytes());
    try_variant(path, true, 0, reference, v.what, verified);
    try_variant(path, false, 0, reference, v.what, unverified);
    try_variant(path, true, static_cast<int64_t>(largest), reference, v.what + " (paging)", paged);
    if (HasFatalFailure()) return;
  }
  for (const auto& [name, o] : {std::pair<const char*, Outcome>{"verified", verified}, {"unverified", unverified},
                                {"paging", paged}})
    std::printf("%zu variants, %s: %d refused at open, %d refused in the call, %d translated\n", variants.size(),
                name, o.refused_at_open, o.refused_in_call, o.translated);
}

}  // namespace
