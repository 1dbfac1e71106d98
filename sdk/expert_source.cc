#include "sdk/expert_source.h"

#include <string>

#include "common/error.h"
#include "sdk/weight_views.h"

namespace tusk::sdk {

PinnedExpert::~PinnedExpert() {
  if (source_) source_->release(token_);
}

ResidentExpertSource::ResidentExpertSource(const format::ModelFile& file) {
  const auto& c = file.config();
  const int64_t d = c.d_model;
  auto load_stack = [&](format::Stack stack, int layers, int64_t ffn,
                        bool (format::ModelConfig::*sparse)(int) const) {
    for (int l = 0; l < layers; ++l) {
      if (!(c.*sparse)(l)) continue;
      for (int e = 0; e < c.num_experts; ++e) {
        const std::string what = std::string(stack == format::Stack::Encoder ? "encoder" : "decoder") +
                                 " layer " + std::to_string(l) + " expert " + std::to_string(e);
        if (!file.has_expert(stack, l, e)) throw Error(ErrorCode::InvalidModel, file.path() + ": " + what + " is missing");
        Entry& entry = experts_[{static_cast<int>(stack), l, e}];
        entry.weights = file.load_expert(stack, l, e);
        const WeightViews views(entry.weights.tensors(), file.path() + ": " + what);
        entry.ffn = ExpertFfn{views.linear("fc1", ffn, d), views.linear("fc2", d, ffn)};
      }
    }
  };
  load_stack(format::Stack::Encoder, c.encoder_layers, c.encoder_ffn_dim,
             &format::ModelConfig::encoder_layer_is_sparse);
  load_stack(format::Stack::Decoder, c.decoder_layers, c.decoder_ffn_dim,
             &format::ModelConfig::decoder_layer_is_sparse);
}

PinnedExpert ResidentExpertSource::acquire(format::Stack stack, int layer, int expert) {
  auto it = experts_.find({static_cast<int>(stack), layer, expert});
  if (it == experts_.end())
    throw Error(ErrorCode::Internal, "expert " + std::to_string(expert) + " of layer " +
                                         std::to_string(layer) + " is not in the model");
  return PinnedExpert(this, &it->second.ffn, nullptr);
}

}  // namespace tusk::sdk
