package tusk;

import com.sun.jna.Pointer;
import com.sun.jna.ptr.IntByReference;
import com.sun.jna.ptr.LongByReference;
import com.sun.jna.ptr.PointerByReference;
import java.util.ArrayList;
import java.util.List;

/** An open .tusk model: immutable, shared by any number of translators on any threads. */
public final class Model extends Handle {
  private int translators;

  public Model(String path) { this(path, true); }

  public Model(String path, boolean verifyChecksums) { this(path, verifyChecksums, false); }

  /**
   * Opens a model. mapModel false (the default) reads the dense weights into memory at open, so
   * no change to the file can crash the process; true uses them from a read-only mapping, only
   * for files never changed in place (see tusk_model_open in tusk.h).
   */
  public Model(String path, boolean verifyChecksums, boolean mapModel) {
    super("model");
    try (Options o = new Options()) {
      o.set(TuskLibrary.OPT_VERIFY_CHECKSUMS, verifyChecksums ? 1 : 0);
      o.set(TuskLibrary.OPT_MAP_MODEL, mapModel ? 1 : 0);
      PointerByReference out = new PointerByReference();
      TuskException.check(TuskLibrary.INSTANCE.tusk_model_open(path, o.pointer(), out));
      adopt(out.getValue());
    }
  }

  /** Architecture, parameter counts, languages, sections, expert usage. */
  public String describe() {
    return with(m -> {
      PointerByReference out = new PointerByReference();
      TuskException.check(TuskLibrary.INSTANCE.tusk_model_describe(m, out));
      return out.getValue().getString(0, "UTF-8");
    });
  }

  /** Short language codes ("en"; the full token where that would be ambiguous). */
  public List<String> languages() { return languageStrings(false); }

  /** The languages' tokens ("eng_Latn"), in the order of {@link #languages}; every call that
   *  takes a language accepts either form. */
  public List<String> languageTokens() { return languageStrings(true); }

  private List<String> languageStrings(boolean tokens) {
    return with(m -> {
      IntByReference count = new IntByReference();
      TuskException.check(TuskLibrary.INSTANCE.tusk_model_language_count(m, count));
      List<String> out = new ArrayList<>();
      for (int i = 0; i < count.getValue(); ++i) {
        PointerByReference text = new PointerByReference();
        TuskException.check(tokens ? TuskLibrary.INSTANCE.tusk_model_language_token(m, i, text)
                                   : TuskLibrary.INSTANCE.tusk_model_language(m, i, text));
        out.add(text.getValue().getString(0, "UTF-8"));
      }
      return out;
    });
  }

  /** Decoded bytes of all experts; {@link #largestExpertBytes} is the smallest budget. */
  public long expertBytes() { return expertBytes(true); }

  public long largestExpertBytes() { return expertBytes(false); }

  private long expertBytes(boolean total) {
    return with(m -> {
      LongByReference t = new LongByReference(), l = new LongByReference();
      TuskException.check(TuskLibrary.INSTANCE.tusk_model_expert_bytes(m, t, l));
      return total ? t.getValue() : l.getValue();
    });
  }

  synchronized void attach(int delta) { translators += delta; }

  private synchronized int translators() { return translators; }

  /** Refused (IllegalStateException) while translators of this model are open. */
  @Override
  public void close() {
    // A translator being created holds the read lock, so the count is final here.
    Pointer p = releaseUnless(
        () -> translators() > 0 ? translators() + " translator(s) of this model are still open" : null);
    if (p != null) TuskLibrary.INSTANCE.tusk_model_close(p);
  }
}
