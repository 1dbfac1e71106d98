package tusk;

import com.sun.jna.Callback;
import com.sun.jna.Library;
import com.sun.jna.Pointer;
import com.sun.jna.Structure;
import com.sun.jna.ptr.IntByReference;
import com.sun.jna.ptr.LongByReference;
import com.sun.jna.ptr.PointerByReference;
import java.util.Map;

/**
 * JNA declarations of tusk.h (internal to the binding). Strings cross as UTF-8. {@link
 * LibraryLocator} says where the library is found.
 */
interface TuskLibrary extends Library {
  TuskLibrary INSTANCE =
      LibraryLocator.load(TuskLibrary.class, Map.of(Library.OPTION_STRING_ENCODING, "UTF-8"));

  int OPT_THREADS = 1, OPT_BEAM_SIZE = 2, OPT_MAX_DECODING_LENGTH = 3, OPT_MAX_BATCH_SIZE = 4,
      OPT_MAX_BATCH_TOKENS = 5, OPT_TRUNCATE_INPUT = 6, OPT_VERIFY_CHECKSUMS = 7,
      OPT_EXPERT_BUDGET_BYTES = 8, OPT_DEVICE = 9, OPT_EXPERT_EVICTION = 14,
      OPT_EXPERT_PREFETCH = 15, OPT_EXPERT_DIRECT_IO = 16, OPT_MIN_DECODING_LENGTH = 17,
      OPT_INT8_ACTIVATIONS = 18,
      OPT_DEVICE_INDEX = 19,
      OPT_COMPUTE_TYPE = 20,
      OPT_DEVICE_EXPERT_BUDGET_BYTES = 21,
      OPT_NO_REPEAT_NGRAM_SIZE = 22,
      OPT_MAX_LENGTH_OFFSET = 23,
      OPT_PER_SENTENCE_ERRORS = 24,
      OPT_NUM_HYPOTHESES = 25,
      OPT_MAP_MODEL = 26,
      OPT_LENGTH_PENALTY = 100,
      OPT_MAX_LENGTH_RATIO = 101,
      OPT_REPETITION_PENALTY = 102;

  /** tusk_stats_t: 8-byte fields, grows only at the end. */
  @Structure.FieldOrder({"struct_size", "hits", "misses", "evictions", "bytes_loaded",
      "prefetch_issued", "prefetch_used", "peak_cache_bytes", "stall_ms", "warm_start_loaded"})
  class Stats extends Structure {
    public long struct_size, hits, misses, evictions, bytes_loaded, prefetch_issued, prefetch_used,
        peak_cache_bytes;
    public double stall_ms;
    public long warm_start_loaded;
  }

  /** tusk_token_event_t (size_t fields: 64 bits where Tusk builds). */
  @Structure.FieldOrder({"struct_size", "input", "sentence", "token", "logprob", "text", "finished"})
  class TokenEventStruct extends Structure {
    public long struct_size, input, sentence;
    public int token;
    public float logprob;
    public Pointer text;
    public int finished;

    public TokenEventStruct(Pointer p) {
      super(p);
      read();
    }
  }

  interface TokenCallback extends Callback {
    int invoke(Pointer event, Pointer user);
  }

  String tusk_last_error();
  String tusk_status_name(int status);
  String tusk_version();

  int tusk_options_create(PointerByReference out);
  void tusk_options_destroy(Pointer options);
  int tusk_options_set_int(Pointer options, int key, long value);
  int tusk_options_set_float(Pointer options, int key, double value);

  int tusk_model_open(String path, Pointer options, PointerByReference out);
  void tusk_model_close(Pointer model);
  int tusk_model_describe(Pointer model, PointerByReference out);
  int tusk_model_expert_bytes(Pointer model, LongByReference total, LongByReference largest);
  int tusk_model_language_count(Pointer model, IntByReference out);
  int tusk_model_language(Pointer model, int index, PointerByReference out);
  int tusk_model_language_token(Pointer model, int index, PointerByReference out);

  int tusk_translator_create(Pointer model, Pointer options, PointerByReference out);
  void tusk_translator_destroy(Pointer translator);
  int tusk_translate(Pointer translator, String src, String tgt, String[] texts, long count,
      PointerByReference out);
  int tusk_translate_text(Pointer translator, String src, String tgt, String[] texts, long count,
      PointerByReference out);
  int tusk_translate_stream(Pointer translator, String src, String tgt, String[] texts, long count,
      int textMode, TokenCallback callback, Pointer user, PointerByReference out);
  int tusk_translator_cancel(Pointer translator);
  int tusk_translator_warm_start(Pointer translator, String src, String tgt, LongByReference loaded);
  int tusk_translator_stats(Pointer translator, Stats out);

  long tusk_result_count(Pointer result);
  Pointer tusk_result_text(Pointer result, long i);
  double tusk_result_score(Pointer result, long i);
  int tusk_result_status(Pointer result, long i);
  String tusk_result_error(Pointer result, long i);
  long tusk_result_hypothesis_count(Pointer result, long i);
  Pointer tusk_result_hypothesis_text(Pointer result, long i, long h);
  double tusk_result_hypothesis_score(Pointer result, long i, long h);
  int tusk_translate_prefixed(Pointer translator, String src, String tgt, String[] texts, String[] prefixes,
      long count, PointerByReference out);
  int tusk_result_truncated(Pointer result, long i);
  void tusk_result_free(Pointer result);
}
