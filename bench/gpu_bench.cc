// The CUDA backend's speed, each figure against a baseline measured in the same run:
//
//   (a) copy bandwidth of the device: gather_rows over a large matrix (every row once, in
//       order), bytes read + written (the STREAM convention), best of several passes;
//   (b) the int4 MoE layer (Backend::expert_ffn: every expert's fc1, then every fc2, one
//       launch each) on NLLB-MoE-54B's expert shapes (d_model 2048, ffn 8192, 128 experts,
//       int4 with groups of 128): at decode shapes (1..64 tokens, two experts each) as weight
//       bytes read per second and that as a fraction of (a); at prefill shapes (1024, 4096
//       tokens) in TFLOP/s. Calls cycle through the experts, so weights come from device
//       memory, not a cache;
//   (c) end to end through the C ABI: tokens/s of the default model (greedy, en->de Multi30k
//       sentences) at batch 1, 32 and 128 on the device, and on the CPU at the same batches
//       as the baseline.
//
// Usage: gpu_bench [--device cuda|cpu] [--model FILE] [--sentences FILE] [--count N]
//                  [--experts E] [--d D] [--ffn F] [--skip-e2e] [--cpu-threads N]
// (--device cpu with small shapes checks the program itself on a machine without a GPU.)
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "backends/backend.h"
#include "common/error.h"
#include "tusk/tusk.h"

namespace {

using namespace tusk::backends;
using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

struct Args {
  Device device = Device::Cuda;
  std::string model = TUSK_DEFAULT_MODEL_PATH;
  std::string sentences;
  int count = 256;
  int64_t experts = 128, d = 2048, ffn = 8192;
  bool e2e = true;
  int cpu_threads = 0;
};

Args parse(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "gpu_bench: %s needs a value\n", flag.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (flag == "--device") a.device = value() == "cpu" ? Device::Cpu : Device::Cuda;
    else if (flag == "--model") a.model = value();
    else if (flag == "--sentences") a.sentences = value();
    else if (flag == "--count") a.count = std::atoi(value().c_str());
    else if (flag == "--experts") a.experts = std::atoll(value().c_str());
    else if (flag == "--d") a.d = std::atoll(value().c_str());
    else if (flag == "--ffn") a.ffn = std::atoll(value().c_str());
    else if (flag == "--skip-e2e") a.e2e = false;
    else if (flag == "--cpu-threads") a.cpu_threads = std::atoi(value().c_str());
    else {
      std::fprintf(stderr, "gpu_bench: unknown flag %s\n", flag.c_str());
      std::exit(2);
    }
  }
  return a;
}

// Best time of `passes` runs of work(), each ending when the backend's fence is done.
template <typename Work>
double best_seconds(Backend& backend, int passes, Work work) {
  double best = 1e30;
  for (int p = 0; p < passes; ++p) {
    backend.fence()->wait();
    const auto t0 = Clock::now();
    work();
    backend.fence()->wait();
    best = std::min(best, seconds_since(t0));
  }
  return best;
}

double copy_bandwidth(Backend& backend, int64_t bytes) {
  const int64_t cols = 4096, rows = bytes / (cols * 4);
  Tensor src = backend.allocate(DType::F32, {rows, cols}), dst = backend.allocate(DType::F32, {rows, cols});
  std::vector<int64_t> order(static_cast<size_t>(rows));
  std::iota(order.begin(), order.end(), 0);
  const double t = best_seconds(backend, 5, [&] {
    backend.gather_rows(src.matrix(), order.data(), dst.mutable_matrix());
  });
  return 2.0 * static_cast<double>(rows * cols * 4) / t;
}

// 128 random int4 experts of one MoE layer, prepared on the device.
struct Experts {
  std::vector<Tensor> keep;
  std::vector<LinearOperand> fc1, fc2;
  double bytes_each = 0;  // packed weights and scales of fc1 + fc2
};

Experts make_experts(Backend& backend, const Args& a) {
  Experts e;
  const int64_t group = 128;
  std::mt19937 rng(1);
  std::vector<uint8_t> bytes1(static_cast<size_t>(a.ffn * a.d / 2)), bytes2(static_cast<size_t>(a.d * a.ffn / 2));
  std::vector<float> scales1(static_cast<size_t>(a.ffn * (a.d / group))), scales2(static_cast<size_t>(a.d * (a.ffn / group)));
  std::vector<float> bias1(static_cast<size_t>(a.ffn), 0.01f), bias2(static_cast<size_t>(a.d), 0.01f);
  for (auto& b : bytes1) b = static_cast<uint8_t>(rng());
  for (auto& b : bytes2) b = static_cast<uint8_t>(rng());
  for (auto& s : scales1) s = 0.01f;
  for (auto& s : scales2) s = 0.01f;
  for (int64_t x = 0; x < a.experts; ++x) {
    bytes1[static_cast<size_t>(x) % bytes1.size()] ^= 1;  // each expert its own bytes
    auto operand = [&](const std::vector<uint8_t>& bytes, const std::vector<float>& scales,
                       const std::vector<float>& bias, int64_t out, int64_t in) {
      LinearOperand l;
      l.packed = backend.prepare(PackedMatrix{tusk::weight_layout::Layout::Int4, bytes.data(), scales.data(), out, in, group},
                                 e.keep);
      l.out = out;
      l.in = in;
      l.bias = backend.prepare(bias.data(), out, e.keep);
      return l;
    };
    e.fc1.push_back(operand(bytes1, scales1, bias1, a.ffn, a.d));
    e.fc2.push_back(operand(bytes2, scales2, bias2, a.d, a.ffn));
  }
  e.bytes_each = static_cast<double>(bytes1.size() + bytes2.size()) + 4.0 * static_cast<double>(scales1.size() + scales2.size());
  return e;
}

// One MoE layer call on `tokens` tokens, two experts each, starting at expert `first`:
// positions spread evenly over min(2 * tokens, experts) experts.
struct MoeCall {
  std::vector<ExpertGroup> groups;
  std::vector<int64_t> rows, slots;
  int64_t experts_used = 0, positions = 0;
};

MoeCall moe_call(const Experts& e, int64_t tokens, int64_t first) {
  MoeCall c;
  const int64_t experts = static_cast<int64_t>(e.fc1.size());
  c.positions = 2 * tokens;
  c.experts_used = std::min(c.positions, experts);
  int64_t begin = 0;
  for (int64_t g = 0; g < c.experts_used; ++g) {
    const int64_t count = c.positions / c.experts_used + (g < c.positions % c.experts_used ? 1 : 0);
    const int64_t x = (first + g) % experts;
    c.groups.push_back({e.fc1[x], e.fc2[x], begin, count});
    begin += count;
  }
  for (int64_t p = 0; p < c.positions; ++p) {
    c.rows.push_back(p / 2);  // a token's two positions
    c.slots.push_back(p);
  }
  return c;
}

void bench_moe(Backend& backend, const Args& a, double copy_bw) {
  Experts e = make_experts(backend, a);
  std::printf("\n(b) int4 MoE layer, d_model %lld, ffn %lld, %lld experts (%.1f MB of weights each)\n",
              static_cast<long long>(a.d), static_cast<long long>(a.ffn), static_cast<long long>(a.experts),
              e.bytes_each / 1e6);
  std::printf("  %-8s %-8s %12s %14s %14s %10s\n", "tokens", "experts", "time (us)", "weights GB/s",
              "of copy bw", "TFLOP/s");
  for (int64_t tokens : {1, 8, 32, 64, 1024, 4096}) {
    const int64_t positions = 2 * tokens;
    Tensor x = backend.allocate(DType::F32, {tokens, a.d});
    Tensor gathered = backend.allocate(DType::F32, {positions, a.d});
    Tensor hidden = backend.allocate(DType::F32, {positions, a.ffn});
    Tensor out = backend.allocate(DType::F32, {positions, a.d});
    std::vector<float> host_x(static_cast<size_t>(tokens * a.d), 0.5f);
    backend.upload(host_x.data(), x);
    // Enough calls to cycle through the experts (weights from memory, not a cache).
    const int64_t per_call = std::min(positions, a.experts);
    const int calls = static_cast<int>(std::max<int64_t>(4, std::min<int64_t>(64, 2 * a.experts / per_call)));
    std::vector<MoeCall> plan;
    for (int c = 0; c < calls; ++c) plan.push_back(moe_call(e, tokens, c * per_call));
    const double t = best_seconds(backend, 3, [&] {
      for (const MoeCall& c : plan)
        backend.expert_ffn(x.matrix(), c.groups.data(), static_cast<int64_t>(c.groups.size()), c.rows.data(),
                           c.slots.data(), gathered.mutable_matrix(), hidden.mutable_matrix(), out.mutable_matrix());
    }) / calls;
    const double weight_bytes = static_cast<double>(plan[0].experts_used) * e.bytes_each;
    const double flops = 2.0 * static_cast<double>(positions) * 2.0 * static_cast<double>(a.d * a.ffn);
    std::printf("  %-8lld %-8lld %12.1f %14.1f %13.0f%% %10.2f\n", static_cast<long long>(tokens),
                static_cast<long long>(plan[0].experts_used), t * 1e6, weight_bytes / t / 1e9,
                100.0 * weight_bytes / t / copy_bw, flops / t / 1e12);
  }
}

std::vector<std::string> read_sentences(const Args& a) {
  std::vector<std::string> out;
  std::ifstream in(a.sentences);
  std::string line;
  while (static_cast<int>(out.size()) < a.count && std::getline(in, line))
    if (!line.empty()) out.push_back(line);
  return out;
}

// Generated tokens per second translating `texts` en->de at max batch `batch`; 0 on failure.
double tokens_per_second(tusk_model_t* model, int device, int batch, int threads, const std::vector<std::string>& texts) {
  tusk_options_t* opt = nullptr;
  tusk_options_create(&opt);
  tusk_options_set_int(opt, TUSK_OPT_DEVICE, device);
  tusk_options_set_int(opt, TUSK_OPT_MAX_BATCH_SIZE, batch);
  tusk_options_set_int(opt, TUSK_OPT_THREADS, threads);
  tusk_translator_t* tr = nullptr;
  const tusk_status_t st = tusk_translator_create(model, opt, &tr);
  tusk_options_destroy(opt);
  if (st != TUSK_OK) {
    std::printf("  (no translator: %s)\n", tusk_last_error());
    return 0;
  }
  std::vector<const char*> ptrs;
  for (const auto& s : texts) ptrs.push_back(s.c_str());
  tusk_result_t* warm = nullptr;  // first call: weights prepared, buffers grown
  tusk_translate(tr, "en", "de", ptrs.data(), std::min<size_t>(ptrs.size(), static_cast<size_t>(batch)), &warm);
  tusk_result_free(warm);
  const auto t0 = Clock::now();
  tusk_result_t* res = nullptr;
  if (tusk_translate(tr, "en", "de", ptrs.data(), ptrs.size(), &res) != TUSK_OK) {
    std::printf("  (translate failed: %s)\n", tusk_last_error());
    tusk_translator_destroy(tr);
    return 0;
  }
  const double t = seconds_since(t0);
  size_t tokens = 0;
  for (size_t i = 0; i < tusk_result_count(res); ++i) {
    const int32_t* ids = nullptr;
    tokens += tusk_result_tokens(res, i, &ids) - 1;  // the language code is not generated
  }
  tusk_result_free(res);
  tusk_translator_destroy(tr);
  return static_cast<double>(tokens) / t;
}

void bench_e2e(const Args& a) {
  const std::vector<std::string> texts = read_sentences(a);
  if (texts.empty()) {
    std::printf("\n(c) skipped: no sentences (--sentences FILE)\n");
    return;
  }
  tusk_model_t* model = nullptr;
  if (tusk_model_open(a.model.c_str(), nullptr, &model) != TUSK_OK) {
    std::printf("\n(c) skipped: %s\n", tusk_last_error());
    return;
  }
  const int device = a.device == Device::Cuda ? TUSK_DEVICE_CUDA : TUSK_DEVICE_CPU;
  std::printf("\n(c) end to end, %s, %zu sentences en->de, greedy\n", a.model.c_str(), texts.size());
  std::printf("  %-6s %16s %16s %8s\n", "batch", "device tok/s", "cpu tok/s", "ratio");
  for (int batch : {1, 32, 128}) {
    const double dev = tokens_per_second(model, device, batch, a.cpu_threads, texts);
    const double cpu = tokens_per_second(model, TUSK_DEVICE_CPU, batch, a.cpu_threads, texts);
    std::printf("  %-6d %16.1f %16.1f %7.2fx\n", batch, dev, cpu, cpu > 0 ? dev / cpu : 0.0);
  }
  tusk_model_close(model);
}

}  // namespace

int main(int argc, char** argv) {
  const Args a = parse(argc, argv);
  try {
    auto backend = make_backend({a.device, a.cpu_threads});
    std::printf("gpu_bench on %s\n", device_name(a.device));
    const int64_t copy_bytes = a.device == Device::Cuda ? (int64_t{1} << 30) : (int64_t{1} << 28);
    const double bw = copy_bandwidth(*backend, copy_bytes);
    std::printf("\n(a) copy bandwidth (gather_rows, read + write): %.1f GB/s\n", bw / 1e9);
    bench_moe(*backend, a, bw);
  } catch (const tusk::Error& e) {
    std::printf("gpu_bench: %s\n", e.what());
    return 1;
  }
  if (a.e2e) bench_e2e(a);
  return 0;
}
