// Tokenizer files of a Hugging Face folder -> Vocabulary + language table, cross-checked.
#include "model_format/hf_tokenizer.h"

#include <map>
#include <set>

#include "common/error.h"
#include "model_format/file_io.h"
#include "model_format/hf_languages.h"
#include "model_format/json_file.h"

namespace tusk::format {
namespace {

using nlohmann::json;

constexpr uint64_t kMaxSentencePieceBytes = 256 << 20;
const char* const kSentencePieceFiles[] = {"sentencepiece.bpe.model", "sentencepiece.model"};
// Files that only a transformers tokenizer writes; any of them means "not our layout".
const char* const kTokenizerJsonFiles[] = {"tokenizer_config.json", "special_tokens_map.json",
                                           "added_tokens.json", "tokenizer.json"};
// NllbTokenizer's fixed offset between SentencePiece ids and model ids (fairseq's).
constexpr int32_t kFairseqOffset = 1;

class Folder {
 public:
  explicit Folder(std::string dir) : dir_(std::move(dir)) {}
  std::string path(const std::string& name) const { return path_in(dir_, name); }
  bool has(const std::string& name) const { return is_regular_file(path(name)); }
  const std::string& dir() const { return dir_; }

 private:
  std::string dir_;
};

// The folder's one SentencePiece model.
void read_sentencepiece(const Folder& f, HfTokenizer* out) {
  std::vector<std::string> found;
  for (const char* name : kSentencePieceFiles)
    if (f.has(name)) found.push_back(name);
  if (found.empty())
    throw Error(ErrorCode::Io, f.dir() + ": holds no sentencepiece.bpe.model or sentencepiece.model");
  if (found.size() > 1)
    throw Error(ErrorCode::InvalidModel, f.dir() + ": holds both " + found[0] + " and " + found[1] +
                                             "; which one the tokenizer uses is not clear");
  out->sentencepiece_path = f.path(found[0]);
  out->sentencepiece = read_whole_file(out->sentencepiece_path, kMaxSentencePieceBytes, "a SentencePiece model");
}

[[noreturn]] void disagree(const std::string& what) { throw Error(ErrorCode::InvalidModel, what); }

// config.json's ids must be the tokenizer's.
// ids: "pad" -> (text, id) of the tokenizer's pad token, and so on.
void check_config_ids(const ModelConfig& c, const std::string& config_file, const std::string& tokenizer_files,
                      const std::map<std::string, std::pair<std::string, int32_t>>& ids) {
  const std::pair<const char*, int32_t> wanted[] = {{"pad_token_id", c.pad_id}, {"bos_token_id", c.bos_id},
                                                    {"eos_token_id", c.eos_id}};
  const char* const token_of[] = {"pad", "bos", "eos"};
  for (size_t i = 0; i < 3; ++i) {
    const auto it = ids.find(token_of[i]);
    if (it == ids.end()) continue;
    if (it->second.second != wanted[i].second)
      disagree(config_file + " and " + tokenizer_files + " disagree: " + wanted[i].first + " is " +
               std::to_string(wanted[i].second) + " in config.json, the tokenizer's " + token_of[i] + " token '" +
               it->second.first + "' has id " + std::to_string(it->second.second));
  }
}

void check_vocab_size(const Vocabulary& v, const ModelConfig& c, const std::string& files) {
  int32_t largest = -1;
  for (int32_t id : v.piece_ids) largest = std::max(largest, id);
  for (const AddedToken& t : v.added_tokens) largest = std::max(largest, t.id);
  if (largest >= c.vocab_size)
    disagree(files + " define token id " + std::to_string(largest) + ", but config.json's vocab_size is " +
             std::to_string(c.vocab_size));
}

// ---- our layout: language pieces inside the SentencePiece model -----------------------------

HfTokenizer read_sentencepiece_layout(const Folder& f, const ModelConfig& c, const std::string& config_file) {
  HfTokenizer out;
  read_sentencepiece(f, &out);
  const std::vector<std::string> pieces = sentencepiece_pieces(out.sentencepiece, out.sentencepiece_path);
  // Model id = piece id: the special ids config.json names must be those pieces.
  const std::pair<const char*, std::pair<int32_t, const char*>> specials[] = {
      {"pad_token_id", {c.pad_id, "<pad>"}},
      {"bos_token_id", {c.bos_id, "<s>"}},
      {"eos_token_id", {c.eos_id, "</s>"}},
  };
  for (const auto& [key, id_piece] : specials) {
    const auto [id, piece] = id_piece;
    if (id < 0 || static_cast<size_t>(id) >= pieces.size() || pieces[static_cast<size_t>(id)] != piece)
      disagree(config_file + " and " + out.sentencepiece_path + " disagree: " + key + " is " + std::to_string(id) +
               ", which is not the piece " + piece + " (with no tokenizer_config.json, piece ids are model ids)");
  }
  out.unk_id = -1;
  for (size_t i = 0; i < pieces.size() && out.unk_id < 0; ++i)
    if (pieces[i] == "<unk>") out.unk_id = static_cast<int32_t>(i);
  if (out.unk_id < 0) disagree(out.sentencepiece_path + ": has no <unk> piece");
  out.vocabulary.kind = "sentencepiece";
  out.vocabulary.detokenizer = Detokenizer::SentencePiece;
  for (size_t i = 0; i < pieces.size(); ++i) out.vocabulary.piece_ids.push_back(static_cast<int32_t>(i));
  check_vocab_size(out.vocabulary, c, out.sentencepiece_path);
  out.languages = find_languages(pieces);
  if (out.languages.empty())
    disagree(out.sentencepiece_path + ": no language codes (pieces such as eng_Latn) and no tokenizer_config.json "
             "naming any; a translation model needs them");
  return out;
}

// ---- NLLB: NllbTokenizer's ids ---------------------------------------------------------------

// NllbTokenizer's special tokens and their defaults (its constructor's arguments).
const std::pair<const char*, const char*> kNllbSpecialTokens[] = {
    {"bos_token", "<s>"}, {"eos_token", "</s>"}, {"unk_token", "<unk>"}, {"sep_token", "</s>"},
    {"pad_token", "<pad>"}, {"cls_token", "<s>"}, {"mask_token", "<mask>"}};

class NllbReader {
 public:
  NllbReader(const Folder& f, const ModelConfig& c, std::string config_file)
      : f_(f), c_(c), config_file_(std::move(config_file)) {}

  HfTokenizer read() {
    read_sentencepiece(f_, &out_);
    pieces_ = sentencepiece_pieces(out_.sentencepiece, out_.sentencepiece_path);
    tc_path_ = f_.path("tokenizer_config.json");
    tc_ = read_json_object(tc_path_);
    check_class_and_options();
    if (f_.has("special_tokens_map.json")) stm_ = read_json_object(f_.path("special_tokens_map.json"));
    if (f_.has("tokenizer.json")) tj_ = read_json_object(f_.path("tokenizer.json"), 256u << 20);
    read_added_tokens();
    read_special_tokens();
    check_added_tokens_json();
    build_vocabulary();
    check_tokenizer_json();
    check_vocab_size(out_.vocabulary, c_, files_text());
    std::map<std::string, std::pair<std::string, int32_t>> ids;
    for (const char* name : {"pad", "bos", "eos"}) {
      const std::string& text = special_[std::string(name) + "_token"];
      ids[name] = {text, added_.at(text)};
    }
    check_config_ids(c_, config_file_, files_text(), ids);
    out_.unk_id = added_.at(special_["unk_token"]);
    build_languages();
    return std::move(out_);
  }

 private:
  std::string files_text() const { return out_.sentencepiece_path + " and " + tc_path_; }

  [[noreturn]] void unsupported(const std::string& what) const {
    throw Error(ErrorCode::Unsupported, tc_path_ + ": " + what);
  }

  void check_class_and_options() {
    auto cls = tc_.find("tokenizer_class");
    if (cls == tc_.end() || !cls->is_string())
      disagree(tc_path_ + ": names no tokenizer_class; the converter reads NllbTokenizer vocabularies only");
    const std::string name = cls->get<std::string>();
    if (name != "NllbTokenizer" && name != "NllbTokenizerFast")
      unsupported("tokenizer_class \"" + name + "\" is not supported (NllbTokenizer, NllbTokenizerFast)");
    // legacy_behaviour puts the language code after </s> in the source ids.
    auto legacy = tc_.find("legacy_behaviour");
    if (legacy != tc_.end() && !(legacy->is_boolean() || legacy->is_null()))
      disagree(tc_path_ + ": \"legacy_behaviour\" must be true or false");
    if (legacy != tc_.end() && legacy->is_boolean() && legacy->get<bool>())
      unsupported("legacy_behaviour true (source ids [pieces, </s>, language code]) is not supported; "
                  "the engine builds [language code, pieces, </s>]");
    auto kwargs = tc_.find("sp_model_kwargs");
    if (kwargs != tc_.end() && !kwargs->is_null() && !(kwargs->is_object() && kwargs->empty()))
      unsupported("sp_model_kwargs " + kwargs->dump() + " is not supported (SentencePiece sampling or options "
                  "change the pieces)");
    auto cleanup = tc_.find("clean_up_tokenization_spaces");
    if (cleanup != tc_.end() && !cleanup->is_boolean())
      disagree(tc_path_ + ": \"clean_up_tokenization_spaces\" must be true or false");
    // transformers 4.40's default when the key is absent.
    out_.vocabulary.clean_up_tokenization_spaces = cleanup == tc_.end() ? true : cleanup->get<bool>();
  }

  void add(const std::string& content, int32_t id, const std::string& source) {
    if (content.empty()) disagree(source + ": an added token has empty text");
    if (!by_id_.emplace(id, content).second && by_id_[id] != content)
      disagree(source + ": id " + std::to_string(id) + " is both '" + by_id_[id] + "' and '" + content + "'");
    auto [it, fresh] = added_.emplace(content, id);
    if (!fresh && it->second != id)
      disagree(source + ": '" + content + "' has ids " + std::to_string(it->second) + " and " + std::to_string(id));
  }

  // The added tokens and their ids: tokenizer_config.json's added_tokens_decoder, or where an
  // older transformers wrote none, tokenizer.json's added_tokens.
  void read_added_tokens() {
    auto decoder = tc_.find("added_tokens_decoder");
    if (decoder != tc_.end()) {
      if (!decoder->is_object()) disagree(tc_path_ + ": \"added_tokens_decoder\" must be an object");
      for (const auto& [key, entry] : decoder->items()) {
        std::string content;
        int32_t id;
        if (!parse_id(key, &id) || !token_text(entry, &content))
          disagree(tc_path_ + ": added_tokens_decoder entry \"" + key + "\" is not {id: {\"content\": ...}}");
        add(content, id, tc_path_);
      }
      ids_source_ = tc_path_;
      return;
    }
    if (tj_.is_null())
      disagree(tc_path_ + " lists no added_tokens_decoder and there is no tokenizer.json: the ids of <mask> and "
               "the language codes are not written down anywhere");
    const std::string tj_path = f_.path("tokenizer.json");
    for (const auto& [content, id] : tokenizer_json_added(tj_path)) add(content, id, tj_path);
    ids_source_ = tj_path;
  }

  static bool parse_id(const std::string& text, int32_t* id) {
    if (text.empty() || text.size() > 9) return false;
    int64_t v = 0;
    for (char ch : text) {
      if (ch < '0' || ch > '9') return false;
      v = v * 10 + (ch - '0');
    }
    *id = static_cast<int32_t>(v);
    return true;
  }

  std::vector<std::pair<std::string, int32_t>> tokenizer_json_added(const std::string& path) const {
    std::vector<std::pair<std::string, int32_t>> out;
    auto list = tj_.find("added_tokens");
    if (list == tj_.end()) return out;
    if (!list->is_array()) disagree(path + ": \"added_tokens\" must be a list");
    for (const json& t : *list) {
      auto id = t.find("id");
      auto content = t.find("content");
      if (!t.is_object() || id == t.end() || !id->is_number_integer() || content == t.end() || !content->is_string() ||
          id->get<int64_t>() < 0 || id->get<int64_t>() > INT32_MAX)
        disagree(path + ": an added_tokens entry is not {\"id\": N, \"content\": \"...\"}");
      out.emplace_back(content->get<std::string>(), static_cast<int32_t>(id->get<int64_t>()));
    }
    return out;
  }

  // Text of special token `key`: tokenizer_config.json, else special_tokens_map.json, else
  // NllbTokenizer's default; where both files give it, they must agree.
  void read_special_tokens() {
    const std::string stm_path = f_.path("special_tokens_map.json");
    for (const auto& [key, fallback] : kNllbSpecialTokens) {
      std::string from_tc, from_stm;
      const bool in_tc = tc_.contains(key) && !tc_[key].is_null();
      const bool in_stm = stm_.is_object() && stm_.contains(key) && !stm_[key].is_null();
      if (in_tc && !token_text(tc_[key], &from_tc)) disagree(tc_path_ + ": \"" + key + "\" is not a token");
      if (in_stm && !token_text(stm_[key], &from_stm)) disagree(stm_path + ": \"" + key + "\" is not a token");
      if (in_tc && in_stm && from_tc != from_stm)
        disagree(tc_path_ + " and " + stm_path + " disagree on " + key + ": '" + from_tc + "' against '" + from_stm + "'");
      const std::string text = in_tc ? from_tc : in_stm ? from_stm : fallback;
      if (!added_.count(text))
        disagree(ids_source_ + ": " + key + " '" + text + "' is not among the added tokens, so its id is unknown");
      special_[key] = text;
      special_texts_.insert(text);
    }
    std::vector<std::string> from_tc, from_stm;
    const bool in_tc = read_list(tc_, tc_path_, &from_tc);
    const bool in_stm = stm_.is_object() && read_list(stm_, stm_path, &from_stm);
    if (in_tc && in_stm && from_tc != from_stm)
      disagree(tc_path_ + " and " + stm_path + " disagree on additional_special_tokens (the language codes)");
    if (!in_tc && !in_stm)
      disagree(tc_path_ + ": lists no additional_special_tokens (NllbTokenizer's language codes), nor does "
               "special_tokens_map.json");
    // With added_tokens_decoder, transformers reads the list from tokenizer_config.json only
    // (else NllbTokenizer's built-in codes, which the converter does not assume).
    if (!in_tc && ids_source_ == tc_path_)
      disagree(tc_path_ + ": has added_tokens_decoder but no additional_special_tokens; transformers would then "
               "use NllbTokenizer's built-in language list, not special_tokens_map.json's");
    additional_ = in_tc ? from_tc : from_stm;
    for (const std::string& t : additional_) {
      if (!added_.count(t))
        disagree(ids_source_ + ": additional special token '" + t + "' is not among the added tokens, so its id is "
                 "unknown");
      special_texts_.insert(t);
    }
  }

  static bool read_list(const json& root, const std::string& path, std::vector<std::string>* out) {
    auto it = root.find("additional_special_tokens");
    if (it == root.end() || it->is_null()) return false;
    if (!it->is_array()) disagree(path + ": \"additional_special_tokens\" must be a list");
    for (const json& v : *it) {
      std::string text;
      if (!token_text(v, &text)) disagree(path + ": an additional_special_tokens entry is not a token");
      out->push_back(text);
    }
    return true;
  }

  void check_added_tokens_json() {
    if (!f_.has("added_tokens.json")) return;
    const std::string path = f_.path("added_tokens.json");
    const json listed = read_json_object(path);
    for (const auto& [content, id] : listed.items()) {
      auto it = added_.find(content);
      if (!id.is_number_integer() || it == added_.end() || it->second != id.get<int64_t>())
        disagree(path + " and " + ids_source_ + " disagree on added token '" + content + "' (" + id.dump() + " against " +
                 (it == added_.end() ? std::string("absent") : std::to_string(it->second)) + ")");
    }
  }

  // NllbTokenizer: a piece that is an added token's text has that token's id; otherwise piece
  // k is k + 1, and piece 0 (SentencePiece's <unk>) is the <unk> token.
  void build_vocabulary() {
    Vocabulary& v = out_.vocabulary;
    v.kind = "nllb";
    v.detokenizer = Detokenizer::JoinPieces;
    const int32_t unk = added_.at(special_["unk_token"]);
    for (size_t k = 0; k < pieces_.size(); ++k) {
      auto it = added_.find(pieces_[k]);
      v.piece_ids.push_back(it != added_.end() ? it->second : k == 0 ? unk : static_cast<int32_t>(k) + kFairseqOffset);
    }
    for (const auto& [id, content] : by_id_) v.added_tokens.push_back({content, id, special_texts_.count(content) > 0});
  }

  // tokenizer.json (the fast tokenizer), where present, must give every token the same id.
  void check_tokenizer_json() const {
    if (tj_.is_null()) return;
    const std::string path = f_.path("tokenizer.json");
    for (const auto& [content, id] : tokenizer_json_added(path)) {
      auto it = added_.find(content);
      if (it == added_.end() || it->second != id)
        disagree(path + " and " + ids_source_ + " disagree on added token '" + content + "' (" + std::to_string(id) +
                 " against " + (it == added_.end() ? std::string("absent") : std::to_string(it->second)) + ")");
    }
    auto model = tj_.find("model");
    if (model == tj_.end() || !model->is_object() || !model->contains("vocab")) return;
    const json& vocab = (*model)["vocab"];
    std::map<std::string, int32_t> piece_id;  // piece text -> model id from the slow rule
    for (size_t k = 0; k < pieces_.size(); ++k) piece_id.emplace(pieces_[k], out_.vocabulary.piece_ids[k]);
    auto check = [&](const std::string& piece, int64_t id) {
      if (added_.count(piece)) return;  // checked above
      auto it = piece_id.find(piece);
      if (it == piece_id.end()) return;  // a fast-only entry: never produced by the slow tokenizer
      if (it->second != id)
        disagree(path + " and " + out_.sentencepiece_path + " disagree: piece '" + piece + "' is id " +
                 std::to_string(id) + " in tokenizer.json, " + std::to_string(it->second) +
                 " by NllbTokenizer's rule (SentencePiece id + 1)");
    };
    if (vocab.is_object()) {  // BPE: {"piece": id}
      for (const auto& [piece, id] : vocab.items())
        if (id.is_number_integer()) check(piece, id.get<int64_t>());
    } else if (vocab.is_array()) {  // Unigram: [["piece", score], ...] in id order
      for (size_t i = 0; i < vocab.size(); ++i)
        if (vocab[i].is_array() && !vocab[i].empty() && vocab[i][0].is_string())
          check(vocab[i][0].get<std::string>(), static_cast<int64_t>(i));
    }
  }

  void build_languages() {
    std::vector<std::pair<std::string, int32_t>> tokens;
    for (const std::string& t : additional_) tokens.emplace_back(t, added_.at(t));
    out_.languages = languages_from_tokens(tokens);
    if (out_.languages.empty())
      disagree(tc_path_ + ": no additional special token is a language code (such as eng_Latn)");
  }

  const Folder& f_;
  const ModelConfig& c_;
  const std::string config_file_;
  HfTokenizer out_;
  std::vector<std::string> pieces_;
  std::string tc_path_, ids_source_;
  json tc_, stm_, tj_;
  std::map<std::string, int32_t> added_;   // text -> id
  std::map<int32_t, std::string> by_id_;   // id -> text
  std::map<std::string, std::string> special_;  // "bos_token" -> "<s>"
  std::set<std::string> special_texts_;    // all_special_tokens
  std::vector<std::string> additional_;
};

}  // namespace

HfTokenizer read_hf_tokenizer(const std::string& hf_dir, const ModelConfig& config) {
  const Folder f(hf_dir);
  const std::string config_file = f.path("config.json");
  if (f.has("tokenizer_config.json")) return NllbReader(f, config, config_file).read();
  for (const char* name : kTokenizerJsonFiles)
    if (f.has(name))
      throw Error(ErrorCode::InvalidModel, f.path(name) + " is there but tokenizer_config.json is not: an unknown "
                                                          "tokenizer layout (the converter reads NllbTokenizer "
                                                          "folders, or a SentencePiece model alone)");
  return read_sentencepiece_layout(f, config, config_file);
}

}  // namespace tusk::format
