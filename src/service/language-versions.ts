import { randomUUID } from "node:crypto";
import type { Logger } from "pino";
import type { SandboxLimits } from "../sandbox/limits.js";
import type { Runtime } from "../sandbox/runtimes.js";
import type { Language } from "../runner/languages.js";
import type { Runner } from "../runner/runner.js";

export interface LanguageVersionsOptions {
  readonly runner: Runner;
  readonly languages: readonly Language[];
  /** Limits of the version runs (the server's maxima). */
  readonly limits: SandboxLimits;
  readonly runtime: Runtime;
  readonly logger: Logger;
}

/** Each language's version, as its runtime reports it, read from the images themselves. */
export interface LanguageVersions {
  /** The version read for a language, or "" when it could not be read. */
  get(name: string): string;
  /**
   * Reads the version of every language of these families not read yet, on first need (so no
   * sandbox runs at start), a few at a time; later calls wait for a reading in progress or return
   * at once. Never rejects.
   */
  read(families: ReadonlySet<string>): Promise<void>;
  /** Forgets what was read (an image was rebuilt): the next `read` reads again. */
  invalidate(): void;
}

/** Version commands run at once: a first ListLanguages waits for them. */
const readConcurrency = 4;

/** Time one version command may take. */
const versionTimeoutMs = 20_000;

/**
 * Runs each language's version command in a sandbox of its own, one at a time, through the same
 * runner as every run: the same isolation, and nothing else to keep in step with the images.
 */
export function createLanguageVersions(options: LanguageVersionsOptions): LanguageVersions {
  let versions = new Map<string, string>();
  /** Readings in progress or done, by language; a failed one is forgotten so it is tried again. */
  let readings = new Map<string, Promise<void>>();

  async function readVersion(language: Language, into: Map<string, string>): Promise<void> {
    const runId = randomUUID();
    try {
      const outcome = await options.runner.run({
        runId,
        // The version command in place of the program's: the file it would run stays empty.
        language: { ...language, command: language.versionCommand, warmLoader: undefined },
        code: "",
        files: [],
        stdin: new Uint8Array(),
        args: [],
        env: [...language.env],
        timeoutMs: versionTimeoutMs,
        readonlyRootfs: true,
        runtime: options.runtime,
        limits: options.limits,
        artifacts: undefined,
      });
      // Some runtimes print their version on stderr (java -version).
      const text = (outcome.stdout.length > 0 ? outcome.stdout : outcome.stderr).toString("utf8");
      const version = text.trim().split("\n")[0]?.trim() ?? "";
      if (outcome.verdict === "ok" && version !== "") {
        into.set(language.name, version);
        return;
      }
      options.logger.warn({ run_id: runId, language: language.name, status: outcome.verdict }, "language version not read");
    } catch (error) {
      options.logger.warn({ run_id: runId, language: language.name, err: (error as Error).message }, "language version not read");
    }
    if (into === versions) readings.delete(language.name);
  }

  return {
    get: (name) => versions.get(name) ?? "",
    async read(families) {
      const into = versions;
      const wanted = options.languages.filter((language) => families.has(language.family));
      const queue = wanted.filter((language) => !readings.has(language.name));
      const workers = Array.from({ length: Math.min(readConcurrency, queue.length) }, async () => {
        for (let language = queue.shift(); language; language = queue.shift()) {
          const reading = readVersion(language, into);
          readings.set(language.name, reading);
          await reading;
        }
      });
      await Promise.all(workers);
      await Promise.all(wanted.map((language) => readings.get(language.name)));
    },
    invalidate() {
      versions = new Map();
      readings = new Map();
    },
  };
}
