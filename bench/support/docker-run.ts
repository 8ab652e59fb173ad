import { execFile } from "node:child_process";

/** One plain `docker run --rm --network none`: the baseline the benchmarks measure Aurea against. */
export interface DockerRunOptions {
  /** The engine's runtime name (`runc`, `runsc`, `runsc-systrap`, ...). */
  readonly runtime: string;
  readonly image: string;
  /** The command in the container. */
  readonly argv: readonly string[];
  /** What stdout must be exactly; anything else rejects, so a baseline never times a failure. */
  readonly expected: string;
  readonly timeoutMs?: number;
}

export function dockerRun({ runtime, image, argv, expected, timeoutMs = 120_000 }: DockerRunOptions): Promise<void> {
  return new Promise((resolve, reject) =>
    execFile(
      "docker",
      ["run", "--rm", "--network", "none", "--runtime", runtime, image, ...argv],
      { timeout: timeoutMs, maxBuffer: 64 << 20 },
      (error, stdout) => {
        if (error) reject(error);
        else if (stdout !== expected)
          reject(new Error(`docker run: unexpected output (${stdout.length} bytes): ${stdout.slice(0, 80)}`));
        else resolve();
      },
    ),
  );
}
