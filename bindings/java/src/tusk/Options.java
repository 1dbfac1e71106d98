package tusk;

import com.sun.jna.Pointer;
import com.sun.jna.ptr.PointerByReference;

/** A tusk_options_t, internal: callers use Translator.Settings. */
final class Options extends Handle {
  Options() {
    super("options");
    PointerByReference out = new PointerByReference();
    TuskException.check(TuskLibrary.INSTANCE.tusk_options_create(out));
    adopt(out.getValue());
  }

  Pointer pointer() { return with(p -> p); }  // used only by its owner's thread

  void set(int key, long value) {
    with(p -> { TuskException.check(TuskLibrary.INSTANCE.tusk_options_set_int(p, key, value)); return null; });
  }

  void set(int key, double value) {
    with(p -> { TuskException.check(TuskLibrary.INSTANCE.tusk_options_set_float(p, key, value)); return null; });
  }

  @Override
  public void close() {
    Pointer p = release();
    if (p != null) TuskLibrary.INSTANCE.tusk_options_destroy(p);
  }
}
