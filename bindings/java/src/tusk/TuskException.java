package tusk;

/** A Tusk call failed: the tusk_status_t code, its name, and the library's message. */
public class TuskException extends RuntimeException {
  private final int status;
  private final String statusName;

  TuskException(int status, String message) {
    super(TuskLibrary.INSTANCE.tusk_status_name(status) + ": " + message);
    this.status = status;
    this.statusName = TuskLibrary.INSTANCE.tusk_status_name(status);
  }

  /** The tusk_status_t value (TUSK_ERROR_UNKNOWN_LANGUAGE = 5, ...). */
  public int status() { return status; }

  /** "TUSK_ERROR_UNKNOWN_LANGUAGE", ... */
  public String statusName() { return statusName; }

  static void check(int status) {
    if (status != 0) throw new TuskException(status, TuskLibrary.INSTANCE.tusk_last_error());
  }
}
