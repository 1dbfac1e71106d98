// `tusk serve`: flags into a server configuration and a pool of translators over one model,
// then the HTTP server of samples/serve/ until SIGTERM.
#include <algorithm>
#include <cstdio>
#include <string>
#include <vector>

#include "args.h"
#include "common.h"
#include "server.h"
#include "translator_setup.h"

namespace tusk_cli {

namespace {

const std::vector<FlagSpec> kOwnFlags = {
    {"--host", true},           {"--port", true},           {"--translators", true},
    {"--batching", true},       {"--batch-max-texts", true}, {"--batch-max-chars", true},
    {"--batch-wait-ms", true},  {"--queue-limit", true},    {"--max-request-texts", true},
    {"--max-request-chars", true}, {"--max-body-bytes", true}, {"--http-threads", true},
    {"--lone-request-threads", true}, {"--continuous-batching", true},
};

size_t size_flag(const ParsedArgs& args, const std::string& flag, int64_t min, int64_t max, size_t fallback) {
  return args.has(flag) ? static_cast<size_t>(parse_int_flag(flag, args.get(flag), min, max)) : fallback;
}

tusk_serve::ServerConfig read_server_flags(const ParsedArgs& args) {
  tusk_serve::ServerConfig c;
  if (args.has("--host")) c.host = required_flag(args, "--host");
  c.port = static_cast<int>(size_flag(args, "--port", 0, 65535, static_cast<size_t>(c.port)));
  c.http_threads = size_flag(args, "--http-threads", 1, 4096, c.http_threads);
  c.max_body_bytes = size_flag(args, "--max-body-bytes", 1, int64_t{1} << 30, c.max_body_bytes);
  c.request.max_texts = size_flag(args, "--max-request-texts", 1, 1 << 20, c.request.max_texts);
  c.request.max_chars = size_flag(args, "--max-request-chars", 1, int64_t{1} << 30, c.request.max_chars);
  if (args.has("--batching")) {
    const std::string& value = args.get("--batching");
    if (value != "on" && value != "off")
      throw UsageError("invalid value '" + value + "' for --batching: expected on or off");
    c.batch.batching = value == "on";
  }
  if (args.has("--continuous-batching")) {
    const std::string& value = args.get("--continuous-batching");
    if (value != "on" && value != "off")
      throw UsageError("invalid value '" + value + "' for --continuous-batching: expected on or off");
    c.batch.continuous = value == "on";
  }
  c.batch.max_texts = size_flag(args, "--batch-max-texts", 1, 1 << 20, c.batch.max_texts);
  c.batch.max_chars = size_flag(args, "--batch-max-chars", 1, int64_t{1} << 30, c.batch.max_chars);
  c.batch.max_wait = std::chrono::microseconds(
      1000 * static_cast<int64_t>(size_flag(args, "--batch-wait-ms", 0, 60000, c.batch.max_wait.count() / 1000)));
  c.batch.capacity_texts = size_flag(args, "--queue-limit", 1, 1 << 24, c.batch.capacity_texts);
  return c;
}

}  // namespace

int cmd_serve(const std::vector<std::string>& argv) {
  std::vector<FlagSpec> flags = kOwnFlags;
  flags.insert(flags.end(), kTranslatorFlags.begin(), kTranslatorFlags.end());
  const ParsedArgs args = parse_args(flags, argv);
  if (args.help) {
    std::fputs(kServeUsage, stdout);
    return kExitOk;
  }
  if (!args.positional.empty()) throw UsageError("unexpected argument '" + args.positional.front() + "'");
  tusk_serve::ServerConfig config = read_server_flags(args);
  const size_t translator_count = size_flag(args, "--translators", 1, 256, 1);

  // Before any thread exists (the library's included), so only the server's watcher gets them.
  tusk_serve::block_shutdown_signals();
  TranslatorSetup setup = read_translator_flags(args);
  // One bad text fails its own request, not the others batched with it.
  set_int_option(setup.options.get(), TUSK_OPT_PER_SENTENCE_ERRORS, "--translators", 1);
  // Continuous batching is greedy search's (the library refuses a beam), and batching's.
  int64_t beam_size = 1, max_batch_size = 0;
  tusk_options_get_int(setup.options.get(), TUSK_OPT_BEAM_SIZE, &beam_size);
  tusk_options_get_int(setup.options.get(), TUSK_OPT_MAX_BATCH_SIZE, &max_batch_size);
  if (config.batch.continuous && config.batch.batching && beam_size > 1)
    config.startup_notes.push_back("--continuous-batching on ignored: it runs greedy search only (--beam-size " +
                                   std::to_string(beam_size) + "); batches are one call each");
  config.batch.continuous = config.batch.continuous && config.batch.batching && beam_size <= 1;
  // A continuous translator's room: 16 sentences unless given. The CPU's int8 products take 16
  // rows of activations at a time, so a 17th row costs a step as much as 16 more (measured in
  // bench/README.md); a batch of calls drains below 16 anyway. An idle translator takes a
  // batch of at most that many texts, so none waits behind it while another is idle.
  const int64_t room = args.has("--max-batch-size") ? max_batch_size : 16;
  if (config.batch.continuous) {
    set_int_option(setup.options.get(), TUSK_OPT_MAX_BATCH_SIZE, "--max-batch-size", room);
    config.batch.max_texts = std::min(config.batch.max_texts, static_cast<size_t>(room));
  }
  uint64_t budget = 0, expert_bytes_total = 0;
  const Model model = open_model(setup, &budget, &expert_bytes_total);
  std::vector<Translator> owned;
  for (size_t i = 0; i < translator_count; ++i) owned.push_back(create_translator(setup, model.get()));
  // The lone-request translator: the same options with its own thread count.
  Translator lone;
  if (args.has("--lone-request-threads")) {
    // It translates one request a call: the library's own batch size, not the pool's room.
    set_int_option(setup.options.get(), TUSK_OPT_MAX_BATCH_SIZE, "--max-batch-size", max_batch_size);
    set_int_option(setup.options.get(), TUSK_OPT_THREADS, "--lone-request-threads",
                   parse_int_flag("--lone-request-threads", args.get("--lone-request-threads"), 0, 4096));
    lone = create_translator(setup, model.get());
  }
  std::vector<tusk_translator_t*> translators;
  for (Translator& t : owned) translators.push_back(t.release());
  return tusk_serve::serve(model.get(), std::move(translators), lone.release(), config);
}

}  // namespace tusk_cli
