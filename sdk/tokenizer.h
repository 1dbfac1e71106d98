// Text <-> token ids with the model's own SentencePiece model (stored inside the .tusk file).
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace sentencepiece { class SentencePieceProcessor; }

namespace tusk::sdk {

class Tokenizer {
 public:
  // serialized_model: a SentencePiece ModelProto. Throws InvalidModel if it does not load.
  explicit Tokenizer(std::string_view serialized_model);
  ~Tokenizer();

  // Piece ids of text (no language code, no eos). Thread-safe.
  std::vector<int> encode(std::string_view text) const;
  // Text of ids (special ids such as eos must already be removed). Thread-safe.
  std::string decode(const std::vector<int>& ids) const;
  int vocab_size() const;

 private:
  std::unique_ptr<sentencepiece::SentencePieceProcessor> sp_;
};

}  // namespace tusk::sdk
