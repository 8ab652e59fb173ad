import type { Language } from "../../src/runner/languages.js";
import type { ServerProcess } from "./spawn-server.js";

/**
 * Waits, untimed, until a warm server (LOG_LEVEL=debug) said ("warm container ready") that more of
 * the language's compile containers were ready than its compiles took warm (a loaded compiler warms
 * up for seconds after its container runs), or two minutes passed.
 */
export async function waitForWarmCompiler(server: ServerProcess, language: Language): Promise<void> {
  const deadline = Date.now() + 120_000;
  const count = (match: (entry: Record<string, unknown>) => boolean) => server.logs().filter(match).length;
  const ready = () => count((entry) => entry.msg === "warm container ready" && entry.warm_for === `${language.name}:compile`);
  const taken = () =>
    count(
      (entry) =>
        entry.msg === "run finished" &&
        entry.phase === "compile" &&
        entry.container === "warm" &&
        entry.language === language.name,
    );
  while (ready() <= taken() && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
}

/** A language's failed row, for the line under a bench's table: one line, at most 300 characters. */
export const failureLine = (language: Language, error: unknown): string =>
  `${language.name}: ${(error as Error).message.replaceAll("\n", " ").slice(0, 300)}`;
