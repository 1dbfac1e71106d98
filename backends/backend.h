// The seam between the model graph and the hardware: every tensor op the engine needs, and
// the memory they run on. sdk/ calls these ops in order; a backend owns the math.
//
// Activations are fp32 matrices on the backend's device (MatrixView: rows, cols and a row
// stride, so callers address heads and slices without copies), in tensors the backend
// allocated. A Linear weight is [n, k] (out_features x in_features), as stored in the model
// file. Small control arrays (token ids, positions, key ranges, row indices, routes) are host
// arrays: they are the host's decisions, and a device backend uploads them with the op.
// Results the host decides on (routes, chosen tokens, beam candidates) come back as host
// arrays: the only downloads of a decode step.
//
// A Backend instance is used by one thread at a time (a Translator owns one); intra-op
// parallelism happens inside the calls. This header names no backend's internals (no kernel
// or oneDNN type): weights come in the file's stored layouts, which every backend reads.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "backends/fence.h"
#include "backends/tensor.h"
#include "model_format/layout/weight_layout.h"

namespace tusk::backends {

// A quantized or fp16 weight matrix [n, k] in a stored layout (model_format/layout/
// weight_layout.h), with fp32 scales [n, k / group] (null for F16).
struct PackedMatrix {
  weight_layout::Layout layout = weight_layout::Layout::Int8;
  const void* data = nullptr;
  const float* scales = nullptr;
  int64_t n = 0, k = 0, group = 0;
};

enum class Activation { None, Relu };

// The token embedding of an encoder-decoder model: out = scale * table[id] + positions[p].
struct EmbeddingTable {
  const float* f32 = nullptr;  // [rows, cols] fp32, or
  PackedMatrix packed;         // [rows, cols] packed (when f32 is null)
  int64_t rows = 0, cols = 0;
  float scale = 1.0f;
  const float* positions = nullptr;  // [position_rows, cols] fp32
  int64_t position_rows = 0;
};

// The keys (and values) one query row attends: rows begin, begin + stride, ... (count rows)
// of the key and value matrices.
struct KeyRange {
  int64_t begin = 0, count = 0, stride = 1;
};

// A row's two experts under top-2 routing, and their renormalised gates.
struct ExpertRoute {
  int32_t expert[2];
  float gate[2];
};

// A linear layer's weights as ops read them (prepared for the backend's device): fp32 or
// packed [out, in], and an optional bias [out].
struct LinearOperand {
  const float* f32 = nullptr;  // [out, in] fp32, or
  PackedMatrix packed;         // packed (when f32 is null)
  int64_t out = 0, in = 0;
  const float* bias = nullptr;
};

// One expert of a MoE layer and the rows it runs on: positions [begin, begin + count) of
// expert_ffn's rows and slots.
struct ExpertGroup {
  LinearOperand fc1, fc2;  // fc1 [ffn, d] followed by ReLU, fc2 [d, ffn]
  int64_t begin = 0, count = 0;
};

// A change to one entry of a row's scores before search picks from it: a ban (penalty 0: the
// entry becomes -inf) or a repetition penalty p > 0 (a positive score is divided by p, a
// negative one multiplied: the CTRL rule transformers applies).
struct ScoreEdit {
  int64_t row, column;
  float penalty;
};

// An entry of a matrix of scores.
struct ScoreIndex {
  int64_t row, column;
};

// A beam-search candidate: hypothesis row `row` extended by `token`.
struct BeamCandidate {
  double score;     // the row's base score + logprob
  int32_t row, token;
  float logprob;    // the token's log-probability in its row
};

// The decoder's self-attention keys and values of every step so far, for each live
// hypothesis; owned by a backend (made by Backend::make_kv_cache), in its memory.
class KvCache {
 public:
  virtual ~KvCache() = default;
  // Drops every step (a new batch).
  virtual void clear() = 0;
  // Makes room for one more step of `hyps` hypotheses (the same count as the steps before)
  // and returns where its keys and values go: two [hyps, width] matrices.
  virtual std::pair<MutableMatrixView, MutableMatrixView> append(int64_t hyps) = 0;
  // Keeps hypotheses: new hypothesis j continues old hypothesis parents[j], or starts with no
  // steps when parents[j] is -1 (continuous batching admits it; its keys begin with the next
  // append). The others' steps are freed. The identity is free.
  virtual void reorder(const std::vector<int32_t>& parents) = 0;
  // Steps held (the longest-running hypothesis's).
  virtual int64_t steps() const = 0;
  virtual int64_t hyps() const = 0;
};

class Backend {
 public:
  virtual ~Backend() = default;

  virtual Device device() const = 0;
  // Which device of its kind (CUDA: the runtime's ordinal): prepared weights are per device.
  virtual int device_index() const { return 0; }

  // ---- memory ----
  // An owned, contiguous, uninitialised tensor on this backend's device.
  virtual Tensor allocate(DType dtype, const std::vector<int64_t>& shape) = 0;
  // Copies a host array of dst.bytes() into a contiguous tensor of this device, and back.
  virtual void upload(const void* host, Tensor& dst) = 0;
  virtual void download(const Tensor& src, void* host) = 0;
  // A KV cache whose steps hold [hyps, width] keys and values.
  virtual std::unique_ptr<KvCache> make_kv_cache(int64_t width) = 0;

  // ---- weights ----
  // Makes host weights (the model's dense bytes) readable by this backend's ops, once per model and
  // device (sdk/prepared_weights.h). The CPU borrows the host bytes as they are; a device
  // backend uploads them, or repacks them into its own arrangement, into tensors it appends
  // to `keep`, which must outlive every use of what it returns. The host bytes may be reused
  // once the fence() made after the call is done; the copy may still be under way when the
  // call returns (ops given afterwards see it).
  virtual const float* prepare(const float* host, int64_t count, std::vector<Tensor>& keep) = 0;
  virtual PackedMatrix prepare(const PackedMatrix& host, std::vector<Tensor>& keep) = 0;

  // ---- dense math ----
  // y = act(x @ w^T + bias); x [m, k], w [n, k] contiguous, bias [n] or null, y [m, n].
  virtual void linear(MatrixView x, const float* w, int64_t n, const float* bias,
                      Activation act, MutableMatrixView y) = 0;

  // The same with quantized or fp16 weights, dequantized in registers; w.n output columns.
  virtual void linear(MatrixView x, const PackedMatrix& w, const float* bias, Activation act,
                      MutableMatrixView y) = 0;

  // y[i] += x[i] * alpha over rows x cols.
  virtual void add_scaled(MatrixView x, float alpha, MutableMatrixView y) = 0;

  // Row-wise layer norm over cols: y = (x - mean) / sqrt(var + eps) * gamma + beta.
  virtual void layer_norm(MatrixView x, const float* gamma, const float* beta, float eps,
                          MutableMatrixView y) = 0;

  // out[i] = table.scale * table[ids[i]] + table.positions[positions[i]] for out.rows rows;
  // ids and positions are host arrays.
  virtual void embed(const EmbeddingTable& table, const int32_t* ids, const int32_t* positions,
                     MutableMatrixView out) = 0;

  // out[w.k] (on this backend's device) = row `row` of w dequantized.
  virtual void dequantize_row(const PackedMatrix& w, int64_t row, float* out) = 0;

  // ---- attention ----
  // Multi-head scaled dot-product attention, every query row at once: q and out
  // [tq, heads*head_dim], k and v [tk, heads*head_dim]; query row i attends the key and
  // value rows of ranges[i] (a host array of tq ranges; count 0 gives zeros). Scores are
  // scaled by 1/sqrt(head_dim). One call covers a batch of variable-length sequences.
  virtual void attention(MatrixView q, MatrixView k, MatrixView v, int heads,
                         const KeyRange* ranges, MutableMatrixView out) = 0;

  // Query row j of q [hyps, width] attends every step of hypothesis j in the cache.
  virtual void attention(MatrixView q, const KvCache& cache, int heads,
                         MutableMatrixView out) = 0;

  // ---- mixture of experts ----
  // NLLB-MoE top-2 routing at eval for each row of router logits [tokens, experts >= 2]:
  // first = argmax of the logits, second = argmax of the others (the lowest index on ties;
  // the reference takes argmax of fp32 softmax(logits), the same pick unless two logits'
  // probabilities round equal); p = softmax(logits) in fp32; gates = (p1, p2) /
  // max(p1 + p2, FLT_EPSILON). routes is a host array of logits.rows.
  virtual void route_top2(MatrixView logits, ExpertRoute* routes) = 0;

  // out[i] = x[rows[i]] for out.rows rows (rows: host array).
  virtual void gather_rows(MatrixView x, const int64_t* rows, MutableMatrixView out) = 0;
  // out[rows[i]] = x[i] for x.rows rows (rows: host array, distinct).
  virtual void scatter_rows(MatrixView x, const int64_t* rows, MutableMatrixView out) = 0;
  // The experts of one MoE layer in one call (a GPU runs every expert's fc1 in one launch,
  // then every fc2): for each group and each position p of it,
  //   out[slots[p]] = fc2(relu(fc1(x[rows[p]]))).
  // rows and slots are host arrays over all positions (slots distinct rows of out). Scratch:
  // gathered [positions, d] and hidden [positions, >= every fc1.out], on this device. Groups
  // run in the order given; each result is what gather_rows, two linears and scatter_rows
  // would give.
  virtual void expert_ffn(MatrixView x, const ExpertGroup* groups, int64_t count, const int64_t* rows,
                          const int64_t* slots, MutableMatrixView gathered, MutableMatrixView hidden,
                          MutableMatrixView out) = 0;

  // out[t] = routes[t].gate[0] * first[t] + routes[t].gate[1] * second[t].
  virtual void combine_top2(MatrixView first, MatrixView second, const ExpertRoute* routes,
                            MutableMatrixView out) = 0;

  // ---- outputs ----
  // x[r][column] = value for every row (a token search must not pick, e.g. end of sentence
  // before the minimum length).
  virtual void fill_column(MutableMatrixView x, int64_t column, float value) = 0;

  // Applies edits (a host array; at most one per entry) to x in place.
  virtual void edit_scores(MutableMatrixView x, const ScoreEdit* edits, int64_t count) = 0;

  // values[i] = x[entries[i].row][entries[i].column] (host arrays): a few entries read back,
  // e.g. the scores of tokens a target prefix forces.
  virtual void read_scores(MatrixView x, const ScoreIndex* entries, int64_t count, float* values) = 0;

  // Row-wise log-softmax in place.
  virtual void log_softmax(MutableMatrixView x) = 0;

  // Row-wise softmax in place.
  virtual void softmax(MutableMatrixView x) = 0;

  // Greedy search's pick from raw logits, without writing a normalised copy: for each row, the
  // first index of its maximum over the columns other than `excluded` (-1: none; e.g. end of
  // sentence before the minimum length), as torch.argmax picks it (0 where no column is above
  // -inf), and that column's log-softmax over the whole row, `excluded` included: the value
  // log_softmax would give it, bit for bit. Host arrays of x.rows.
  virtual void argmax_log_softmax(MatrixView logits, int64_t excluded, int32_t* ids, float* logprobs) = 0;

  // Beam search's candidates. Rows form groups (one per sentence): group g is rows
  // [group_begin[g], group_begin[g + 1]) (host array of groups + 1 entries). For each group,
  // the min(k, rows * cols) best (base[row] + x[row][token]) in descending score (ties in any
  // order), written to out[g * k ...]; counts[g] receives how many. `row` is a row of x (not
  // an index within the group).
  virtual void top_k(MatrixView x, const double* base, const int64_t* group_begin,
                     int64_t groups, int k, BeamCandidate* out, int64_t* counts) = 0;

  // ---- execution ----
  // Threads for intra-op parallelism (>= 1).
  virtual int threads() const = 0;

  // A fence that completes once every op given to this backend so far has finished reading
  // and writing its operands (immediately on the CPU, whose ops are synchronous).
  virtual FencePtr fence() = 0;
};

// The arithmetic of products with packed weights: fp32, or activations and weights rounded to
// fp16 / bf16 with fp32 accumulation (GPU tensor cores). The CPU backend computes in fp32 only.
enum class Compute { F32, F16, BF16 };

const char* compute_name(Compute compute);  // "fp32", "fp16", "bf16"

struct BackendOptions {
  Device device = Device::Cpu;
  int threads = 0;  // intra-op threads; <= 0: all cores (the CPU's; a GPU backend records it)
  // An approximation, off by default: integer-weight products with activations quantized to
  // 8 bits where the backend has such a kernel (CPU: int8 weights at GEMM sizes on AVX-512
  // VNNI, kernels::quantized_linear_x8), CTranslate2's int8 arithmetic. Faster, and the
  // output changes (bench/README.md reports its BLEU cost).
  bool int8_activations = false;
  int device_index = 0;  // which device of its kind (CUDA: the runtime's device ordinal)
  Compute compute = Compute::F32;
};

// The one dispatch point from a device to its backend. CUDA loads libtusk_cuda.so on first
// use (backends/cuda_plugin.h); throws Unsupported, naming the reason, for a device that
// cannot run here (no CUDA library in this build or install, no driver, no GPU), and
// InvalidArgument for a device index the machine does not have. Never falls back to the CPU.
std::unique_ptr<Backend> make_backend(const BackendOptions& options);

// The devices this build can run on this machine (CPU always; CUDA when its library loads and
// sees a GPU): what the conformance suite runs over.
std::vector<Device> available_devices();

// Why CUDA is not among available_devices() (empty when it is): for tests' skip messages.
std::string cuda_unavailable_reason();

// The CPU backend (backends/cpu/); threads <= 0 means all cores.
std::unique_ptr<Backend> make_cpu_backend(int threads, bool int8_activations = false);

}  // namespace tusk::backends
