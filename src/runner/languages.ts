import type { WarmLoader } from "./sandbox-scripts.js";

/**
 * The languages Aurea runs. Adding one is one entry here plus its runtime in Dockerfile.sandbox.
 */
export interface Language {
  /** Name callers put in `RunRequest.language`. */
  readonly name: string;
  /** File the code is written to, relative to the workspace. */
  readonly fileName: string;
  /** Command line that runs that file from the workspace. */
  readonly command: readonly string[];
  /** The loader that keeps this language's runtime waiting in a warm container, if it has one. */
  readonly warmLoader?: WarmLoader;
}

const registry: readonly Language[] = [
  // -u: unbuffered, so output reaches the caller as it is written rather than at exit.
  { name: "python", fileName: "main.py", command: ["python3", "-u", "main.py"], warmLoader: "python" },
  { name: "javascript", fileName: "main.js", command: ["node", "main.js"], warmLoader: "node" },
  { name: "bash", fileName: "main.sh", command: ["bash", "main.sh"], warmLoader: "bash" },
];

const byName = new Map(registry.map((language) => [language.name, language]));

export function findLanguage(name: string): Language | undefined {
  return byName.get(name);
}

export function languageNames(): string[] {
  return registry.map((language) => language.name);
}

/** Every language, in the order they are listed. */
export function allLanguages(): readonly Language[] {
  return registry;
}
