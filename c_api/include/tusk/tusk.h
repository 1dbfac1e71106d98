/*
 * tusk.h - the C ABI of Tusk, an embedded Mixture-of-Experts translation SDK.
 *
 * This is the only public header. Conventions:
 *   - every fallible call returns tusk_status_t (TUSK_OK = 0); on failure out-parameters are
 *     left untouched and tusk_last_error() describes the failure for the calling thread;
 *   - handles are opaque; create/destroy (open/close) come in pairs; destroy accepts NULL;
 *   - strings are NUL-terminated UTF-8; no bool in the ABI (int32_t, 0 = false);
 *   - signatures never change: a changed call gets a new name with a _v2 suffix;
 *   - enums only grow.
 *
 * Thread safety is stated on each function. In short: a model is immutable and may be shared by
 * any number of translators on any threads; a translator serialises concurrent tusk_translate
 * calls on itself (use one translator per thread for parallel work); options and results are
 * plain objects owned by one thread at a time. Tested with eight threads on one translator and
 * with several translators sharing one model, from C and from every binding (CTest thread_*).
 */
#ifndef TUSK_TUSK_H
#define TUSK_TUSK_H

#include <stddef.h>
#include <stdint.h>

#if defined(_WIN32)
#  if defined(TUSK_BUILDING_LIBRARY)
#    define TUSK_API __declspec(dllexport)
#  else
#    define TUSK_API __declspec(dllimport)
#  endif
#else
#  define TUSK_API __attribute__((visibility("default")))
#endif

#ifdef __cplusplus
extern "C" {
#endif

#define TUSK_VERSION_MAJOR 0
#define TUSK_VERSION_MINOR 3
#define TUSK_VERSION_PATCH 0

/* ---- status --------------------------------------------------------------------------- */

typedef enum tusk_status_t {
  TUSK_OK = 0,
  TUSK_ERROR_INVALID_ARGUMENT = 1, /* NULL handle, bad option value, invalid UTF-8, ... */
  TUSK_ERROR_IO = 2,               /* a file could not be opened, read, mapped or written */
  TUSK_ERROR_INVALID_MODEL = 3,    /* not a .tusk file, truncated, corrupt, or unsupported */
  TUSK_ERROR_UNSUPPORTED = 4,      /* valid request this build or model cannot serve */
  TUSK_ERROR_UNKNOWN_LANGUAGE = 5, /* language code not in the model's language table */
  TUSK_ERROR_INPUT_TOO_LONG = 6,   /* a sentence exceeds the model's maximum positions */
  TUSK_ERROR_OUT_OF_MEMORY = 7,
  TUSK_ERROR_CANCELLED = 8,        /* a callback returned non-zero, or tusk_translator_cancel */
  TUSK_ERROR_INTERNAL = 9          /* a bug in Tusk: please report it with the message */
} tusk_status_t;

/* Message for the calling thread's most recent failed call ("" if none). Valid until the next
 * Tusk call on this thread. Thread-safe. */
TUSK_API const char *tusk_last_error(void);

/* Short English name of a status ("TUSK_ERROR_IO"). Never NULL. Thread-safe. */
TUSK_API const char *tusk_status_name(tusk_status_t status);

/* ---- version -------------------------------------------------------------------------- */

/* "MAJOR.MINOR.PATCH" of the loaded library. Thread-safe. */
TUSK_API const char *tusk_version(void);
/* The loaded library's version as MAJOR * 10000 + MINOR * 100 + PATCH. Thread-safe. */
TUSK_API uint32_t tusk_version_number(void);

/* ---- options -------------------------------------------------------------------------- */

typedef struct tusk_options_t tusk_options_t;

typedef enum tusk_option_t {
  /* Integer options. */
  TUSK_OPT_THREADS = 1,             /* intra-op threads; 0 = all cores (default 0) */
  TUSK_OPT_BEAM_SIZE = 2,           /* 1 = greedy (default 1) */
  TUSK_OPT_MAX_DECODING_LENGTH = 3, /* generated tokens per sentence (default 256), at most the
                                       model's maximum positions - 1; 0 = that limit */
  TUSK_OPT_MAX_BATCH_SIZE = 4,      /* sentences per batch (default 32) */
  TUSK_OPT_MAX_BATCH_TOKENS = 5,    /* source tokens per batch (default 4096) */
  TUSK_OPT_TRUNCATE_INPUT = 6,      /* 1: cut over-long sentences to the model limit and mark
                                       them (tusk_result_truncated);
                                       0: refuse them with TUSK_ERROR_INPUT_TOO_LONG (default 0) */
  TUSK_OPT_VERIFY_CHECKSUMS = 7,    /* 1: check all weight checksums at open (default 1) */
  TUSK_OPT_EXPERT_BUDGET_BYTES = 8, /* translator: decoded expert bytes the translator may hold
                                       (default 0 = every expert resident, decoded once per
                                       model and shared by its translators). Otherwise the
                                       translator pages experts through its own cache of this
                                       size: loaded on first use, evicted in the order of
                                       TUSK_OPT_EXPERT_EVICTION.
                                       Output is identical under every budget. At least the
                                       largest expert (tusk_model_expert_bytes), else
                                       tusk_translator_create fails. A dense model (no
                                       experts) has nothing to page: this option and the
                                       other expert options are accepted and do nothing */
  TUSK_OPT_DEVICE = 9,              /* TUSK_DEVICE_CPU (default) or TUSK_DEVICE_CUDA: the GPU
                                       backend in libtusk_cuda.so, loaded on first use (see
                                       tusk_translator_create). Never a silent CPU fallback */
  TUSK_OPT_ZSTD_LEVEL = 10,         /* converter: zstd level for expert frames (default 3) */
  TUSK_OPT_EXPERT_WEIGHTS = 11,     /* converter: storage of the expert weight matrices, a
                                       tusk_weight_type_t (default TUSK_WEIGHTS_FP32) */
  TUSK_OPT_DENSE_WEIGHTS = 12,      /* converter: storage of the dense weight matrices
                                       (attention, dense FFN, embeddings / output projection), a
                                       tusk_weight_type_t (default TUSK_WEIGHTS_FP32;
                                       TUSK_WEIGHTS_INT4 since 0.3) */
  TUSK_OPT_GROUP_SIZE = 13,         /* converter: input columns per int8/int4 scale; 0 = one
                                       scale per output channel (default 0). Must divide the
                                       matrices' input size; the kernels want a multiple of 64
                                       for int4 and 32 for int8. Embeddings always get one scale
                                       per row. */
  TUSK_OPT_EXPERT_EVICTION = 14,    /* translator: which cached expert a full budget drops, a
                                       tusk_eviction_t (default
                                       TUSK_EVICTION_LAYER_DISTANCE). Changes hit rate and
                                       speed, never the output */
  TUSK_OPT_EXPERT_PREFETCH = 15,    /* translator, with an expert budget: 1 loads experts
                                       ahead of need on a background thread (those a layer is
                                       about to run, and those the next sparse layer's router
                                       predicts from the current hidden states or the previous
                                       decoder step used); 0 loads only on a miss (default 1).
                                       Never changes the output */
  TUSK_OPT_EXPERT_DIRECT_IO = 16,   /* translator, with an expert budget: 1 reads expert frames
                                       with O_DIRECT, past the OS page cache, so paged experts
                                       occupy memory once (in the translator's cache) and a
                                       model larger than memory does not push other data out
                                       of the page cache; every load then reads storage.
                                       Falls back to buffered reads where the file system
                                       refuses O_DIRECT. 0: buffered reads (default 0) */
  TUSK_OPT_MIN_DECODING_LENGTH = 17, /* translator: no end of sentence before this many
                                       generated tokens, clipped to the maximum decoding
                                       length (default 0). The chosen tokens' log-probabilities
                                       stay those of the full distribution. Since 0.3 */
  TUSK_OPT_INT8_ACTIVATIONS = 18,   /* translator: 1 quantizes activations to 8 bits in the
                                       products with int8 weights where the CPU kernels have
                                       such a path (batched and encoder products on AVX-512
                                       VNNI), as CTranslate2's int8 does: faster, and the
                                       output changes (an approximation; bench/README.md
                                       reports its BLEU cost). 0: 16-bit activations, whose
                                       products are exact in integers (default 0). Since 0.3 */
  TUSK_OPT_DEVICE_INDEX = 19,       /* translator: which GPU with TUSK_DEVICE_CUDA, the CUDA
                                       runtime's ordinal (CUDA_VISIBLE_DEVICES applies;
                                       default 0). Since 0.3 */
  TUSK_OPT_COMPUTE_TYPE = 20,       /* translator: the arithmetic of batched products with
                                       int8/int4/fp16 weights, a tusk_compute_t: FP32 (default),
                                       or FP16 / BF16 on a GPU (activations and weights rounded,
                                       tensor cores, fp32 sums; the output may change). The CPU
                                       computes in fp32: FP16/BF16 there is
                                       TUSK_ERROR_UNSUPPORTED. Since 0.3 */
  TUSK_OPT_DEVICE_EXPERT_BUDGET_BYTES = 21, /* translator, TUSK_DEVICE_CUDA: GPU memory for experts
                                       copied to the device, evicted least recently used once
                                       the work that read them is done; 0 keeps every expert
                                       used on the GPU (default 0). At least one expert's bytes.
                                       With a budget the experts of a layer run one at a time.
                                       The CPU reads host memory in place: no effect. Since 0.3 */
  TUSK_OPT_NO_REPEAT_NGRAM_SIZE = 22, /* translator, a runaway guard: n > 0 bans any token that
                                       would repeat an n-gram of the translation's own tokens
                                       (transformers' no_repeat_ngram_size); 0 off (default 4,
                                       see bench/README.md "Runaway guards"). Since 0.3 */
  TUSK_OPT_MAX_LENGTH_OFFSET = 23,  /* translator, a runaway guard with TUSK_OPT_MAX_LENGTH_RATIO:
                                       a sentence of n source tokens generates at most
                                       offset + ceil(ratio * n) tokens, never more than
                                       TUSK_OPT_MAX_DECODING_LENGTH (default 10). Since 0.3 */
  TUSK_OPT_PER_SENTENCE_ERRORS = 24, /* translator: 1 gives a sentence (or text) that cannot be
                                       translated (invalid UTF-8; too long in sentence mode
                                       without truncation) its own status in the result
                                       (tusk_result_status, tusk_result_error) and an empty
                                       translation, and translates the others; 0 fails the
                                       whole call (default 0). Since 0.3 */
  TUSK_OPT_NUM_HYPOTHESES = 25,     /* translator: hypotheses per sentence in the result, best
                                       first (tusk_result_hypothesis_*), at most
                                       TUSK_OPT_BEAM_SIZE (else tusk_translator_create fails
                                       with TUSK_ERROR_INVALID_ARGUMENT); text mode returns one.
                                       Default 1. Since 0.3 */
  TUSK_OPT_MAP_MODEL = 26,          /* tusk_model_open: 0 (default) reads the dense weights into
                                       memory the model owns; 1 uses them in place from a
                                       read-only mapping of the file. See "Model files that
                                       change on disk" at tusk_model_open. Since 0.3 */
  /* Float options. */
  TUSK_OPT_LENGTH_PENALTY = 100,    /* beam score = logprob / length^penalty (default 0.0) */
  TUSK_OPT_MAX_LENGTH_RATIO = 101,  /* translator: the ratio above; 0 = no limit relative to the
                                       source (default 2.0). Since 0.3 */
  TUSK_OPT_REPETITION_PENALTY = 102, /* translator, a runaway guard: scores of tokens the
                                       translation has already are divided (positive) or
                                       multiplied (negative) by it (the CTRL rule); 1 off, at
                                       most 10 (default 1.0: off). Since 0.3 */
  /* Not an option: makes every int a value of this type, so a key that is no option (from C,
     any int converts) is refused with TUSK_ERROR_INVALID_ARGUMENT rather than being, in the
     C++ library, an out-of-range enum value. */
  TUSK_OPT_RESERVED_INT_RANGE = 0x7FFFFFFF
} tusk_option_t;

/* Expert eviction policies (TUSK_OPT_EXPERT_EVICTION). LRU: least recently used first.
 * LAYER_DISTANCE: by execution order first (encoder experts that will not run again before the
 * next batch: all of them while decoding, the layers already passed while encoding), then the
 * least frequently used, then the least recently used. Higher hit rates than LRU on MoE
 * translation, most of all one sentence at a time. NONE: keep nothing, load an expert on
 * every use and drop it after (no reuse, no prefetch): naive on-demand loading, the baseline
 * benchmarks compare with. */
typedef enum tusk_eviction_t {
  TUSK_EVICTION_LRU = 0,
  TUSK_EVICTION_LAYER_DISTANCE = 1,
  TUSK_EVICTION_NONE = 2
} tusk_eviction_t;

typedef enum tusk_device_t { TUSK_DEVICE_CPU = 0, TUSK_DEVICE_CUDA = 1 } tusk_device_t;

/* Compute types (TUSK_OPT_COMPUTE_TYPE). */
typedef enum tusk_compute_t {
  TUSK_COMPUTE_FP32 = 0,
  TUSK_COMPUTE_FP16 = 1,
  TUSK_COMPUTE_BF16 = 2
} tusk_compute_t;

/* How the converter stores weight matrices (TUSK_OPT_EXPERT_WEIGHTS, TUSK_OPT_DENSE_WEIGHTS).
 * INT8 and INT4 are symmetric with fp32 scales per output channel or per group of input
 * columns (TUSK_OPT_GROUP_SIZE). Layer norms, biases and the routers always stay fp32. */
typedef enum tusk_weight_type_t {
  TUSK_WEIGHTS_FP32 = 0,
  TUSK_WEIGHTS_FP16 = 1,
  TUSK_WEIGHTS_INT8 = 2,
  TUSK_WEIGHTS_INT4 = 3
} tusk_weight_type_t;

/* Creates an options object holding every default. Thread-safe. */
TUSK_API tusk_status_t tusk_options_create(tusk_options_t **out);
/* Accepts NULL. */
TUSK_API void tusk_options_destroy(tusk_options_t *options);
/* Set one option. TUSK_ERROR_INVALID_ARGUMENT for an unknown option, a float option set as int
 * (or the reverse), or a value out of range. Not thread-safe on the same options object. */
TUSK_API tusk_status_t tusk_options_set_int(tusk_options_t *options, tusk_option_t key,
                                            int64_t value);
TUSK_API tusk_status_t tusk_options_set_float(tusk_options_t *options, tusk_option_t key,
                                              double value);
TUSK_API tusk_status_t tusk_options_get_int(const tusk_options_t *options, tusk_option_t key,
                                            int64_t *value);
TUSK_API tusk_status_t tusk_options_get_float(const tusk_options_t *options, tusk_option_t key,
                                              double *value);

/* ---- callbacks ------------------------------------------------------------------------ */

/* Progress of long work (conversion): done out of total units, and what is being done.
 * Return non-zero to cancel; the call then fails with TUSK_ERROR_CANCELLED. */
typedef int32_t (*tusk_progress_callback)(uint64_t done, uint64_t total, const char *what,
                                          void *user_data);

/* ---- models --------------------------------------------------------------------------- */

typedef struct tusk_model_t tusk_model_t;

/* Opens and verifies a .tusk file (header, metadata, every tensor's bounds, and with
 * TUSK_OPT_VERIFY_CHECKSUMS the weight checksums). options may be NULL for defaults.
 * The model is immutable; share it across threads and translators freely. Thread-safe.
 *
 * Model files that change on disk. Expert weights are always read from the open file when
 * needed (pread) and checksum-verified on every load. The dense weights:
 * - TUSK_OPT_MAP_MODEL 0 (default): read into memory the model owns at open. Nothing of the
 *   file is mapped, so no change to it can crash the process. Costs the dense bytes in private
 *   memory (not shared, not reclaimable like page cache) and one read of them at open.
 * - TUSK_OPT_MAP_MODEL 1: used in place from a read-only mapping: no copy, faster open, pages
 *   shared with other processes and reclaimable. Only for files that never change in place
 *   (read-only media, an app bundle, files updated only by rename): a file truncated in place
 *   under a mapping ends the process with SIGBUS, and its new bytes would be used.
 * In both modes each translate call and each expert load first checks the file's size and
 * modification time; once they differ from what open saw, the call fails with TUSK_ERROR_IO
 * ("changed in place after it was opened") and so does every later one: open the model again.
 * Updating a model safely: write the new file elsewhere on the same file system and rename(2)
 * it over the old path (`mv`, not `cp`). Open models keep using the file they opened (also
 * when it is deleted); newly opened ones get the new file. */
TUSK_API tusk_status_t tusk_model_open(const char *path, const tusk_options_t *options,
                                       tusk_model_t **out);
/* Accepts NULL. Every translator created from the model must be destroyed first. */
TUSK_API void tusk_model_close(tusk_model_t *model);

/* Human-readable description: architecture, parameter counts, languages, sections with their
 * compression ratios. The string belongs to the model. Thread-safe. */
TUSK_API tusk_status_t tusk_model_describe(const tusk_model_t *model, const char **out);

/* The description followed by the quantization summary and one line per tensor (dense and
 * expert): name, dtype, shape, group size of its scales, quantization error recorded by the
 * converter (max abs error, relative RMS error against the fp32 weights) and bytes; then the
 * totals per dtype. Read from the file's index: no weight is decoded. Built on first use; the
 * string belongs to the model. Thread-safe. */
TUSK_API tusk_status_t tusk_model_describe_verbose(const tusk_model_t *model, const char **out);

/* Decoded bytes of all experts (*total) and of the largest one (*largest, the smallest
 * TUSK_OPT_EXPERT_BUDGET_BYTES accepted), e.g. to turn a percentage into a budget. Either
 * pointer may be NULL. Read from the file's index. Thread-safe. */
TUSK_API tusk_status_t tusk_model_expert_bytes(const tusk_model_t *model, uint64_t *total,
                                               uint64_t *largest);

/* Number of languages and the i-th language's short code: ISO 639-1 ("en") where that is
 * unambiguous in the model, else its token ("zho_Hans"). Strings belong to the model.
 * Every call that takes a language accepts either this code or the token. Thread-safe. */
TUSK_API tusk_status_t tusk_model_language_count(const tusk_model_t *model, int32_t *out);
TUSK_API tusk_status_t tusk_model_language(const tusk_model_t *model, int32_t index,
                                           const char **out);
/* The i-th language's token in the model's vocabulary, the full NLLB code ("eng_Latn").
 * Same order as tusk_model_language. Since 0.2. Thread-safe. */
TUSK_API tusk_status_t tusk_model_language_token(const tusk_model_t *model, int32_t index,
                                                 const char **out);

/* Converts a Hugging Face NLLB-MoE or M2M100 (NLLB-200) checkpoint folder (config.json, the
 * tokenizer files: sentencepiece.bpe.model with NllbTokenizer's JSON files, or our
 * sentencepiece.model alone; model.safetensors or sharded model-*.safetensors with
 * model.safetensors.index.json) into one .tusk file. Every config.json key is implemented or
 * refused by name (TUSK_ERROR_UNSUPPORTED; README "Converting published models"); tokenizer
 * files that disagree, TUSK_ERROR_INVALID_MODEL naming them. Output is byte-identical for identical input. The file is written to a temporary
 * name and renamed, so a failed or cancelled conversion leaves no partial file.
 * options (may be NULL): TUSK_OPT_ZSTD_LEVEL, TUSK_OPT_EXPERT_WEIGHTS, TUSK_OPT_DENSE_WEIGHTS,
 * TUSK_OPT_GROUP_SIZE. Refused before any weight is read: dense int4 and a group size that
 * does not suit a matrix (TUSK_ERROR_INVALID_ARGUMENT); a weight type whose kernels cannot
 * take a matrix's shape, e.g. int4 needs input sizes that are multiples of 64 and int8 of 32
 * (TUSK_ERROR_UNSUPPORTED). Messages name the tensor. progress may be NULL. Thread-safe. */
TUSK_API tusk_status_t tusk_convert_hf(const char *hf_dir, const char *out_path,
                                       const tusk_options_t *options,
                                       tusk_progress_callback progress, void *user_data);

/* ---- calibration: expert usage per language pair ---------------------------------------- */

/* Sample text of one language pair. */
typedef struct tusk_calibration_text_t {
  const char *src;                /* language codes of the model */
  const char *tgt;
  const char *const *sentences;   /* UTF-8; blank ones are skipped */
  size_t count;
} tusk_calibration_text_t;

/* Measures which experts each language pair uses and stores the table in the model file at
 * path: the model translates each text's sentences one at a time (greedy, the interactive
 * case; over-long sentences are truncated) and counts how often each expert runs. Replaces
 * any table the file had; the file is rewritten to a temporary file, verified and renamed
 * into place, so on any failure it is untouched (a tusk_model_t open on it keeps the old
 * contents). options (may be NULL): TUSK_OPT_THREADS. With usage_out non-NULL the table is
 * also written there as text (tab-separated, one line per pair; see
 * tusk_model_import_expert_usage). progress (may be NULL) sees sentences done of all texts;
 * returning non-zero cancels with TUSK_ERROR_CANCELLED. Errors: an unknown language code, a
 * sentence that is not UTF-8 (the message names the text and line). Thread-safe. */
TUSK_API tusk_status_t tusk_model_calibrate(const char *path, const tusk_calibration_text_t *texts,
                                            size_t count, const tusk_options_t *options,
                                            const char *usage_out,
                                            tusk_progress_callback progress, void *user_data);

/* Replaces the expert usage table of the model at path with the text table at table_path (as
 * tusk_model_calibrate's usage_out writes it), the same way tusk_model_calibrate stores one:
 * a calibration measured once can be embedded again without translating. The table must name
 * the model's languages and have one count per expert of the model
 * (TUSK_ERROR_INVALID_ARGUMENT naming the line otherwise). Thread-safe. */
TUSK_API tusk_status_t tusk_model_import_expert_usage(const char *path, const char *table_path);

/* ---- translation ---------------------------------------------------------------------- */

typedef struct tusk_translator_t tusk_translator_t;
typedef struct tusk_result_t tusk_result_t;

/* Creates a translator for model with options (may be NULL): threads, beam size, lengths,
 * batching, expert budget, device. The model must outlive it. TUSK_ERROR_INVALID_ARGUMENT if
 * TUSK_OPT_EXPERT_BUDGET_BYTES is non-zero and below the model's largest expert (the message
 * gives the minimum in bytes). With TUSK_DEVICE_CUDA, libtusk_cuda.so is looked for in
 * $TUSK_CUDA_LIBRARY (a path), beside libtusk.so, then on the library search path;
 * TUSK_ERROR_UNSUPPORTED, with the reason in tusk_last_error(), when it is missing or from
 * another build, when there is no NVIDIA driver or GPU, or when the GPU's architecture has no
 * code in this build; TUSK_ERROR_INVALID_ARGUMENT for a TUSK_OPT_DEVICE_INDEX the machine
 * does not have. Thread-safe. */
TUSK_API tusk_status_t tusk_translator_create(tusk_model_t *model, const tusk_options_t *options,
                                              tusk_translator_t **out);
/* Accepts NULL. */
TUSK_API void tusk_translator_destroy(tusk_translator_t *translator);

/* Translates count UTF-8 sentences from src to tgt (language codes such as "en", see
 * tusk_model_language). Sentences are batched by length internally; results keep input order.
 * An empty sentence translates to an empty string. count must be at least 1.
 * Errors: TUSK_ERROR_UNKNOWN_LANGUAGE, TUSK_ERROR_INVALID_ARGUMENT (NULL text, invalid
 * UTF-8), TUSK_ERROR_INPUT_TOO_LONG (unless TUSK_OPT_TRUNCATE_INPUT). All or nothing: on
 * error no result is returned, unless TUSK_OPT_PER_SENTENCE_ERRORS gives each sentence its
 * own status instead. TUSK_ERROR_CANCELLED after tusk_translator_cancel. Runaway guards apply
 * (TUSK_OPT_MAX_LENGTH_RATIO, TUSK_OPT_NO_REPEAT_NGRAM_SIZE). Concurrent calls on one
 * translator are serialised. */
TUSK_API tusk_status_t tusk_translate(tusk_translator_t *translator, const char *src,
                                      const char *tgt, const char *const *texts, size_t count,
                                      tusk_result_t **out);

/* Text mode: translates count UTF-8 texts (paragraphs, documents: any length, any number of
 * lines). Each text is split into sentences inside the library by the source language's
 * rules (line breaks; . ! ? … and other scripts' stops before a word not in lower case, or
 * 。！？ anywhere; not after the language's abbreviations, initials, ordinals such as "1." in
 * German and Czech, or inside numbers and URLs), all sentences are translated as one batch,
 * and each text comes back with its original whitespace, line breaks and paragraph breaks
 * between the translated sentences. A sentence longer than the model takes is cut at word
 * boundaries into pieces translated one by one, never dropped: tusk_result_truncated(res, i)
 * is then 1. tusk_result_text(res, i) is text i translated; its tokens and log-probabilities
 * are its sentences' one after another (each starting with the target language code), its
 * score their sum. A blank text gives back its whitespace. Errors as tusk_translate's, except
 * that no input is too long. Since 0.3. */
TUSK_API tusk_status_t tusk_translate_text(tusk_translator_t *translator, const char *src,
                                           const char *tgt, const char *const *texts, size_t count,
                                           tusk_result_t **out);

/* tusk_translate with a forced beginning per sentence: translation i starts with
 * target_prefixes[i] (UTF-8 text in the target language, tokenized as the model does; NULL or
 * "" for none), whose tokens and log-probabilities are part of the result. Since 0.3. */
TUSK_API tusk_status_t tusk_translate_prefixed(tusk_translator_t *translator, const char *src,
                                               const char *tgt, const char *const *texts,
                                               const char *const *target_prefixes, size_t count,
                                               tusk_result_t **out);

/* Streaming: what tusk_translate_stream's callback receives for each token chosen. */
typedef struct tusk_token_event_t {
  size_t struct_size;  /* sizeof(tusk_token_event_t) of the library: fields only ever grow */
  size_t input;        /* which of the call's texts */
  size_t sentence;     /* which sentence of that text (text mode; 0 for sentences) */
  int32_t token;       /* the chosen token's id (the end mark too) */
  float logprob;       /* its log-probability */
  const char *text;    /* that sentence's translation so far (UTF-8; valid during the call) */
  int32_t finished;    /* 1 on the sentence's last token */
} tusk_token_event_t;

/* Returns 0 to go on, non-zero to cancel the call. Runs on the translating thread. */
typedef int32_t (*tusk_token_callback)(const tusk_token_event_t *event, void *user_data);

/* tusk_translate (text_mode 0) or tusk_translate_text (text_mode 1) that reports tokens as
 * they are chosen: greedy search after every decoding step, for every sentence that got one;
 * beam search a sentence's tokens once its search ends (its hypotheses compete until then).
 * A callback returning non-zero cancels: the call fails with TUSK_ERROR_CANCELLED within one
 * decoding step and returns no result (*out untouched). Sentences of one call are batched,
 * so events of different sentences interleave. Since 0.3. */
TUSK_API tusk_status_t tusk_translate_stream(tusk_translator_t *translator, const char *src,
                                             const char *tgt, const char *const *texts, size_t count,
                                             int32_t text_mode, tusk_token_callback callback,
                                             void *user_data, tusk_result_t **out);

/* Continuous batching: one request of tusk_translate_continuous, filled by its pull callback.
 * The strings need to live only until the callback returns (the library copies them). */
typedef struct tusk_request_t {
  size_t struct_size;        /* set by the library: sizeof(tusk_request_t) of the library */
  uint64_t id;               /* yours, handed back with the request's result */
  const char *src, *tgt;     /* the request's language pair (pairs may mix in one call) */
  const char *const *texts;  /* count texts, translated in text mode */
  size_t count;
} tusk_request_t;

/* Asked for the next request whenever the translator has room for more sentences: fill
 * *request and return 1, or return 0 when none is ready (do not block then). idle != 0:
 * nothing is in flight, so the callback may block until a request comes; returning 0 then
 * ends tusk_translate_continuous. Runs on the translating thread. */
typedef int32_t (*tusk_pull_callback)(void *user_data, int32_t idle, tusk_request_t *request);

/* Called once for every request pulled, on the translating thread: status TUSK_OK with its
 * result (one per text, as tusk_translate_text gives them; yours to tusk_result_free), or the
 * status and message that failed the request as a whole (unknown language, no texts, an
 * error of the call) with result NULL. */
typedef void (*tusk_deliver_callback)(void *user_data, uint64_t id, tusk_status_t status, const char *error,
                                      tusk_result_t *result);

/* Continuous batching, for servers: translates requests as they arrive, each sentence joining
 * the running decode at the next step and leaving it when it finishes, so the batch stays as
 * full as the work allows instead of draining to its longest sentence, and each request is
 * delivered as soon as its own texts are done. Results are tusk_translate_text's for the
 * same texts up to rounding (the same tokens but at near-ties, as between two batch
 * compositions). At most TUSK_OPT_MAX_BATCH_SIZE sentences and TUSK_OPT_MAX_BATCH_TOKENS
 * source tokens are in flight (one sentence always). Greedy search only:
 * TUSK_ERROR_INVALID_ARGUMENT when TUSK_OPT_BEAM_SIZE is above 1. Per-text errors follow
 * TUSK_OPT_PER_SENTENCE_ERRORS (off: a bad text fails its request). Returns TUSK_OK once
 * pull, idle, returns 0; on an error (tusk_translator_cancel included: seen at the next
 * decoding step, so after an idle pull returns) every request in flight is delivered that
 * error first, then the call returns it. The call holds the translator throughout, idle waits
 * included: other calls on it wait (use one translator per such loop). The callbacks must
 * not throw (C++) and must not call into the same translator. Since 0.3. */
TUSK_API tusk_status_t tusk_translate_continuous(tusk_translator_t *translator, tusk_pull_callback pull,
                                                 tusk_deliver_callback deliver, void *user_data);

/* Cancels the calls running or waiting on translator at this moment, from any thread: they
 * fail with TUSK_ERROR_CANCELLED within one decoding step and return no result. Calls made
 * afterwards run normally. Thread-safe. Since 0.3. */
TUSK_API tusk_status_t tusk_translator_cancel(tusk_translator_t *translator);

/* Expert cache counters of a translator since it was created. Grows only at the end: fields
 * are 8 bytes each, without padding. Set struct_size = sizeof(tusk_stats_t) before the call;
 * the library writes only the whole fields that lie within both your struct_size and its own
 * struct, and sets struct_size to the bytes it wrote, so older and newer callers both work. */
typedef struct tusk_stats_t {
  uint64_t struct_size;
  uint64_t hits;             /* expert acquisitions served from the cache */
  uint64_t misses;           /* acquisitions that had to load the expert from the file */
  uint64_t evictions;        /* experts dropped to make room */
  uint64_t bytes_loaded;     /* decoded expert bytes loaded */
  uint64_t prefetch_issued;  /* experts the prefetch thread loaded (TUSK_OPT_EXPERT_PREFETCH) */
  uint64_t prefetch_used;    /* of those, acquired before eviction; prefetch precision =
                                prefetch_used / prefetch_issued, recall (needed loads that
                                prefetch did) = prefetch_used / (prefetch_used + misses) */
  uint64_t peak_cache_bytes; /* most decoded expert bytes held at once */
  double stall_ms;           /* milliseconds translation waited for experts to load */
  uint64_t warm_start_loaded; /* experts loaded by tusk_translator_warm_start */
} tusk_stats_t;

/* Warm start for a language pair: with an expert budget (TUSK_OPT_EXPERT_BUDGET_BYTES) and a
 * calibrated model (tusk_model_calibrate), loads the pair's most used experts that fit half
 * the budget now, so the first sentences do not wait for them. *experts_loaded (may be NULL)
 * receives how many were loaded: 0 without a budget, for a pair the model has no usage for,
 * or when they are in already; none of these is an error. TUSK_ERROR_UNKNOWN_LANGUAGE for a
 * code the model lacks. Never changes a translation. Serialised with tusk_translate. */
TUSK_API tusk_status_t tusk_translator_warm_start(tusk_translator_t *translator, const char *src,
                                                  const char *tgt, uint64_t *experts_loaded);

/* Fills out (see tusk_stats_t). Without an expert budget nothing is paged: the counters are 0
 * and peak_cache_bytes is the model's total expert bytes. TUSK_ERROR_INVALID_ARGUMENT for NULL
 * pointers or a struct_size below 16. Thread-safe: may be called while another thread
 * translates with the translator (it then sees the counters of a moment in that call). */
TUSK_API tusk_status_t tusk_translator_stats(const tusk_translator_t *translator,
                                             tusk_stats_t *out);

/* Number of sentences in a result. */
TUSK_API size_t tusk_result_count(const tusk_result_t *result);
/* Translation i as UTF-8 (NULL if i is out of range). Belongs to the result. */
TUSK_API const char *tusk_result_text(const tusk_result_t *result, size_t i);
/* Sum of the log-probabilities of the tokens of translation i, end-of-sentence included. */
TUSK_API double tusk_result_score(const tusk_result_t *result, size_t i);
/* Output token ids of translation i (target-language code first, then the generated tokens,
 * end-of-sentence last unless decoding stopped at the maximum length; none for a blank
 * sentence) and the log-probability of each generated token (one fewer: the language code is
 * forced).
 * Pointers belong to the result; NULL/0 if i is out of range. */
TUSK_API size_t tusk_result_tokens(const tusk_result_t *result, size_t i, const int32_t **ids);
TUSK_API size_t tusk_result_token_logprobs(const tusk_result_t *result, size_t i,
                                           const float **logprobs);
/* 1 if sentence i was cut to the model limit (TUSK_OPT_TRUNCATE_INPUT), else 0. */
TUSK_API int32_t tusk_result_truncated(const tusk_result_t *result, size_t i);

/* With TUSK_OPT_PER_SENTENCE_ERRORS: input i's own status (TUSK_OK when it was translated)
 * and message ("" when OK); its text is then empty. TUSK_ERROR_INVALID_ARGUMENT and NULL out
 * of range. Since 0.3. */
TUSK_API tusk_status_t tusk_result_status(const tusk_result_t *result, size_t i);
TUSK_API const char *tusk_result_error(const tusk_result_t *result, size_t i);

/* N-best (TUSK_OPT_NUM_HYPOTHESES): input i's hypotheses, best first (by the beam's score,
 * length penalty included); hypothesis 0 is what tusk_result_text and friends give. Count 0
 * for an input that failed alone (TUSK_OPT_PER_SENTENCE_ERRORS) or out of range. Text, NULL
 * out of range; score: the sum of its tokens' log-probabilities, NAN out of range; tokens as
 * tusk_result_tokens. Since 0.3. */
TUSK_API size_t tusk_result_hypothesis_count(const tusk_result_t *result, size_t i);
TUSK_API const char *tusk_result_hypothesis_text(const tusk_result_t *result, size_t i, size_t h);
TUSK_API double tusk_result_hypothesis_score(const tusk_result_t *result, size_t i, size_t h);
TUSK_API size_t tusk_result_hypothesis_tokens(const tusk_result_t *result, size_t i, size_t h,
                                              const int32_t **ids);
/* Accepts NULL. */
TUSK_API void tusk_result_free(tusk_result_t *result);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* TUSK_TUSK_H */
