#include "sdk/tokenizer.h"

#include <sentencepiece_processor.h>

#include "common/error.h"

namespace tusk::sdk {

Tokenizer::Tokenizer(std::string_view serialized_model)
    : sp_(std::make_unique<sentencepiece::SentencePieceProcessor>()) {
  const auto status = sp_->LoadFromSerializedProto(
      serialized_model);
  if (!status.ok())
    throw Error(ErrorCode::InvalidModel,
                "the model's SentencePiece tokenizer does not load: " + status.ToString());
}

Tokenizer::~Tokenizer() = default;

std::vector<int> Tokenizer::encode(std::string_view text) const {
  std::vector<int> ids;
  const auto status = sp_->Encode(text, &ids);
  if (!status.ok()) throw Error(ErrorCode::InvalidArgument, "tokenization failed: " + status.ToString());
  return ids;
}

std::string Tokenizer::decode(const std::vector<int>& ids) const {
  std::string text;
  const auto status = sp_->Decode(ids, &text);
  if (!status.ok()) throw Error(ErrorCode::Internal, "detokenization failed: " + status.ToString());
  return text;
}

int Tokenizer::vocab_size() const { return sp_->GetPieceSize(); }

}  // namespace tusk::sdk
