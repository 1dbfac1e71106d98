// Tusk for C#: P/Invoke over the C ABI (tusk.h). cdecl, UTF-8 strings marshalled by hand (no
// reliance on a runtime's LPUTF8Str support), int32 instead of bool, one SafeHandle subclass per
// handle type. libtusk.so is found by the runtime's usual search (LD_LIBRARY_PATH with Mono).
using System;
using System.Collections.Generic;
using System.Runtime.InteropServices;
using System.Text;
using Microsoft.Win32.SafeHandles;

namespace Tusk {

/// <summary>The outcome of a Tusk call: tusk_status_t, the C enum's values (TUSK_OK = 0,
/// TUSK_ERROR_IO = 2, ...). <see cref="TuskException.Status"/> carries it.</summary>
public enum Status {
  /// <summary>Success (TUSK_OK).</summary>
  Ok = 0,
  /// <summary>A bad argument: NULL handle, bad option value, invalid UTF-8, ...</summary>
  InvalidArgument = 1,
  /// <summary>A file could not be opened, read, mapped or written.</summary>
  Io = 2,
  /// <summary>Not a .tusk file, truncated, corrupt, or unsupported.</summary>
  InvalidModel = 3,
  /// <summary>A valid request this build or model cannot serve (e.g. no usable CUDA backend, fp16
  /// on the CPU).</summary>
  Unsupported = 4,
  /// <summary>A language code that is not in the model's language table.</summary>
  UnknownLanguage = 5,
  /// <summary>A sentence exceeds the model's maximum positions (without
  /// <see cref="TranslatorOptions.TruncateInput"/>).</summary>
  InputTooLong = 6,
  /// <summary>Out of memory.</summary>
  OutOfMemory = 7,
  /// <summary>Cancelled: a token callback asked to stop, or <see cref="Translator.Cancel"/>.</summary>
  Cancelled = 8,
  /// <summary>A bug in Tusk: please report it with the message.</summary>
  Internal = 9
}

/// <summary>A Tusk call failed: its status and the library's message (tusk_last_error; for
/// <see cref="Translation.Error"/>, tusk_result_error). Message is "Status: message".</summary>
public class TuskException : Exception {
  /// <summary>The tusk_status_t the call (or, in <see cref="Translation.Error"/>, the input)
  /// failed with.</summary>
  public Status Status { get; }
  /// <summary>An exception for status; its Message is status's name, ": " and message.</summary>
  /// <param name="status">The failure's status.</param>
  /// <param name="message">The library's description of the failure.</param>
  public TuskException(Status status, string message) : base(status + ": " + message) { Status = status; }

  internal static void Check(int status) {
    if (status != 0) throw new TuskException((Status)status, Utf8.FromNative(Native.tusk_last_error()));
  }
}

internal static class Utf8 {
  public static byte[] ToNative(string s, string what) {
    if (s == null) throw new ArgumentNullException(what);
    byte[] bytes = Encoding.UTF8.GetBytes(s);
    Array.Resize(ref bytes, bytes.Length + 1);  // the terminating NUL
    return bytes;
  }

  public static string FromNative(IntPtr p) {
    if (p == IntPtr.Zero) return null;
    int n = 0;
    while (Marshal.ReadByte(p, n) != 0) ++n;
    byte[] bytes = new byte[n];
    Marshal.Copy(p, bytes, 0, n);
    return Encoding.UTF8.GetString(bytes);
  }
}

internal sealed class OptionsHandle : SafeHandleZeroOrMinusOneIsInvalid {
  public OptionsHandle() : base(true) {}
  protected override bool ReleaseHandle() { Native.tusk_options_destroy(handle); return true; }
}

internal sealed class ModelHandle : SafeHandleZeroOrMinusOneIsInvalid {
  public ModelHandle() : base(true) {}
  protected override bool ReleaseHandle() { Native.tusk_model_close(handle); return true; }
}

internal sealed class TranslatorHandle : SafeHandleZeroOrMinusOneIsInvalid {
  public TranslatorHandle() : base(true) {}
  internal ModelHandle Model;  // held (AddRef) until this translator is released
  protected override bool ReleaseHandle() {
    Native.tusk_translator_destroy(handle);
    Model.DangerousRelease();  // translators before their model (tusk.h)
    return true;
  }
}

internal sealed class ResultHandle : SafeHandleZeroOrMinusOneIsInvalid {
  public ResultHandle() : base(true) {}
  protected override bool ReleaseHandle() { Native.tusk_result_free(handle); return true; }
}

[StructLayout(LayoutKind.Sequential)]
internal struct NativeStats {
  public ulong StructSize, Hits, Misses, Evictions, BytesLoaded, PrefetchIssued, PrefetchUsed, PeakCacheBytes;
  public double StallMs;
  public ulong WarmStartLoaded;
}

/// <summary>One input's translation with its score, hypotheses (best first) and, with
/// PerSentenceErrors, the error it got alone (else null).</summary>
public sealed class Translation {
  /// <summary>The translation (hypothesis 0); empty when <see cref="Error"/> is set.</summary>
  public string Text;
  /// <summary>Sum of the log-probabilities of the translation's tokens, end-of-sentence included.</summary>
  public double Score;
  /// <summary>With <see cref="TranslatorOptions.PerSentenceErrors"/>: the error this input got
  /// alone (invalid UTF-8, too long), not thrown; null when it was translated.</summary>
  public TuskException Error;
  /// <summary>The <see cref="TranslatorOptions.NumHypotheses"/> best translations, best first (by
  /// the beam's score, length penalty included); empty for an input that failed alone.</summary>
  public IList<string> Hypotheses;
  /// <summary>Each hypothesis's score (sum of its tokens' log-probabilities), in the order of
  /// <see cref="Hypotheses"/>.</summary>
  public IList<double> HypothesisScores;
}

/// <summary>A token chosen while Translator.TranslateStream runs.</summary>
public sealed class TokenEvent {
  /// <summary>Which text of the call (its index in texts).</summary>
  public ulong Input;
  /// <summary>Which sentence of that text (text mode; else 0).</summary>
  public ulong Sentence;
  /// <summary>The chosen token's id (the end-of-sentence mark too).</summary>
  public int Token;
  /// <summary>The chosen token's log-probability.</summary>
  public float Logprob;
  /// <summary>That sentence's translation so far.</summary>
  public string Text;
  /// <summary>True on the sentence's last token.</summary>
  public bool Finished;
}

[StructLayout(LayoutKind.Sequential)]
internal struct NativeTokenEvent {
  public UIntPtr StructSize, Input, Sentence;
  public int Token;
  public float Logprob;
  public IntPtr Text;
  public int Finished;
}

[UnmanagedFunctionPointer(CallingConvention.Cdecl)]
internal delegate int NativeTokenCallback(IntPtr tokenEvent, IntPtr user);

internal static class Native {
  const string Lib = "tusk";
  const CallingConvention C = CallingConvention.Cdecl;
  static volatile bool loaded;

  // Called before the first use of the library: a missing libtusk becomes an error that says how
  // Mono looks for it, instead of a bare DllNotFoundException("tusk").
  public static void EnsureLoaded() {
    if (loaded) return;
    try {
      tusk_version();
      loaded = true;
    } catch (DllNotFoundException e) {
      throw new DllNotFoundException(
          "libtusk could not be loaded. Mono maps \"tusk\" through Tusk.dll.config beside Tusk.dll " +
          "(cmake --install writes one naming the installed libtusk.so.0): keep that file beside Tusk.dll. " +
          "Without it Mono looks for libtusk.so (the development link) where the system finds libraries " +
          "(ldconfig, LD_LIBRARY_PATH). (" +
          e.Message + ")", e);
    }
  }

  [DllImport(Lib, CallingConvention = C)] public static extern IntPtr tusk_last_error();
  [DllImport(Lib, CallingConvention = C)] public static extern IntPtr tusk_version();
  [DllImport(Lib, CallingConvention = C)] public static extern int tusk_options_create(out OptionsHandle options);
  [DllImport(Lib, CallingConvention = C)] public static extern void tusk_options_destroy(IntPtr options);
  [DllImport(Lib, CallingConvention = C)] public static extern int tusk_options_set_int(OptionsHandle options, int key, long value);
  [DllImport(Lib, CallingConvention = C)] public static extern int tusk_options_set_float(OptionsHandle options, int key, double value);
  [DllImport(Lib, CallingConvention = C)] public static extern int tusk_model_open(byte[] path, OptionsHandle options, out ModelHandle model);
  [DllImport(Lib, CallingConvention = C)] public static extern void tusk_model_close(IntPtr model);
  [DllImport(Lib, CallingConvention = C)] public static extern int tusk_model_describe(ModelHandle model, out IntPtr text);
  [DllImport(Lib, CallingConvention = C)] public static extern int tusk_model_expert_bytes(ModelHandle model, out ulong total, out ulong largest);
  [DllImport(Lib, CallingConvention = C)] public static extern int tusk_model_language_count(ModelHandle model, out int count);
  [DllImport(Lib, CallingConvention = C)] public static extern int tusk_model_language(ModelHandle model, int index, out IntPtr code);
  [DllImport(Lib, CallingConvention = C)] public static extern int tusk_model_language_token(ModelHandle model, int index, out IntPtr token);
  [DllImport(Lib, CallingConvention = C)] public static extern int tusk_translator_create(ModelHandle model, OptionsHandle options, out TranslatorHandle translator);
  [DllImport(Lib, CallingConvention = C)] public static extern void tusk_translator_destroy(IntPtr translator);
  [DllImport(Lib, CallingConvention = C)] public static extern int tusk_translate(TranslatorHandle translator, byte[] src, byte[] tgt, IntPtr[] texts, UIntPtr count, out ResultHandle result);
  [DllImport(Lib, CallingConvention = C)] public static extern int tusk_translate_text(TranslatorHandle translator, byte[] src, byte[] tgt, IntPtr[] texts, UIntPtr count, out ResultHandle result);
  [DllImport(Lib, CallingConvention = C)] public static extern int tusk_translate_stream(TranslatorHandle translator, byte[] src, byte[] tgt, IntPtr[] texts, UIntPtr count, int textMode, NativeTokenCallback callback, IntPtr user, out ResultHandle result);
  [DllImport(Lib, CallingConvention = C)] public static extern int tusk_translator_cancel(TranslatorHandle translator);
  [DllImport(Lib, CallingConvention = C)] public static extern int tusk_translator_warm_start(TranslatorHandle translator, byte[] src, byte[] tgt, out ulong loaded);
  [DllImport(Lib, CallingConvention = C)] public static extern int tusk_translator_stats(TranslatorHandle translator, ref NativeStats stats);
  [DllImport(Lib, CallingConvention = C)] public static extern UIntPtr tusk_result_count(ResultHandle result);
  [DllImport(Lib, CallingConvention = C)] public static extern IntPtr tusk_result_text(ResultHandle result, UIntPtr i);
  [DllImport(Lib, CallingConvention = C)] public static extern double tusk_result_score(ResultHandle result, UIntPtr i);
  [DllImport(Lib, CallingConvention = C)] public static extern int tusk_result_status(ResultHandle result, UIntPtr i);
  [DllImport(Lib, CallingConvention = C)] public static extern IntPtr tusk_result_error(ResultHandle result, UIntPtr i);
  [DllImport(Lib, CallingConvention = C)] public static extern UIntPtr tusk_result_hypothesis_count(ResultHandle result, UIntPtr i);
  [DllImport(Lib, CallingConvention = C)] public static extern IntPtr tusk_result_hypothesis_text(ResultHandle result, UIntPtr i, UIntPtr h);
  [DllImport(Lib, CallingConvention = C)] public static extern double tusk_result_hypothesis_score(ResultHandle result, UIntPtr i, UIntPtr h);
  [DllImport(Lib, CallingConvention = C)] public static extern int tusk_translate_prefixed(TranslatorHandle translator, byte[] src, byte[] tgt, IntPtr[] texts, IntPtr[] prefixes, UIntPtr count, out ResultHandle result);
  [DllImport(Lib, CallingConvention = C)] public static extern void tusk_result_free(IntPtr result);
}

/// <summary>Translator options, named as in tusk.h (TUSK_OPT_BEAM_SIZE: BeamSize). Null = default.
/// Checked when a <see cref="Translator"/> is created: a value out of range throws TuskException
/// (InvalidArgument), an unknown name for a string option ArgumentException.</summary>
public sealed class TranslatorOptions {
  /// <summary>Intra-op threads; 0 = all cores (default 0).</summary>
  public int? Threads;
  /// <summary>Beam width; 1 = greedy search (default 1).</summary>
  public int? BeamSize;
  /// <summary>Most tokens generated per sentence (default 256), at most the model's maximum
  /// positions - 1; 0 = that limit.</summary>
  public int? MaxDecodingLength;
  /// <summary>No end of sentence before this many generated tokens, clipped to
  /// MaxDecodingLength (default 0).</summary>
  public int? MinDecodingLength;
  /// <summary>Most sentences per batch (default 32).</summary>
  public int? MaxBatchSize;
  /// <summary>Most source tokens per batch (default 4096).</summary>
  public int? MaxBatchTokens;
  /// <summary>True cuts over-long sentences to the model's limit; false (default) refuses them
  /// with <see cref="Status.InputTooLong"/>.</summary>
  public bool? TruncateInput;
  /// <summary>With an expert budget: true (default) loads experts ahead of need on a background
  /// thread, false only on a miss. Never changes the output.</summary>
  public bool? ExpertPrefetch;
  /// <summary>With an expert budget: true reads expert frames with O_DIRECT, past the OS page cache
  /// (buffered where the file system refuses it); false (default) buffered reads.</summary>
  public bool? ExpertDirectIo;
  /// <summary>An approximation, off by default: 8-bit activations in int8-weight products (tusk.h).</summary>
  public bool? Int8Activations;
  /// <summary>Beam score = log-probability / length^LengthPenalty (default 0.0).</summary>
  public double? LengthPenalty;
  /// <summary>Runaway guard: a sentence of n source tokens generates at most MaxLengthOffset +
  /// ceil(ratio * n) tokens, never more than MaxDecodingLength; 0 = no limit relative to the
  /// source (default 2.0).</summary>
  public double? MaxLengthRatio;
  /// <summary>Runaway guard: scores of tokens the translation already has are divided (positive) or
  /// multiplied (negative) by it; 1 = off (default), 1 to 10.</summary>
  public double? RepetitionPenalty;
  /// <summary>Runaway guard: the offset, in tokens, of MaxLengthRatio's limit (default 10).</summary>
  public int? MaxLengthOffset;
  /// <summary>Runaway guard: n &gt; 0 bans any token that would repeat an n-gram of the
  /// translation's own tokens; 0 = off (default 4).</summary>
  public int? NoRepeatNgramSize;
  /// <summary>An input that cannot be translated gets its own Translation.Error.
  /// True: its text is empty and the others are translated; false (default): the call throws.</summary>
  public bool? PerSentenceErrors;
  /// <summary>Hypotheses per sentence (Translation.Hypotheses), at most BeamSize.
  /// Default 1; text mode returns one.</summary>
  public int? NumHypotheses;
  /// <summary>With Device "cuda": GPU memory, in bytes, for experts copied to the GPU (least recently
  /// used evicted); 0 (default) keeps every expert used there. At least one expert's bytes; no
  /// effect on the CPU.</summary>
  public long? DeviceExpertBudgetBytes;
  /// <summary>Decoded expert bytes the translator may cache; 0 (default) = every expert resident,
  /// shared by the model's translators. Else at least <see cref="Model.LargestExpertBytes"/>.
  /// Never changes the output.</summary>
  public long? ExpertBudgetBytes;
  /// <summary>"lru", "layer-distance" or "none": which cached expert a full budget drops
  /// (default "layer-distance"). Never changes the output.</summary>
  public string ExpertEviction;
  /// <summary>"cpu", "cuda" or "cuda:N" (GPU N, the CUDA runtime's ordinal). Default "cpu"; never
  /// a silent CPU fallback: no usable GPU backend throws TuskException (Unsupported).</summary>
  public string Device;
  /// <summary>"fp32" (default), "fp16" or "bf16" (GPU only): the arithmetic of batched products.</summary>
  public string ComputeType;

  internal OptionsHandle ToNative() {
    OptionsHandle o;
    TuskException.Check(Native.tusk_options_create(out o));
    try {
      SetInt(o, 1, Threads);
      SetInt(o, 2, BeamSize);
      SetInt(o, 3, MaxDecodingLength);
      SetInt(o, 4, MaxBatchSize);
      SetInt(o, 5, MaxBatchTokens);
      SetInt(o, 6, Flag(TruncateInput));
      SetInt(o, 8, ExpertBudgetBytes);
      if (Device != null) {
        int index;
        if (Device.StartsWith("cuda:") && int.TryParse(Device.Substring(5), System.Globalization.NumberStyles.None,
                                                       null, out index)) {
          SetInt(o, 9, 1);
          SetInt(o, 19, index);
        } else {
          SetInt(o, 9, Choice("Device", Device, "cpu", "cuda"));
        }
      }
      if (ComputeType != null) SetInt(o, 20, Choice("ComputeType", ComputeType, "fp32", "fp16", "bf16"));
      if (ExpertEviction != null) SetInt(o, 14, Choice("ExpertEviction", ExpertEviction, "lru", "layer-distance", "none"));
      SetInt(o, 15, Flag(ExpertPrefetch));
      SetInt(o, 16, Flag(ExpertDirectIo));
      SetInt(o, 17, MinDecodingLength);
      SetInt(o, 18, Flag(Int8Activations));
      if (LengthPenalty.HasValue) TuskException.Check(Native.tusk_options_set_float(o, 100, LengthPenalty.Value));
      if (MaxLengthRatio.HasValue) TuskException.Check(Native.tusk_options_set_float(o, 101, MaxLengthRatio.Value));
      if (RepetitionPenalty.HasValue) TuskException.Check(Native.tusk_options_set_float(o, 102, RepetitionPenalty.Value));
      SetInt(o, 21, DeviceExpertBudgetBytes);
      SetInt(o, 22, NoRepeatNgramSize);
      SetInt(o, 23, MaxLengthOffset);
      SetInt(o, 24, Flag(PerSentenceErrors));
      SetInt(o, 25, NumHypotheses);
      return o;
    } catch {
      o.Dispose();
      throw;
    }
  }

  static void SetInt(OptionsHandle o, int key, long? value) {
    if (value.HasValue) TuskException.Check(Native.tusk_options_set_int(o, key, value.Value));
  }

  static long? Flag(bool? v) { return v.HasValue ? (v.Value ? 1 : 0) : (long?)null; }

  // The index of value among names (the C enum's order), or ArgumentException naming them.
  static long Choice(string option, string value, params string[] names) {
    int i = Array.IndexOf(names, value);
    if (i < 0) throw new ArgumentException(option + ": " + string.Join(", ", names) + ", not " + value);
    return i;
  }
}

/// <summary>An open .tusk model: immutable, shared by any number of translators and threads.
/// Disposing it while translators are open is allowed: the model closes after the last one.</summary>
public sealed class Model : IDisposable {
  internal readonly ModelHandle Handle;

  /// <summary>The loaded library's version, "MAJOR.MINOR.PATCH" (tusk_version).</summary>
  public static string Version {
    get {
      Native.EnsureLoaded();
      return Utf8.FromNative(Native.tusk_version());
    }
  }

  /// <summary>Opens a .tusk file: reads and verifies its header, metadata, every tensor's
  /// bounds and, with verifyChecksums, the weight checksums.</summary>
  /// <param name="path">The .tusk file's path.</param>
  /// <param name="verifyChecksums">Check all weight checksums now (TUSK_OPT_VERIFY_CHECKSUMS).</param>
  /// <exception cref="ArgumentNullException">path is null.</exception>
  /// <exception cref="TuskException">Io: the file cannot be opened or read; InvalidModel: not a
  /// valid .tusk file.</exception>
  public Model(string path, bool verifyChecksums = true) : this(path, verifyChecksums, false) {}

  /// <summary>Opens a .tusk file, choosing how its dense weights are held.</summary>
  /// <param name="path">The .tusk file's path.</param>
  /// <param name="verifyChecksums">Check all weight checksums now (TUSK_OPT_VERIFY_CHECKSUMS).</param>
  /// <param name="mapModel">false: read the dense weights into memory at open, so no change to
  /// the file can crash the process; true: use them from a read-only mapping, only for files
  /// never changed in place (TUSK_OPT_MAP_MODEL; see tusk_model_open in tusk.h).</param>
  /// <exception cref="ArgumentNullException">path is null.</exception>
  /// <exception cref="TuskException">Io: the file cannot be opened or read; InvalidModel: not a
  /// valid .tusk file.</exception>
  public Model(string path, bool verifyChecksums, bool mapModel) {
    Native.EnsureLoaded();
    ModelHandle h;
    using (OptionsHandle o = new TranslatorOptions().ToNative()) {
      TuskException.Check(Native.tusk_options_set_int(o, 7, verifyChecksums ? 1 : 0));
      TuskException.Check(Native.tusk_options_set_int(o, 26, mapModel ? 1 : 0));
      TuskException.Check(Native.tusk_model_open(Utf8.ToNative(path, nameof(path)), o, out h));
    }
    Handle = h;
  }

  ModelHandle Live() {
    if (Handle.IsClosed) throw new ObjectDisposedException(nameof(Model));
    return Handle;
  }

  /// <summary>A human-readable description: architecture, parameter counts, languages, sections
  /// with their compression ratios (tusk_model_describe).</summary>
  /// <returns>The description text.</returns>
  /// <exception cref="ObjectDisposedException">The model was disposed.</exception>
  /// <exception cref="TuskException">The library failed.</exception>
  public string Describe() {
    IntPtr text;
    TuskException.Check(Native.tusk_model_describe(Live(), out text));
    return Utf8.FromNative(text);
  }

  /// <summary>Short language codes ("en"; the full token where that would be ambiguous).</summary>
  /// <exception cref="ObjectDisposedException">The model was disposed.</exception>
  public IList<string> Languages { get { return LanguageStrings(false); } }

  /// <summary>The languages' tokens ("eng_Latn"), in the order of Languages; every call that
  /// takes a language accepts either form.</summary>
  /// <exception cref="ObjectDisposedException">The model was disposed.</exception>
  public IList<string> LanguageTokens { get { return LanguageStrings(true); } }

  IList<string> LanguageStrings(bool tokens) {
    var h = Live();
    int n;
    TuskException.Check(Native.tusk_model_language_count(h, out n));
    var list = new List<string>();
    for (int i = 0; i < n; ++i) {
      IntPtr text;
      TuskException.Check(tokens ? Native.tusk_model_language_token(h, i, out text)
                                 : Native.tusk_model_language(h, i, out text));
      list.Add(Utf8.FromNative(text));
    }
    return list;
  }

  /// <summary>Decoded bytes of all experts; LargestExpertBytes is the smallest budget.</summary>
  /// <exception cref="ObjectDisposedException">The model was disposed.</exception>
  public ulong ExpertBytes { get { ulong t, l; TuskException.Check(Native.tusk_model_expert_bytes(Live(), out t, out l)); return t; } }
  /// <summary>Decoded bytes of the largest expert: the smallest non-zero
  /// <see cref="TranslatorOptions.ExpertBudgetBytes"/> a translator accepts.</summary>
  /// <exception cref="ObjectDisposedException">The model was disposed.</exception>
  public ulong LargestExpertBytes { get { ulong t, l; TuskException.Check(Native.tusk_model_expert_bytes(Live(), out t, out l)); return l; } }

  /// <summary>Closes the model: at once, or after the last open translator made from it. Later use
  /// of this object throws ObjectDisposedException; calling it again does nothing.</summary>
  public void Dispose() => Handle.Dispose();
}

/// <summary>Translates with a model. Concurrent calls on one translator are serialised by the
/// library; use after Dispose throws ObjectDisposedException.</summary>
public sealed class Translator : IDisposable {
  readonly TranslatorHandle handle;

  /// <summary>Creates a translator for model (tusk_translator_create); it keeps the model open
  /// until disposed.</summary>
  /// <param name="model">The model to translate with.</param>
  /// <param name="options">Options; null or a null field means the library's default.</param>
  /// <exception cref="ArgumentNullException">model is null.</exception>
  /// <exception cref="ObjectDisposedException">model was disposed.</exception>
  /// <exception cref="ArgumentException">An unknown Device, ComputeType or ExpertEviction name.</exception>
  /// <exception cref="TuskException">InvalidArgument: an option out of range, ExpertBudgetBytes below
  /// the largest expert, NumHypotheses above BeamSize, a GPU the machine lacks; Unsupported: no
  /// usable GPU backend for Device "cuda", or fp16/bf16 on the CPU.</exception>
  public Translator(Model model, TranslatorOptions options = null) {
    if (model == null) throw new ArgumentNullException(nameof(model));
    if (model.Handle.IsClosed) throw new ObjectDisposedException(nameof(Model));
    using (OptionsHandle o = (options ?? new TranslatorOptions()).ToNative()) {
      bool added = false;
      model.Handle.DangerousAddRef(ref added);  // the model outlives this translator
      try {
        TuskException.Check(Native.tusk_translator_create(model.Handle, o, out handle));
        handle.Model = model.Handle;
      } catch {
        if (added) model.Handle.DangerousRelease();
        throw;
      }
    }
  }

  TranslatorHandle Live() {
    if (handle.IsClosed) throw new ObjectDisposedException(nameof(Translator));
    return handle;
  }

  /// <summary>Translates sentences from src to tgt ("en", "de", ...), keeping their order.</summary>
  /// <param name="texts">The sentences (UTF-8 text); an empty list gives an empty list.</param>
  /// <param name="src">The source language: a code or token of <see cref="Model.Languages"/>.</param>
  /// <param name="tgt">The target language, likewise.</param>
  /// <returns>One translation per sentence, in input order ("" for one that failed alone, with
  /// PerSentenceErrors).</returns>
  /// <exception cref="ArgumentNullException">texts, one of them, src or tgt is null.</exception>
  /// <exception cref="ObjectDisposedException">The translator was disposed.</exception>
  /// <exception cref="TuskException">UnknownLanguage; InvalidArgument (invalid UTF-8); InputTooLong
  /// (without TruncateInput); Cancelled (<see cref="Cancel"/>). All or nothing, unless
  /// PerSentenceErrors.</exception>
  public IList<string> Translate(IList<string> texts, string src, string tgt) => Translate(texts, src, tgt, false);

  /// <summary>Translates texts (paragraphs, documents of any length): the library splits them into
  /// sentences and puts each text back with its spacing and line breaks (tusk_translate_text).</summary>
  /// <param name="texts">The texts; an empty list gives an empty list.</param>
  /// <param name="src">The source language (its rules split the sentences).</param>
  /// <param name="tgt">The target language.</param>
  /// <returns>One translated text per input text, in input order.</returns>
  /// <exception cref="ArgumentNullException">texts, one of them, src or tgt is null.</exception>
  /// <exception cref="ObjectDisposedException">The translator was disposed.</exception>
  /// <exception cref="TuskException">As Translate's, except that no input is too long: an over-long
  /// sentence is cut at word boundaries and translated in pieces.</exception>
  public IList<string> TranslateText(IList<string> texts, string src, string tgt) => Translate(texts, src, tgt, true);

  /// <summary>Translates one text (paragraphs, a document) as TranslateText for a list does.</summary>
  /// <param name="text">The text.</param>
  /// <param name="src">The source language.</param>
  /// <param name="tgt">The target language.</param>
  /// <returns>The translated text.</returns>
  /// <exception cref="ArgumentNullException">text, src or tgt is null.</exception>
  /// <exception cref="ObjectDisposedException">The translator was disposed.</exception>
  /// <exception cref="TuskException">As TranslateText's for a list.</exception>
  public string TranslateText(string text, string src, string tgt) => TranslateText(new[] { text }, src, tgt)[0];

  /// <summary>Translate (or TranslateText with textMode) calling onToken as tokens are chosen: greedy
  /// search every step, beam search a sentence's tokens when its search ends. onToken returning
  /// false cancels (TuskException TUSK_ERROR_CANCELLED); one that throws cancels, and its
  /// exception comes back from here.</summary>
  /// <param name="texts">The sentences, or with textMode the texts.</param>
  /// <param name="src">The source language.</param>
  /// <param name="tgt">The target language.</param>
  /// <param name="textMode">False: sentences as Translate; true: texts as TranslateText.</param>
  /// <param name="onToken">Called on the translating thread for each token chosen (events of a call's
  /// sentences interleave); returns true to go on.</param>
  /// <returns>The translations, in input order, as Translate or TranslateText returns them.</returns>
  /// <exception cref="ArgumentNullException">onToken, texts, one of them, src or tgt is null.</exception>
  /// <exception cref="ObjectDisposedException">The translator was disposed.</exception>
  /// <exception cref="TuskException">As Translate's (TranslateText's with textMode); Cancelled
  /// when onToken returned false or on Cancel.</exception>
  public IList<string> TranslateStream(IList<string> texts, string src, string tgt, bool textMode,
                                       Func<TokenEvent, bool> onToken) {
    if (onToken == null) throw new ArgumentNullException(nameof(onToken));
    Exception thrown = null;
    NativeTokenCallback callback = (ptr, user) => {
      try {
        var e = Marshal.PtrToStructure<NativeTokenEvent>(ptr);
        return onToken(new TokenEvent { Input = (ulong)e.Input, Sentence = (ulong)e.Sentence, Token = e.Token,
                                        Logprob = e.Logprob, Text = Utf8.FromNative(e.Text), Finished = e.Finished != 0 })
                   ? 0 : 1;
      } catch (Exception ex) {
        thrown = ex;
        return 1;
      }
    };
    try {
      return Translate(texts, src, tgt, (s, t, pointers, count) => {
        ResultHandle result;
        int status = Native.tusk_translate_stream(Live(), s, t, pointers, count, textMode ? 1 : 0, callback,
                                                  IntPtr.Zero, out result);
        GC.KeepAlive(callback);
        return Tuple.Create(status, result);
      });
    } catch (TuskException) {
      if (thrown != null) throw thrown;
      throw;
    }
  }

  /// <summary>Cancels the calls running or waiting on this translator, from any thread; later calls run.</summary>
  /// <remarks>The cancelled calls throw TuskException (<see cref="Status.Cancelled"/>) within one
  /// decoding step.</remarks>
  /// <exception cref="ObjectDisposedException">The translator was disposed.</exception>
  public void Cancel() => TuskException.Check(Native.tusk_translator_cancel(Live()));

  IList<string> Translate(IList<string> texts, string src, string tgt, bool textMode) =>
      Translate(texts, src, tgt, (s, t, pointers, count) => {
        ResultHandle result;
        int status = textMode ? Native.tusk_translate_text(Live(), s, t, pointers, count, out result)
                              : Native.tusk_translate(Live(), s, t, pointers, count, out result);
        return Tuple.Create(status, result);
      });

  /// <summary>Like Translate, returning Translations; targetPrefixes (null for none, or one per text,
  /// null or "" for none) are what each translation must begin with.</summary>
  /// <param name="texts">The sentences; an empty list gives an empty list.</param>
  /// <param name="src">The source language.</param>
  /// <param name="tgt">The target language.</param>
  /// <param name="targetPrefixes">Null, or per text a forced beginning in the target language,
  /// whose tokens and log-probabilities are part of the result.</param>
  /// <returns>One <see cref="Translation"/> per sentence, in input order.</returns>
  /// <exception cref="ArgumentNullException">texts, one of them, src or tgt is null.</exception>
  /// <exception cref="ObjectDisposedException">The translator was disposed.</exception>
  /// <exception cref="ArgumentException">targetPrefixes does not have one entry per text.</exception>
  /// <exception cref="TuskException">As Translate's.</exception>
  public IList<Translation> TranslateDetailed(IList<string> texts, string src, string tgt,
                                              IList<string> targetPrefixes = null) {
    if (targetPrefixes == null)
      return TranslateDetailed(texts, src, tgt, (s, t, pointers, count) => {
        ResultHandle result;
        int status = Native.tusk_translate(Live(), s, t, pointers, count, out result);
        return Tuple.Create(status, result);
      });
    if (texts == null) throw new ArgumentNullException(nameof(texts));
    if (targetPrefixes.Count != texts.Count)
      throw new ArgumentException(targetPrefixes.Count + " target prefixes for " + texts.Count + " texts");
    var pinned = new GCHandle[targetPrefixes.Count];
    var prefixes = new IntPtr[targetPrefixes.Count];
    try {
      for (int i = 0; i < prefixes.Length; ++i) {
        pinned[i] = GCHandle.Alloc(Utf8.ToNative(targetPrefixes[i] ?? "", "targetPrefixes[" + i + "]"), GCHandleType.Pinned);
        prefixes[i] = pinned[i].AddrOfPinnedObject();
      }
      return TranslateDetailed(texts, src, tgt, (s, t, pointers, count) => {
        ResultHandle result;
        int status = Native.tusk_translate_prefixed(Live(), s, t, pointers, prefixes, count, out result);
        return Tuple.Create(status, result);
      });
    } finally {
      foreach (var p in pinned) if (p.IsAllocated) p.Free();
    }
  }

  IList<string> Translate(IList<string> texts, string src, string tgt,
                          Func<byte[], byte[], IntPtr[], UIntPtr, Tuple<int, ResultHandle>> call) {
    var output = new List<string>();
    foreach (var t in TranslateDetailed(texts, src, tgt, call)) output.Add(t.Text);
    return output;
  }

  IList<Translation> TranslateDetailed(IList<string> texts, string src, string tgt,
                                       Func<byte[], byte[], IntPtr[], UIntPtr, Tuple<int, ResultHandle>> call) {
    if (texts == null) throw new ArgumentNullException(nameof(texts));
    var output = new List<Translation>();
    if (texts.Count == 0) return output;
    var pinned = new GCHandle[texts.Count];
    var pointers = new IntPtr[texts.Count];
    try {
      for (int i = 0; i < texts.Count; ++i) {
        pinned[i] = GCHandle.Alloc(Utf8.ToNative(texts[i], "texts[" + i + "]"), GCHandleType.Pinned);
        pointers[i] = pinned[i].AddrOfPinnedObject();
      }
      var outcome = call(Utf8.ToNative(src, nameof(src)), Utf8.ToNative(tgt, nameof(tgt)), pointers, (UIntPtr)texts.Count);
      var result = outcome.Item2;
      TuskException.Check(outcome.Item1);
      using (result) {
        ulong n = (ulong)Native.tusk_result_count(result);
        for (ulong i = 0; i < n; ++i) {
          var at = (UIntPtr)i;
          int status = Native.tusk_result_status(result, at);
          var hypotheses = new List<string>();
          var scores = new List<double>();
          ulong count = (ulong)Native.tusk_result_hypothesis_count(result, at);
          for (ulong h = 0; h < count; ++h) {
            hypotheses.Add(Utf8.FromNative(Native.tusk_result_hypothesis_text(result, at, (UIntPtr)h)));
            scores.Add(Native.tusk_result_hypothesis_score(result, at, (UIntPtr)h));
          }
          output.Add(new Translation {
            Text = Utf8.FromNative(Native.tusk_result_text(result, at)), Score = Native.tusk_result_score(result, at),
            Error = status == 0 ? null : new TuskException((Status)status, Utf8.FromNative(Native.tusk_result_error(result, at))),
            Hypotheses = hypotheses, HypothesisScores = scores });
        }
      }
    } finally {
      foreach (var p in pinned) if (p.IsAllocated) p.Free();
    }
    return output;
  }

  /// <summary>Translates one sentence from src to tgt.</summary>
  /// <param name="text">The sentence.</param>
  /// <param name="src">The source language.</param>
  /// <param name="tgt">The target language.</param>
  /// <returns>Its translation.</returns>
  /// <exception cref="ArgumentNullException">text, src or tgt is null.</exception>
  /// <exception cref="ObjectDisposedException">The translator was disposed.</exception>
  /// <exception cref="TuskException">As Translate's for a list.</exception>
  public string Translate(string text, string src, string tgt) => Translate(new[] { text }, src, tgt)[0];

  /// <summary>Preloads the pair's most used experts (with an expert budget); returns how many.</summary>
  /// <remarks>Needs ExpertBudgetBytes and a calibrated model; loads what fits half the budget. Never
  /// changes a translation.</remarks>
  /// <param name="src">The source language.</param>
  /// <param name="tgt">The target language.</param>
  /// <returns>Experts loaded: 0 without a budget, for a pair the model has no usage for, or when
  /// they are loaded already.</returns>
  /// <exception cref="ArgumentNullException">src or tgt is null.</exception>
  /// <exception cref="ObjectDisposedException">The translator was disposed.</exception>
  /// <exception cref="TuskException">UnknownLanguage for a language the model lacks.</exception>
  public ulong WarmStart(string src, string tgt) {
    ulong loaded;
    TuskException.Check(Native.tusk_translator_warm_start(Live(), Utf8.ToNative(src, nameof(src)),
                                                          Utf8.ToNative(tgt, nameof(tgt)), out loaded));
    return loaded;
  }

  /// <summary>Expert cache counters (tusk_stats_t).</summary>
  /// <returns>Since creation: "hits", "misses", "evictions", "bytes_loaded", "prefetch_issued",
  /// "prefetch_used", "peak_cache_bytes" (bytes), "stall_ms" (milliseconds), "warm_start_loaded".
  /// Without an expert budget: counters 0, peak_cache_bytes the model's total expert bytes.</returns>
  /// <exception cref="ObjectDisposedException">The translator was disposed.</exception>
  public IDictionary<string, double> Stats() {
    var s = new NativeStats { StructSize = (ulong)Marshal.SizeOf<NativeStats>() };
    TuskException.Check(Native.tusk_translator_stats(Live(), ref s));
    return new Dictionary<string, double> {
      ["hits"] = s.Hits, ["misses"] = s.Misses, ["evictions"] = s.Evictions, ["bytes_loaded"] = s.BytesLoaded,
      ["prefetch_issued"] = s.PrefetchIssued, ["prefetch_used"] = s.PrefetchUsed,
      ["peak_cache_bytes"] = s.PeakCacheBytes, ["stall_ms"] = s.StallMs, ["warm_start_loaded"] = s.WarmStartLoaded,
    };
  }

  /// <summary>Destroys the translator and lets go of its model. Later use throws
  /// ObjectDisposedException; calling it again does nothing.</summary>
  public void Dispose() => handle.Dispose();
}

}  // namespace Tusk
