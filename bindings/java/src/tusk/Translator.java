package tusk;

import com.sun.jna.Pointer;
import com.sun.jna.ptr.LongByReference;
import com.sun.jna.ptr.PointerByReference;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Translates with a model. Thread-safe: concurrent translate calls on one translator are
 * serialised by the library; several translators may share one model.
 *
 * <pre>
 * try (Model model = new Model("models/multi30k-moe.tusk");
 *      Translator tr = new Translator(model, new Translator.Settings().beamSize(4))) {
 *   List&lt;String&gt; out = tr.translate(List.of("A man rides a bike."), "en", "de");
 * }
 * </pre>
 */
public final class Translator extends Handle {
  /** Translator options, named as in tusk.h (TUSK_OPT_BEAM_SIZE: beamSize). Unset = default. */
  public static final class Settings {
    private final Map<Integer, Number> values = new HashMap<>();

    private Settings put(int key, Number v) { values.put(key, v); return this; }

    public Settings threads(int n) { return put(TuskLibrary.OPT_THREADS, n); }
    public Settings beamSize(int n) { return put(TuskLibrary.OPT_BEAM_SIZE, n); }
    public Settings maxDecodingLength(int n) { return put(TuskLibrary.OPT_MAX_DECODING_LENGTH, n); }
    public Settings minDecodingLength(int n) { return put(TuskLibrary.OPT_MIN_DECODING_LENGTH, n); }
    /** An approximation, off by default: 8-bit activations in int8-weight products (tusk.h). */
    public Settings int8Activations(boolean on) { return put(TuskLibrary.OPT_INT8_ACTIVATIONS, on ? 1 : 0); }
    public Settings maxBatchSize(int n) { return put(TuskLibrary.OPT_MAX_BATCH_SIZE, n); }
    public Settings maxBatchTokens(int n) { return put(TuskLibrary.OPT_MAX_BATCH_TOKENS, n); }
    public Settings truncateInput(boolean on) { return put(TuskLibrary.OPT_TRUNCATE_INPUT, on ? 1 : 0); }
    public Settings lengthPenalty(double p) { return put(TuskLibrary.OPT_LENGTH_PENALTY, p); }
    /** Runaway guards (tusk.h): at most offset + ratio * source tokens; no n-gram twice; a penalty. */
    public Settings maxLengthRatio(double r) { return put(TuskLibrary.OPT_MAX_LENGTH_RATIO, r); }
    public Settings maxLengthOffset(int n) { return put(TuskLibrary.OPT_MAX_LENGTH_OFFSET, n); }
    public Settings noRepeatNgramSize(int n) { return put(TuskLibrary.OPT_NO_REPEAT_NGRAM_SIZE, n); }
    public Settings repetitionPenalty(double p) { return put(TuskLibrary.OPT_REPETITION_PENALTY, p); }
    /** 1: an input that cannot be translated gets its own error ({@link Translation#error}). */
    public Settings perSentenceErrors(boolean on) { return put(TuskLibrary.OPT_PER_SENTENCE_ERRORS, on ? 1 : 0); }
    /** Hypotheses per sentence ({@link Translation#hypotheses}), at most the beam size. */
    public Settings numHypotheses(int n) { return put(TuskLibrary.OPT_NUM_HYPOTHESES, n); }
    public Settings deviceExpertBudgetBytes(long bytes) { return put(TuskLibrary.OPT_DEVICE_EXPERT_BUDGET_BYTES, bytes); }
    public Settings expertBudgetBytes(long bytes) { return put(TuskLibrary.OPT_EXPERT_BUDGET_BYTES, bytes); }
    /** "lru", "layer-distance" or "none". */
    public Settings expertEviction(String policy) {
      int v = switch (policy) {
        case "lru" -> 0;
        case "layer-distance" -> 1;
        case "none" -> 2;
        default -> throw new IllegalArgumentException("expertEviction: lru, layer-distance or none, not " + policy);
      };
      return put(TuskLibrary.OPT_EXPERT_EVICTION, v);
    }
    public Settings expertPrefetch(boolean on) { return put(TuskLibrary.OPT_EXPERT_PREFETCH, on ? 1 : 0); }
    public Settings expertDirectIo(boolean on) { return put(TuskLibrary.OPT_EXPERT_DIRECT_IO, on ? 1 : 0); }
    /** "cpu", "cuda" or "cuda:N" (GPU N, the CUDA runtime's ordinal). */
    public Settings device(String device) {
      if (device.equals("cpu")) return put(TuskLibrary.OPT_DEVICE, 0);
      if (device.equals("cuda")) return put(TuskLibrary.OPT_DEVICE, 1);
      if (device.matches("cuda:[0-9]{1,4}"))
        return put(TuskLibrary.OPT_DEVICE, 1).put(TuskLibrary.OPT_DEVICE_INDEX, Integer.parseInt(device.substring(5)));
      throw new IllegalArgumentException("device: cpu, cuda or cuda:N, not " + device);
    }
    /** "fp32" (default), "fp16" or "bf16" (GPU only): the arithmetic of batched products. */
    public Settings computeType(String type) {
      int v = switch (type) {
        case "fp32" -> 0;
        case "fp16" -> 1;
        case "bf16" -> 2;
        default -> throw new IllegalArgumentException("computeType: fp32, fp16 or bf16, not " + type);
      };
      return put(TuskLibrary.OPT_COMPUTE_TYPE, v);
    }
  }

  private final Model model;

  public Translator(Model model) { this(model, new Settings()); }

  public Translator(Model model, Settings settings) {
    super("translator");
    this.model = model;
    try (Options o = new Options()) {
      for (Map.Entry<Integer, Number> e : settings.values.entrySet()) {
        if (e.getValue() instanceof Double) o.set(e.getKey(), e.getValue().doubleValue());
        else o.set(e.getKey(), e.getValue().longValue());
      }
      PointerByReference out = new PointerByReference();
      model.with(m -> {
        TuskException.check(TuskLibrary.INSTANCE.tusk_translator_create(m, o.pointer(), out));
        model.attach(+1);  // under the model's read lock: a racing close sees it
        return null;
      });
      adopt(out.getValue());
    }
  }

  /** Translates sentences from src to tgt (language codes such as "en"), keeping their order. */
  public List<String> translate(List<String> texts, String src, String tgt) {
    return translate(texts, src, tgt, false);
  }

  /**
   * Translates texts (paragraphs, documents of any length): the library splits them into
   * sentences and puts each text back with its spacing and line breaks (tusk_translate_text).
   */
  public List<String> translateText(List<String> texts, String src, String tgt) {
    return translate(texts, src, tgt, true);
  }

  public String translateText(String text, String src, String tgt) {
    return translateText(List.of(text), src, tgt).get(0);
  }

  /** A token chosen while {@link #translateStream} runs. */
  public static final class TokenEvent {
    /** Which text of the call, which sentence of it (text mode; else 0). */
    public final long input, sentence;
    public final int token;
    public final float logprob;
    /** That sentence's translation so far. */
    public final String text;
    /** True on the sentence's last token. */
    public final boolean finished;

    TokenEvent(long input, long sentence, int token, float logprob, String text, boolean finished) {
      this.input = input;
      this.sentence = sentence;
      this.token = token;
      this.logprob = logprob;
      this.text = text;
      this.finished = finished;
    }
  }

  /** Receives the tokens of {@link #translateStream}; returning false cancels the call. */
  public interface TokenListener {
    boolean onToken(TokenEvent event);
  }

  /**
   * {@link #translate} (or {@link #translateText} with textMode) that calls the listener as
   * tokens are chosen: greedy search every step, beam search a sentence's tokens when its
   * search ends. A listener returning false cancels (TuskException TUSK_ERROR_CANCELLED); one
   * that throws cancels, and its exception comes back from here.
   */
  public List<String> translateStream(List<String> texts, String src, String tgt, boolean textMode,
      TokenListener listener) {
    if (listener == null) throw new IllegalArgumentException("listener must not be null");
    RuntimeException[] thrown = {null};
    TuskLibrary.TokenCallback callback = (event, user) -> {
      try {
        TuskLibrary.TokenEventStruct e = new TuskLibrary.TokenEventStruct(event);
        return listener.onToken(new TokenEvent(e.input, e.sentence, e.token, e.logprob,
            e.text.getString(0, "UTF-8"), e.finished != 0)) ? 0 : 1;
      } catch (RuntimeException ex) {
        thrown[0] = ex;
        return 1;
      }
    };
    try {
      return translate(texts, src, tgt, (t, array, res) -> TuskLibrary.INSTANCE.tusk_translate_stream(
          t, src, tgt, array, array.length, textMode ? 1 : 0, callback, null, res));
    } catch (TuskException e) {
      if (thrown[0] != null) throw thrown[0];
      throw e;
    }
  }

  /** Cancels the calls running or waiting on this translator, from any thread; later calls run. */
  public void cancel() {
    with(t -> {
      TuskException.check(TuskLibrary.INSTANCE.tusk_translator_cancel(t));
      return null;
    });
  }

  private interface Call {
    int run(Pointer translator, String[] texts, PointerByReference out);
  }

  private List<String> translate(List<String> texts, String src, String tgt, boolean textMode) {
    return translate(texts, src, tgt, (t, array, res) -> textMode
        ? TuskLibrary.INSTANCE.tusk_translate_text(t, src, tgt, array, array.length, res)
        : TuskLibrary.INSTANCE.tusk_translate(t, src, tgt, array, array.length, res));
  }

  /** One input's translation with its score, hypotheses and error. */
  public static final class Translation {
    public final String text;
    /** The sum of its tokens' log-probabilities. */
    public final double score;
    /** With perSentenceErrors: the status name and message of an input that failed alone, else null. */
    public final String error;
    /** The best hypotheses' texts and scores, best first (numHypotheses). */
    public final List<String> hypotheses;
    public final List<Double> hypothesisScores;

    Translation(String text, double score, String error, List<String> hypotheses, List<Double> scores) {
      this.text = text;
      this.score = score;
      this.error = error;
      this.hypotheses = hypotheses;
      this.hypothesisScores = scores;
    }
  }

  /**
   * Like translate, returning {@link Translation}s; targetPrefixes (null for none, or one per
   * text, "" or null for none) are what each translation must begin with.
   */
  public List<Translation> translateDetailed(List<String> texts, String src, String tgt, List<String> targetPrefixes) {
    if (targetPrefixes == null)
      return translateDetailed(texts, src, tgt, (t, array, res) -> TuskLibrary.INSTANCE.tusk_translate(
          t, src, tgt, array, array.length, res));
    if (targetPrefixes.size() != texts.size())
      throw new IllegalArgumentException(targetPrefixes.size() + " target prefixes for " + texts.size() + " texts");
    String[] prefixes = targetPrefixes.stream().map(p -> p == null ? "" : p).toArray(String[]::new);
    return translateDetailed(texts, src, tgt, (t, array, res) -> TuskLibrary.INSTANCE.tusk_translate_prefixed(
        t, src, tgt, array, prefixes, array.length, res));
  }

  private List<String> translate(List<String> texts, String src, String tgt, Call call) {
    List<String> out = new ArrayList<>();
    for (Translation t : translateDetailed(texts, src, tgt, call)) out.add(t.text);
    return out;
  }

  private List<Translation> translateDetailed(List<String> texts, String src, String tgt, Call call) {
    List<Translation> out = new ArrayList<>();
    if (texts.isEmpty()) return out;
    for (String t : texts) if (t == null) throw new IllegalArgumentException("a text is null");
    if (src == null || tgt == null) throw new IllegalArgumentException("src and tgt must not be null");
    PointerByReference res = new PointerByReference();
    with(t -> {
      TuskException.check(call.run(t, texts.toArray(new String[0]), res));
      return null;
    });
    Pointer r = res.getValue();
    TuskLibrary lib = TuskLibrary.INSTANCE;
    try {
      long n = lib.tusk_result_count(r);
      for (long i = 0; i < n; ++i) {
        int status = lib.tusk_result_status(r, i);
        String error = status == 0 ? null : lib.tusk_status_name(status) + ": " + lib.tusk_result_error(r, i);
        List<String> hyps = new ArrayList<>();
        List<Double> scores = new ArrayList<>();
        for (long h = 0; h < lib.tusk_result_hypothesis_count(r, i); ++h) {
          hyps.add(lib.tusk_result_hypothesis_text(r, i, h).getString(0, "UTF-8"));
          scores.add(lib.tusk_result_hypothesis_score(r, i, h));
        }
        out.add(new Translation(lib.tusk_result_text(r, i).getString(0, "UTF-8"), lib.tusk_result_score(r, i), error,
            hyps, scores));
      }
    } finally {
      TuskLibrary.INSTANCE.tusk_result_free(r);
    }
    return out;
  }

  public String translate(String text, String src, String tgt) {
    return translate(List.of(text), src, tgt).get(0);
  }

  /** Preloads the pair's most used experts (with an expert budget); returns how many. */
  public long warmStart(String src, String tgt) {
    return with(t -> {
      LongByReference loaded = new LongByReference();
      TuskException.check(TuskLibrary.INSTANCE.tusk_translator_warm_start(t, src, tgt, loaded));
      return loaded.getValue();
    });
  }

  /** Expert cache counters: hits, misses, evictions, bytes_loaded, ... (tusk_stats_t). */
  public Map<String, Number> stats() {
    TuskLibrary.Stats s = new TuskLibrary.Stats();
    s.struct_size = s.size();
    with(t -> { TuskException.check(TuskLibrary.INSTANCE.tusk_translator_stats(t, s)); return null; });
    s.read();
    Map<String, Number> m = new HashMap<>();
    m.put("hits", s.hits);
    m.put("misses", s.misses);
    m.put("evictions", s.evictions);
    m.put("bytes_loaded", s.bytes_loaded);
    m.put("prefetch_issued", s.prefetch_issued);
    m.put("prefetch_used", s.prefetch_used);
    m.put("peak_cache_bytes", s.peak_cache_bytes);
    m.put("stall_ms", s.stall_ms);
    m.put("warm_start_loaded", s.warm_start_loaded);
    return m;
  }

  @Override
  public void close() {
    Pointer p = release();
    if (p != null) {
      TuskLibrary.INSTANCE.tusk_translator_destroy(p);
      model.attach(-1);
    }
  }
}
