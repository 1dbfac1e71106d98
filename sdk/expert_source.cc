#include "sdk/expert_source.h"

#include <string>

#include "common/error.h"
#include "sdk/weight_views.h"

namespace tusk::sdk {

PinnedExpert::~PinnedExpert() {
  if (source_) source_->release(token_, nullptr);
}

void PinnedExpert::release_after(backends::FencePtr work_done) {
  if (!source_) return;
  ExpertSource* source = source_;
  source_ = nullptr;
  source->release(token_, std::move(work_done));
}

std::vector<ExpertKey> all_experts(const format::ModelConfig& c) {
  std::vector<ExpertKey> keys;
  for (int l = 0; l < c.encoder_layers; ++l)
    if (c.encoder_layer_is_sparse(l))
      for (int e = 0; e < c.num_experts; ++e) keys.push_back({format::Stack::Encoder, l, e});
  for (int l = 0; l < c.decoder_layers; ++l)
    if (c.decoder_layer_is_sparse(l))
      for (int e = 0; e < c.num_experts; ++e) keys.push_back({format::Stack::Decoder, l, e});
  return keys;
}

LoadedExpert decode_expert(const format::ModelFile& file, const ExpertKey& key) {
  LoadedExpert loaded;
  decode_expert(file, key, loaded);
  return loaded;
}

void decode_expert(const format::ModelFile& file, const ExpertKey& key, LoadedExpert& into, bool direct) {
  const auto& c = file.config();
  const std::string what = file.path() + ": " + key.describe();
  if (!file.has_expert(key.stack, key.layer, key.expert))
    throw Error(ErrorCode::InvalidModel, what + " is missing");
  const int64_t d = c.d_model;
  const int64_t ffn = key.stack == format::Stack::Encoder ? c.encoder_ffn_dim : c.decoder_ffn_dim;
  into.ffn = ExpertFfn{};
  file.load_expert(key.stack, key.layer, key.expert, into.weights, direct);
  const WeightViews views(into.weights.tensors(), what);
  into.ffn = ExpertFfn{views.linear("fc1", ffn, d), views.linear("fc2", d, ffn)};
}

ResidentExpertSource::ResidentExpertSource(const format::ModelFile& file) {
  for (const ExpertKey& key : all_experts(file.config())) experts_[key] = decode_expert(file, key);
}

PinnedExpert ResidentExpertSource::acquire(format::Stack stack, int layer, int expert) {
  auto it = experts_.find({stack, layer, expert});
  if (it == experts_.end())
    throw Error(ErrorCode::Internal, "expert " + std::to_string(expert) + " of layer " +
                                         std::to_string(layer) + " is not in the model");
  return PinnedExpert(this, &it->second.ffn, nullptr);
}

}  // namespace tusk::sdk
