// Tusk for C#: P/Invoke over the C ABI (tusk.h). cdecl, UTF-8 strings marshalled by hand (no
// reliance on a runtime's LPUTF8Str support), int32 instead of bool, one SafeHandle subclass per
// handle type. libtusk.so is found by the runtime's usual search (LD_LIBRARY_PATH with Mono).
using System;
using System.Collections.Generic;
using System.Runtime.InteropServices;
using System.Text;
using Microsoft.Win32.SafeHandles;

namespace Tusk {

/// <summary>tusk_status_t.</summary>
public enum Status {
  Ok = 0, InvalidArgument = 1, Io = 2, InvalidModel = 3, Unsupported = 4, UnknownLanguage = 5,
  InputTooLong = 6, OutOfMemory = 7, Cancelled = 8, Internal = 9
}

/// <summary>A Tusk call failed: its status and the library's message (tusk_last_error).</summary>
public class TuskException : Exception {
  public Status Status { get; }
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
  public string Text;
  public double Score;
  public TuskException Error;
  public IList<string> Hypotheses;
  public IList<double> HypothesisScores;
}

/// <summary>A token chosen while Translator.TranslateStream runs.</summary>
public sealed class TokenEvent {
  /// <summary>Which text of the call, and which sentence of it (text mode; else 0).</summary>
  public ulong Input, Sentence;
  public int Token;
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

/// <summary>Translator options, named as in tusk.h (TUSK_OPT_BEAM_SIZE: BeamSize). Null = default.</summary>
public sealed class TranslatorOptions {
  public int? Threads, BeamSize, MaxDecodingLength, MinDecodingLength, MaxBatchSize, MaxBatchTokens;
  public bool? TruncateInput, ExpertPrefetch, ExpertDirectIo;
  /// <summary>An approximation, off by default: 8-bit activations in int8-weight products (tusk.h).</summary>
  public bool? Int8Activations;
  public double? LengthPenalty;
  /// <summary>Runaway guards (tusk.h): at most offset + ratio * source tokens; no n-gram twice; a penalty.</summary>
  public double? MaxLengthRatio, RepetitionPenalty;
  public int? MaxLengthOffset, NoRepeatNgramSize;
  /// <summary>An input that cannot be translated gets its own Translation.Error.</summary>
  public bool? PerSentenceErrors;
  /// <summary>Hypotheses per sentence (Translation.Hypotheses), at most BeamSize.</summary>
  public int? NumHypotheses;
  public long? DeviceExpertBudgetBytes;
  public long? ExpertBudgetBytes;
  /// <summary>"lru", "layer-distance" or "none".</summary>
  public string ExpertEviction;
  /// <summary>"cpu", "cuda" or "cuda:N" (GPU N, the CUDA runtime's ordinal).</summary>
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

  public static string Version => Utf8.FromNative(Native.tusk_version());

  public Model(string path, bool verifyChecksums = true) {
    ModelHandle h;
    using (OptionsHandle o = new TranslatorOptions().ToNative()) {
      TuskException.Check(Native.tusk_options_set_int(o, 7, verifyChecksums ? 1 : 0));
      TuskException.Check(Native.tusk_model_open(Utf8.ToNative(path, nameof(path)), o, out h));
    }
    Handle = h;
  }

  ModelHandle Live() {
    if (Handle.IsClosed) throw new ObjectDisposedException(nameof(Model));
    return Handle;
  }

  public string Describe() {
    IntPtr text;
    TuskException.Check(Native.tusk_model_describe(Live(), out text));
    return Utf8.FromNative(text);
  }

  /// <summary>Short language codes ("en"; the full token where that would be ambiguous).</summary>
  public IList<string> Languages { get { return LanguageStrings(false); } }

  /// <summary>The languages' tokens ("eng_Latn"), in the order of Languages; every call that
  /// takes a language accepts either form.</summary>
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
  public ulong ExpertBytes { get { ulong t, l; TuskException.Check(Native.tusk_model_expert_bytes(Live(), out t, out l)); return t; } }
  public ulong LargestExpertBytes { get { ulong t, l; TuskException.Check(Native.tusk_model_expert_bytes(Live(), out t, out l)); return l; } }

  public void Dispose() => Handle.Dispose();
}

/// <summary>Translates with a model. Concurrent calls on one translator are serialised by the
/// library; use after Dispose throws ObjectDisposedException.</summary>
public sealed class Translator : IDisposable {
  readonly TranslatorHandle handle;

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
  public IList<string> Translate(IList<string> texts, string src, string tgt) => Translate(texts, src, tgt, false);

  /// <summary>Translates texts (paragraphs, documents of any length): the library splits them into
  /// sentences and puts each text back with its spacing and line breaks (tusk_translate_text).</summary>
  public IList<string> TranslateText(IList<string> texts, string src, string tgt) => Translate(texts, src, tgt, true);

  public string TranslateText(string text, string src, string tgt) => TranslateText(new[] { text }, src, tgt)[0];

  /// <summary>Translate (or TranslateText with textMode) calling onToken as tokens are chosen: greedy
  /// search every step, beam search a sentence's tokens when its search ends. onToken returning
  /// false cancels (TuskException TUSK_ERROR_CANCELLED); one that throws cancels, and its
  /// exception comes back from here.</summary>
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

  public string Translate(string text, string src, string tgt) => Translate(new[] { text }, src, tgt)[0];

  /// <summary>Preloads the pair's most used experts (with an expert budget); returns how many.</summary>
  public ulong WarmStart(string src, string tgt) {
    ulong loaded;
    TuskException.Check(Native.tusk_translator_warm_start(Live(), Utf8.ToNative(src, nameof(src)),
                                                          Utf8.ToNative(tgt, nameof(tgt)), out loaded));
    return loaded;
  }

  /// <summary>Expert cache counters (tusk_stats_t).</summary>
  public IDictionary<string, double> Stats() {
    var s = new NativeStats { StructSize = (ulong)Marshal.SizeOf<NativeStats>() };
    TuskException.Check(Native.tusk_translator_stats(Live(), ref s));
    return new Dictionary<string, double> {
      ["hits"] = s.Hits, ["misses"] = s.Misses, ["evictions"] = s.Evictions, ["bytes_loaded"] = s.BytesLoaded,
      ["prefetch_issued"] = s.PrefetchIssued, ["prefetch_used"] = s.PrefetchUsed,
      ["peak_cache_bytes"] = s.PeakCacheBytes, ["stall_ms"] = s.StallMs, ["warm_start_loaded"] = s.WarmStartLoaded,
    };
  }

  public void Dispose() => handle.Dispose();
}

}  // namespace Tusk
