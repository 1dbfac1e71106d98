#include "sdk/calibration.h"

#include <algorithm>

#include "model_format/expert_usage_table.h"
#include "model_format/file_io.h"
#include "model_format/model_writer.h"
#include "sdk/translator.h"

namespace tusk::sdk {

std::vector<format::PairUsage> calibrate(std::shared_ptr<const Model> model,
                                         const std::vector<CalibrationText>& texts, int threads,
                                         ProgressSink* progress) {
  TranslatorOptions options;
  options.threads = threads;
  options.max_batch_size = 1;
  options.truncate_input = true;  // a long sample line still says which experts it uses
  options.count_expert_usage = true;
  Translator translator(model, options);
  const std::vector<format::ExpertId> ids = model->file().expert_ids();

  uint64_t total = 0, done = 0;
  for (const CalibrationText& t : texts) total += t.sentences.size();
  std::vector<format::PairUsage> usage;
  for (const CalibrationText& t : texts) {
    const std::string what = "calibrating " + t.source + "-" + t.target;
    format::PairUsage u;
    // The table is keyed by the model's codes ("en"), whichever form the caller used.
    const format::Language* src = model->file().find_language(t.source);
    const format::Language* tgt = model->file().find_language(t.target);
    u.source = src ? src->code : t.source;
    u.target = tgt ? tgt->code : t.target;
    translator.take_expert_usage();
    for (size_t i = 0; i < t.sentences.size(); ++i) {
      if (progress && !progress->report(done, total, what.c_str()))
        throw Error(ErrorCode::Cancelled, "calibration cancelled");
      const auto& s = t.sentences[i];
      if (s.find_first_not_of(" \t\r\n") != std::string::npos) {
        try {
          translator.translate(t.source, t.target, {s});
        } catch (const Error& e) {
          throw Error(e.code(), t.source + "-" + t.target + " calibration sentence " + std::to_string(i + 1) +
                                    ": " + e.what());
        }
        ++u.sentences;
      }
      ++done;
    }
    const auto counts = translator.take_expert_usage();
    for (const format::ExpertId& id : ids) {
      const auto it = counts.find({id.stack, id.layer, id.expert});
      const uint64_t c = it == counts.end() ? 0 : it->second;
      u.counts.push_back(static_cast<uint32_t>(std::min<uint64_t>(c, UINT32_MAX)));
    }
    usage.push_back(std::move(u));
  }
  if (progress) progress->report(done, total, "calibrated");
  return usage;
}

std::vector<format::PairUsage> calibrate_model_file(const std::string& path, const std::vector<CalibrationText>& texts,
                                                    int threads, bool verify_checksums, const std::string& usage_out,
                                                    ProgressSink* progress) {
  std::vector<format::PairUsage> usage;
  {
    const auto model = Model::open(path, {verify_checksums});
    usage = calibrate(model, texts, threads, progress);
    if (!usage_out.empty())
      format::write_whole_file(usage_out, format::format_usage_table(usage, model->file().expert_ids()));
  }
  format::replace_expert_usage(path, usage);
  return usage;
}

}  // namespace tusk::sdk
