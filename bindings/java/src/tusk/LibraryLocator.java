package tusk;

import java.io.File;
import java.io.IOException;
import java.io.InputStream;
import java.net.URISyntaxException;
import java.util.ArrayList;
import java.util.List;
import java.util.Properties;

/**
 * Finds libtusk for JNA, so that no {@code -D} flag is needed (internal to the binding). In order:
 * the {@code TUSK_LIBRARY} environment variable or {@code tusk.library} property (the library
 * file, or a folder holding it); the folder of tusk.jar (the build tree); the library folder of
 * the prefix tusk.jar is installed in (the jar's {@code tusk/layout.properties} gives it relative
 * to the jar); then JNA's own search ({@code jna.library.path}, the system's).
 */
final class LibraryLocator {
  private static final String[] NAMES = {"libtusk.so.0", "libtusk.so"};

  private LibraryLocator() {}

  /** Loads the library for {@code type}; a failure says where it looked and what to set. */
  static <T extends com.sun.jna.Library> T load(Class<T> type, java.util.Map<String, ?> options) {
    String where = locate();
    try {
      return com.sun.jna.Native.load(where, type, options);
    } catch (UnsatisfiedLinkError e) {
      throw new UnsatisfiedLinkError("cannot load libtusk (" + where + "): set TUSK_LIBRARY (or -Dtusk.library)"
          + " to the library file or its folder, or install it where the system finds it. " + e.getMessage());
    }
  }

  /** An absolute library path, or "tusk" to let JNA search. */
  static String locate() {
    String named = System.getenv("TUSK_LIBRARY");
    if (named == null || named.isEmpty()) named = System.getProperty("tusk.library");
    if (named != null && !named.isEmpty()) {
      File f = new File(named);
      if (!f.isDirectory()) return f.getAbsolutePath();  // a missing file fails by its name
      File in = inFolder(f);
      return in != null ? in.getAbsolutePath() : new File(f, NAMES[0]).getAbsolutePath();
    }
    for (File folder : jarFolders()) {
      File in = inFolder(folder);
      if (in != null) return in.getAbsolutePath();
    }
    return "tusk";
  }

  private static File inFolder(File folder) {
    for (String name : NAMES) {
      File f = new File(folder, name);
      if (f.isFile()) return f;
    }
    return null;
  }

  private static List<File> jarFolders() {
    List<File> folders = new ArrayList<>();
    File jar;
    try {
      jar = new File(LibraryLocator.class.getProtectionDomain().getCodeSource().getLocation().toURI());
    } catch (URISyntaxException | RuntimeException e) {
      return folders;  // not a jar on the file system (nested in another jar, loaded over http)
    }
    File here = jar.getParentFile();
    if (here == null) return folders;
    folders.add(here);
    String relative = layout().getProperty("library.dir");
    if (relative != null) {
      File dir = new File(relative);
      folders.add(dir.isAbsolute() ? dir : new File(here, relative));
    }
    return folders;
  }

  private static Properties layout() {
    Properties p = new Properties();
    try (InputStream in = LibraryLocator.class.getResourceAsStream("layout.properties")) {
      if (in != null) p.load(in);
    } catch (IOException e) {
      // No layout: the jar was not built for an install prefix; JNA's search remains.
    }
    return p;
  }
}
