#include "sdk/expert_source.h"

#include <string>

#include "common/error.h"

namespace tusk::sdk {

PinnedExpert::~PinnedExpert() {
  if (source_) source_->release(token_);
}

namespace {

const float* expect_f32(const format::TensorView& t, std::initializer_list<int64_t> shape,
                        const std::string& what) {
  if (t.dtype != format::DType::F32)
    throw Error(ErrorCode::Unsupported, what + ": only F32 expert weights are supported so far (got " +
                                            format::dtype_name(t.dtype) + ")");
  if (t.shape != std::vector<int64_t>(shape))
    throw Error(ErrorCode::InvalidModel, what + ": unexpected shape");
  return t.f32();
}

}  // namespace

ResidentExpertSource::ResidentExpertSource(const format::ModelFile& file) {
  const auto& c = file.config();
  const int64_t d = c.d_model;
  auto load_stack = [&](format::Stack stack, int layers, int64_t ffn, bool (format::ModelConfig::*sparse)(int) const) {
    for (int l = 0; l < layers; ++l) {
      if (!(c.*sparse)(l)) continue;
      for (int e = 0; e < c.num_experts; ++e) {
        const std::string what = std::string(stack == format::Stack::Encoder ? "encoder" : "decoder") +
                                 " layer " + std::to_string(l) + " expert " + std::to_string(e);
        if (!file.has_expert(stack, l, e)) throw Error(ErrorCode::InvalidModel, what + " is missing");
        Entry& entry = experts_[{static_cast<int>(stack), l, e}];
        entry.weights = file.load_expert(stack, l, e);
        const auto& w = entry.weights;
        entry.ffn = ExpertFfn{expect_f32(w.tensor("fc1.weight"), {ffn, d}, what + " fc1.weight"),
                              expect_f32(w.tensor("fc1.bias"), {ffn}, what + " fc1.bias"),
                              expect_f32(w.tensor("fc2.weight"), {d, ffn}, what + " fc2.weight"),
                              expect_f32(w.tensor("fc2.bias"), {d}, what + " fc2.bias"), d, ffn};
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
