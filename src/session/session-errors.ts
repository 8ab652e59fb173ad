/**
 * Why a session call was refused, as typed errors the RPC layer maps onto status codes
 * (service/session-handlers.ts): each says what a caller can do about it.
 */

/** No session of this id belongs to the caller (it never existed, was closed, or is another key's): NOT_FOUND. */
export class SessionNotFoundError extends Error {
  override readonly name = "SessionNotFoundError";
  constructor(
    readonly sessionId: string,
    what: "session" | "snapshot" = "session",
  ) {
    super(`${what} ${JSON.stringify(sessionId)} not found`);
  }
}

/** The session's container died; the session is being removed: FAILED_PRECONDITION with the cause. */
export class SessionFailedError extends Error {
  override readonly name = "SessionFailedError";
  constructor(
    readonly sessionId: string,
    readonly why: string,
  ) {
    super(`session ${sessionId} failed: ${why}; it has been removed, create a new one`);
  }
}

/** A bound on sessions or on a session's execs was reached: RESOURCE_EXHAUSTED naming it. */
export class SessionLimitError extends Error {
  override readonly name = "SessionLimitError";
  constructor(
    message: string,
    /** The ErrorInfo reason a client acts on. */
    readonly reason: "SESSION_LIMIT" | "SNAPSHOT_QUOTA" = "SESSION_LIMIT",
  ) {
    super(message);
  }
}

/** A file call the workspace could not carry out (a name that is another kind of entry, a full workspace): FAILED_PRECONDITION. */
export class SessionFileError extends Error {
  override readonly name = "SessionFileError";
}

/** The session cannot do this now (it runs execs and cannot pause; it is paused): FAILED_PRECONDITION saying what to do. */
export class SessionBusyError extends Error {
  override readonly name = "SessionBusyError";
}

/** The snapshot store cannot be read or written (SNAPSHOT_DIR missing, not writable, full): UNAVAILABLE naming it. */
export class SnapshotStoreError extends Error {
  override readonly name = "SnapshotStoreError";
}
