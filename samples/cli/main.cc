// tusk: the command-line front end of the Tusk SDK. It is an application of the C ABI like
// any other: everything here goes through tusk/tusk.h.
#include <cstdio>
#include <cstring>
#include <exception>
#include <new>
#include <string>
#include <vector>

#include "args.h"
#include "common.h"

namespace tusk_cli {

const char* const kMainUsage =
    "Usage: tusk <command> [options]\n"
    "\n"
    "Commands:\n"
    "  translate   translate standard input, one sentence per line\n"
    "  convert     convert a Hugging Face NLLB-MoE or NLLB-200 checkpoint into a .tusk model file\n"
    "  inspect     describe a .tusk model file\n"
    "  serve       serve translations over HTTP (a LibreTranslate-compatible API)\n"
    "\n"
    "Options:\n"
    "  -h, --help  show this help (or `tusk <command> --help` for a command's)\n"
    "  --version   print the version of tusk and of the loaded library\n"
    "\n"
    "Example:\n"
    "  echo \"A man rides a bike down the street.\" | tusk translate --src en --tgt de\n";

const char* const kTranslateUsage =
    "Usage: tusk translate [--model FILE] -s|--src LANG -t|--tgt LANG [options] < input.txt\n"
    "\n"
    "Reads text from standard input and prints its translation line for line: each line\n"
    "is split into sentences (by the source language's rules), translated, and put back\n"
    "together with its spacing. An empty line gives an empty line.\n"
    "\n"
    "Options:\n"
    "  --model FILE                 .tusk model (default: $TUSK_MODEL if set, else the\n"
    "                               installed share/tusk/models/multi30k-moe.tusk beside\n"
    "                               this program, else " TUSK_DEFAULT_MODEL_PATH ")\n"
    "  -s, --src LANG               source language code, e.g. en\n"
    "  -t, --tgt LANG               target language code, e.g. de\n"
    "  -i, --input FILE             read FILE instead of standard input\n"
    "  -o, --output FILE            write FILE instead of standard output\n"
    "  --on-error continue|fail     a line that cannot be translated: report it with its\n"
    "                               line number, leave its output line empty, translate the\n"
    "                               rest and exit 1 at the end (continue, the default), or\n"
    "                               stop at the first one, all or nothing (fail)\n"
    "  --beam-size N                1 = greedy search (library default: 1)\n"
    "  --n-best N                   N hypotheses per line (beam search of at least N; each\n"
    "                               line one sentence, as --sentences); see them with\n"
    "                               --output-format jsonl\n"
    "  --output-format text|jsonl   text: one translation per line (default); jsonl: one\n"
    "                               JSON object per line: {\"line\", \"hypotheses\": [{\"text\",\n"
    "                               \"score\"}], \"error\" if the line failed}\n"
    "  --threads N                  intra-op threads, 0 = all cores (default: 0)\n"
    "  --max-batch-size N           sentences per batch (default: 32)\n"
    "  --max-batch-tokens N         source tokens per batch (default: 4096)\n"
    "  --max-decoding-length N      generated tokens per sentence, 0 = model limit\n"
    "                               (default: 256)\n"
    "  --min-decoding-length N      no end of sentence before N generated tokens (default: 0)\n"
    "  --length-penalty X           beam score = logprob / length^X (default: 0)\n"
    "  --max-length-ratio X, --max-length-offset N  runaway guard: at most N + X * source\n"
    "                               tokens generated (X = 0: no such limit; defaults: the\n"
    "                               library's, see tusk.h)\n"
    "  --no-repeat-ngram-size N     runaway guard: no n-gram twice in a translation (0: off)\n"
    "  --repetition-penalty X       runaway guard: tokens already generated score lower\n"
    "                               (1: off; at most 10)\n"
    "  --sentences                  each line is one sentence: no splitting (a line longer\n"
    "                               than the model takes is an error, or --truncate)\n"
    "  --truncate                   cut sentences longer than the model allows (with a\n"
    "                               warning) instead of failing\n"
    "  --device cpu|cuda[:N]        where to run: the CPU (default) or CUDA GPU N (default\n"
    "                               0), through libtusk_cuda.so; fails with the reason when\n"
    "                               it cannot run there (never falls back to the CPU)\n"
    "  --device-expert-budget SIZE  GPU memory for experts copied to the device (as\n"
    "                               --expert-budget; default: every expert used stays)\n"
    "  --compute fp32|fp16|bf16     arithmetic of batched products with packed weights:\n"
    "                               fp32 (default), or fp16/bf16 on tensor cores (GPU only;\n"
    "                               may change the output)\n"
    "  --map-model                  use the dense weights from a mapping of the model file\n"
    "                               instead of a copy: less private memory, but only for a\n"
    "                               file never changed in place (see tusk.h)\n"
    "  --int8-activations           faster, approximate: 8-bit activations in int8-weight\n"
    "                               products (AVX-512 VNNI, batches and encoder), as\n"
    "                               CTranslate2's int8; changes the output (off by default)\n"
    "  --expert-budget SIZE         memory for decoded experts: bytes with an optional K, M\n"
    "                               or G suffix (powers of 1024), or a percentage of the\n"
    "                               model's expert bytes, e.g. 25%. Experts are loaded on\n"
    "                               demand and evicted per --eviction; the output is the\n"
    "                               same. At least the largest expert. (default, and\n"
    "                               100%: all experts resident)\n"
    "  --eviction lru|layer-distance|none  which expert a full budget drops: least\n"
    "                               recently used, or by execution order (encoder experts\n"
    "                               not needed before the next sentence first), then least\n"
    "                               frequently used (default: layer-distance); none keeps\n"
    "                               nothing (naive loading on every use, a baseline)\n"
    "  --prefetch on|off            with a budget, load the experts the router predicts\n"
    "                               on a background thread (default: on)\n"
    "  --direct-io on|off           with a budget, read experts with O_DIRECT, past the\n"
    "                               OS page cache (for models larger than memory;\n"
    "                               default: off)\n"
    "  --warm-start on|off          with a budget, first load the experts the model's\n"
    "                               calibration says this language pair uses most, up\n"
    "                               to half the budget (default: on)\n"
    "  --stats FILE                 after translating, write expert cache statistics to FILE\n"
    "                               as JSON: hits, misses, hit_rate, evictions, bytes_loaded,\n"
    "                               prefetch_issued, prefetch_used, prefetch_recall,\n"
    "                               prefetch_precision, stall_ms, warm_start_loaded,\n"
    "                               peak_cache_bytes, budget_bytes (0 = all resident),\n"
    "                               expert_bytes_total\n"
    "  -h, --help                   show this help\n"
    "\n"
    "Exit status: 0 on success, 1 on error, 2 on a command-line mistake.\n";

const char* const kConvertUsage =
    "Usage: tusk convert --from-hf DIR --out FILE.tusk [--experts int4|int8|fp16|fp32]\n"
    "                    [--dense int4|int8|fp16|fp32] [--group-size N] [--zstd-level N]\n"
    "                    [--calibrate SRC-TGT=FILE,... [--calibration-limit N]\n"
    "                     [--usage-out FILE] [--threads N] | --expert-usage FILE]\n"
    "\n"
    "Converts a Hugging Face NLLB-MoE or M2M100 (NLLB-200) checkpoint folder (config.json,\n"
    "the NLLB tokenizer files or a sentencepiece.model, model.safetensors or sharded\n"
    "model-*.safetensors with model.safetensors.index.json) into one .tusk file. The output is byte-identical for identical input. Progress goes\n"
    "to standard error; Ctrl-C cancels without leaving a partial file.\n"
    "\n"
    "Options:\n"
    "  --from-hf DIR     checkpoint folder\n"
    "  --out FILE        output .tusk file (replaced if it exists)\n"
    "  --experts TYPE    storage of the expert weight matrices: int4, int8, fp16 or fp32\n"
    "                    (default: fp32)\n"
    "  --dense TYPE      storage of the attention, dense FFN and embedding matrices: int4,\n"
    "                    int8, fp16 or fp32 (default: fp32)\n"
    "  --group-size N    input columns per int8/int4 scale; 0 = one scale per output\n"
    "                    channel (default: 0). Embeddings always get one scale per row.\n"
    "  --zstd-level N    zstd level for expert frames (default: 3)\n"
    "  --calibrate LIST  after converting, translate each FILE (one sentence per line)\n"
    "                    from SRC to TGT one sentence at a time and store how often each\n"
    "                    expert ran per language pair, for warm starts (`tusk translate\n"
    "                    --warm-start`); LIST is comma-separated, e.g.\n"
    "                    en-de=val.en,de-en=val.de\n"
    "  --calibration-limit N  use the first N lines of each file (default: all)\n"
    "  --usage-out FILE  also write the measured table as text (for --expert-usage)\n"
    "  --threads N       threads for calibration (default: 0 = all cores)\n"
    "  --expert-usage FILE  store a table written by --usage-out instead of calibrating\n"
    "                    (conversion stays byte-for-byte reproducible)\n"
    "  -h, --help        show this help\n"
    "\n"
    "Layer norms, biases and the routers always stay fp32. int8/int4 are symmetric with\n"
    "fp32 scales stored in the file; `tusk inspect --verbose` shows each tensor's error.\n";

const char* const kInspectUsage =
    "Usage: tusk inspect [--verbose] FILE\n"
    "\n"
    "Opens and verifies a .tusk model file and prints its architecture, parameter counts,\n"
    "languages, and the bytes of each section with its compression ratio.\n"
    "\n"
    "Options:\n"
    "  --verbose         also print the quantization settings and every tensor: dtype,\n"
    "                    shape, scale group size, quantization error (max abs, relative\n"
    "                    RMS) and bytes\n"
    "  -h, --help        show this help\n";

const char* const kServeUsage =
    "Usage: tusk serve [--model FILE] [--host ADDR] [--port N] [options]\n"
    "\n"
    "Serves translations over HTTP until SIGTERM or SIGINT, then stops accepting, answers\n"
    "every request already accepted, and exits 0. Concurrent requests of one language pair\n"
    "are grouped into one library call (dynamic batching) run by a pool of translators\n"
    "sharing the model (or, with --continuous-batching on, admitted into a translator's\n"
    "running batch as others finish).\n"
    "\n"
    "Endpoints (LibreTranslate-compatible):\n"
    "  POST /translate   q (text, or a JSON list of texts), source, target, format=text;\n"
    "                    a JSON body or form fields. Answers {\"translatedText\": ...}, or\n"
    "                    {\"error\": ...} with 400 (bad request), 503 (busy: Retry-After;\n"
    "                    or shutting down), 413 (body too large), 500\n"
    "  GET /languages    [{\"code\", \"name\", \"targets\"}]\n"
    "  GET /health       {\"status\": \"ok\"}; 503 while shutting down\n"
    "  GET /metrics      Prometheus text: requests by status, latency, batch sizes, queue\n"
    "                    depth, expert-cache counters\n"
    "\n"
    "Server options:\n"
    "  --host ADDR              address to listen on (default: 127.0.0.1; 0.0.0.0 for all)\n"
    "  --port N                 port (default: 5000; 0: any free port, printed)\n"
    "  --translators N          translators serving the queue, each on its own thread with\n"
    "                           --threads intra-op threads (default: 1)\n"
    "  --lone-request-threads N  one more translator, with N intra-op threads (0: all cores),\n"
    "                           for a request that arrives alone (nothing running or\n"
    "                           queued); the others wait while it runs, and it while they\n"
    "                           do. With --translators = cores and --threads 1: a lone\n"
    "                           request gets every core, concurrent ones a translator per\n"
    "                           core (default: none)\n"
    "  --batching on|off        group concurrent requests (default: on); off: one request\n"
    "                           per library call\n"
    "  --continuous-batching on|off  with batching and greedy search (--beam-size 1): each\n"
    "                           translator's running decode admits queued requests as it has\n"
    "                           room (--max-batch-size sentences, default 16 here) and answers\n"
    "                           each request as soon as its texts are done, instead of one\n"
    "                           library call per batch that drains to its longest sentence.\n"
    "                           On the bundled model and a CPU: within -9% and +13% of\n"
    "                           batching by calls, long sentences later (default: off)\n"
    "  --batch-max-texts N      texts per library call (default: 32; a larger request still\n"
    "                           goes whole)\n"
    "  --batch-max-chars N      bytes of text per library call (default: 16384)\n"
    "  --batch-wait-ms N        how long the oldest request waits for others (default: 5)\n"
    "  --queue-limit N          texts queued before answering 503 (default: 1024)\n"
    "  --max-request-texts N    entries of a q list (default: 128)\n"
    "  --max-request-chars N    bytes of q in one request (default: 20000)\n"
    "  --max-body-bytes N       request body size (default: 1048576)\n"
    "  --http-threads N         connections served at once, each request waiting for its\n"
    "                           translation holding one (default: 128)\n"
    "\n"
    "Translator options, as for `tusk translate` (see its --help): --beam-size, --threads,\n"
    "  --max-batch-size, --max-batch-tokens (the library's batches within one call),\n"
    "  --max-decoding-length, --min-decoding-length, --length-penalty, --truncate,\n"
    "  --no-repeat-ngram-size, --repetition-penalty, --max-length-ratio, --max-length-offset,\n"
    "  --device, --compute, --device-expert-budget, --int8-activations, --map-model,\n"
    "  --expert-budget, --eviction, --prefetch, --direct-io\n";

namespace {

int run(int argc, char** argv) {
  if (argc < 2) {
    std::fputs(kMainUsage, stderr);
    return kExitUsage;
  }
  const std::string command = argv[1];
  const std::vector<std::string> rest(argv + 2, argv + argc);
  if (command == "-h" || command == "--help" || command == "help") {
    if (rest.empty()) {
      std::fputs(kMainUsage, stdout);
      return kExitOk;
    }
    const std::string& topic = rest.front();
    if (topic == "translate") std::fputs(kTranslateUsage, stdout);
    else if (topic == "convert") std::fputs(kConvertUsage, stdout);
    else if (topic == "inspect") std::fputs(kInspectUsage, stdout);
    else if (topic == "serve") std::fputs(kServeUsage, stdout);
    else throw UsageError("unknown command '" + topic + "'");
    return kExitOk;
  }
  if (command == "--version" || command == "-V") {
    std::printf("tusk %d.%d.%d (library %s)\n", TUSK_VERSION_MAJOR, TUSK_VERSION_MINOR,
                TUSK_VERSION_PATCH, tusk_version());
    return kExitOk;
  }
  if (command == "translate") return cmd_translate(rest);
  if (command == "convert") return cmd_convert(rest);
  if (command == "inspect") return cmd_inspect(rest);
  if (command == "serve") {
#ifdef TUSK_CLI_HAS_SERVE
    return cmd_serve(rest);
#else
    throw UsageError("this tusk was built without the server (cpp-httplib was not found at configure time)");
#endif
  }
  if (command.size() > 1 && command[0] == '-') throw UsageError("unknown option '" + command + "'");
  throw UsageError("unknown command '" + command + "'");
}

const char* command_of(int argc, char** argv) {
  if (argc < 2) return nullptr;
  const char* c = argv[1];
  if (std::strcmp(c, "translate") == 0 || std::strcmp(c, "convert") == 0 ||
      std::strcmp(c, "inspect") == 0 || std::strcmp(c, "serve") == 0) {
    return c;
  }
  return nullptr;
}

}  // namespace
}  // namespace tusk_cli

int main(int argc, char** argv) {
  using namespace tusk_cli;
  try {
    return run(argc, argv);
  } catch (const UsageError& e) {
    std::fprintf(stderr, "tusk: error: %s\n", e.what());
    const char* command = command_of(argc, argv);
    if (command != nullptr) {
      std::fprintf(stderr, "Try 'tusk %s --help'.\n", command);
    } else {
      std::fprintf(stderr, "Try 'tusk --help'.\n");
    }
    return kExitUsage;
  } catch (const std::bad_alloc&) {
    std::fprintf(stderr, "tusk: error: out of memory\n");
    return kExitError;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "tusk: error: %s\n", e.what());
    return kExitError;
  }
}
