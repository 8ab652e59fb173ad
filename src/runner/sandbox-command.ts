import { workspaceDir } from "../docker/container-options.js";

/**
 * The container's command: a POSIX shell that first extracts the workspace archive from the
 * first `archiveBytes` bytes of its stdin, then replaces itself with the program, whose stdin is
 * whatever follows. Files reach the workspace through the container's own processes because the
 * engine's archive API cannot write into a read-only root, and a tmpfs mounted at start hides
 * anything copied in before.
 *
 * `head -c N` reads no more than N bytes from a pipe, so the program's stdin starts exactly
 * after the archive.
 */
const script = [
  'head -c "$1" | tar -x -C ' + workspaceDir + " --no-same-owner --no-same-permissions -m",
  "shift",
  'exec "$@"',
].join(" && ");

export function sandboxCommand(archiveBytes: number, program: readonly string[]): string[] {
  return ["/bin/sh", "-c", script, "aurea-sandbox", String(archiveBytes), ...program];
}
