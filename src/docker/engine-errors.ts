/**
 * Typed errors for what can go wrong talking to the container engine. Callers branch on the class,
 * never on message text; every error carries the action that failed as context.
 */

/** The engine cannot be reached, refused us, or did not answer in time. */
export class EngineUnavailableError extends Error {
  override readonly name: string = "EngineUnavailableError";
}

/** The engine took longer than the call's deadline: it may only be slow (a kind of unavailable). */
export class EngineTimeoutError extends EngineUnavailableError {
  override readonly name = "EngineTimeoutError";
}

/** The image a container was to be created from does not exist on the engine. */
export class ImageMissingError extends Error {
  override readonly name = "ImageMissingError";
}

/**
 * The engine has no OCI runtime of the name a sandbox asked for: gVisor not registered, or not for
 * the platform RUNSC_PLATFORM names (scripts/ensure-engine.sh registers them).
 */
export class RuntimeMissingError extends Error {
  override readonly name = "RuntimeMissingError";
}

/** The container no longer exists (removed by someone else, or never created). */
export class ContainerGoneError extends Error {
  override readonly name = "ContainerGoneError";
}

/** A container name is taken already (the engine's 409 Conflict): names are unique per engine. */
export class NameInUseError extends Error {
  override readonly name = "NameInUseError";
}

/** Any other engine failure. */
export class EngineError extends Error {
  override readonly name = "EngineError";
}

const unreachableCodes = new Set([
  "ECONNREFUSED",
  "ENOENT",
  "EACCES",
  "ECONNRESET",
  "EPIPE",
  "ETIMEDOUT",
  "EHOSTUNREACH",
  "ENOTCONN",
  "ECONNABORTED",
  "ABORT_ERR",
]);

interface EngineFailure {
  code?: unknown;
  statusCode?: unknown;
  name?: unknown;
  message?: unknown;
}

/** Turns whatever dockerode threw into one of the typed errors above, with `action` as context. */
export function classifyEngineError(error: unknown, action: string): Error {
  if (
    error instanceof EngineUnavailableError ||
    error instanceof EngineTimeoutError ||
    error instanceof ImageMissingError ||
    error instanceof RuntimeMissingError ||
    error instanceof ContainerGoneError ||
    error instanceof NameInUseError ||
    error instanceof EngineError
  ) {
    return error;
  }
  const failure = (typeof error === "object" && error !== null ? error : {}) as EngineFailure;
  const message = typeof failure.message === "string" ? failure.message : String(error);
  const code = typeof failure.code === "string" ? failure.code : undefined;
  const options = { cause: error };
  if ((code !== undefined && unreachableCodes.has(code)) || failure.name === "AbortError" || failure.name === "TimeoutError") {
    return new EngineUnavailableError(`${action}: container engine unreachable (${code ?? message})`, options);
  }
  if (failure.statusCode === 404) {
    if (/no such image/i.test(message)) {
      return new ImageMissingError(`${action}: ${message.trim()}`, options);
    }
    return new ContainerGoneError(`${action}: ${message.trim()}`, options);
  }
  if (failure.statusCode === 400 && /unknown runtime specified/i.test(message)) {
    return new RuntimeMissingError(
      `${action}: ${message.trim()} (not registered with the engine: scripts/ensure-engine.sh registers gVisor's platforms)`,
      options,
    );
  }
  if (failure.statusCode === 409 && /already in use/i.test(message)) {
    return new NameInUseError(`${action}: ${message.trim()}`, options);
  }
  return new EngineError(`${action}: ${message.trim()}`, options);
}
