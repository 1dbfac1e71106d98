package tusk;

import com.sun.jna.Pointer;
import java.util.concurrent.locks.ReentrantReadWriteLock;
import java.util.function.Function;
import java.util.function.Supplier;

/**
 * Owns one C handle. Calls run under a read lock and close() takes the write lock, so a close
 * racing a call waits for it instead of freeing the handle under it. close() is idempotent;
 * any use after it throws IllegalStateException, never crashes.
 */
abstract class Handle implements AutoCloseable {
  private final ReentrantReadWriteLock lock = new ReentrantReadWriteLock();
  private Pointer pointer;
  private final String kind;

  Handle(String kind) { this.kind = kind; }

  final void adopt(Pointer p) { pointer = p; }

  /** Runs body with the live handle. */
  final <T> T with(Function<Pointer, T> body) {
    lock.readLock().lock();
    try {
      if (pointer == null) throw new IllegalStateException("this " + kind + " is closed");
      return body.apply(pointer);
    } finally {
      lock.readLock().unlock();
    }
  }

  /** Takes the handle away (null if already closed) once no call is running. */
  final Pointer release() { return releaseUnless(() -> null); }

  /** The same, unless refusal (asked with no call running) names a reason: then it throws. */
  final Pointer releaseUnless(Supplier<String> refusal) {
    lock.writeLock().lock();
    try {
      if (pointer == null) return null;
      String why = refusal.get();
      if (why != null) throw new IllegalStateException(why);
      Pointer p = pointer;
      pointer = null;
      return p;
    } finally {
      lock.writeLock().unlock();
    }
  }

  public final boolean isClosed() {
    lock.readLock().lock();
    try {
      return pointer == null;
    } finally {
      lock.readLock().unlock();
    }
  }
}
