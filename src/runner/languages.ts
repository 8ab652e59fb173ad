import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { WarmLoader } from "./sandbox-scripts.js";

/**
 * The languages Aurea runs, one data file each under `languages/` (at the repository's top):
 * adding a language is one file there plus its packages in its family's image, no TypeScript.
 * Every file is checked at start; a bad one stops the server with every problem of every file.
 */

/** A small program of a language's own, run for real by the tests. */
export interface LanguageExample {
  readonly code: string;
  /** What the program reads on stdin. */
  readonly stdin?: string;
  /** What it must print on stdout, when that is part of the check. */
  readonly stdout?: string;
}

export interface Language {
  /** Name callers put in `RunRequest.language`. */
  readonly name: string;
  /** Other names callers may use (`py`, `js`, ...). */
  readonly aliases: readonly string[];
  /** The image family whose image has this language's runtime. */
  readonly family: string;
  /** File the code is written to, relative to the workspace. */
  readonly fileName: string;
  /** Command line that runs that file from the workspace. */
  readonly command: readonly string[];
  /** Command line that prints the runtime's own version. */
  readonly versionCommand: readonly string[];
  /** The loader that keeps this language's runtime waiting in a warm container, if it has one. */
  readonly warmLoader?: WarmLoader;
  /** Programs the tests run: hello world, stdin echo, a runtime error. */
  readonly examples: {
    readonly hello: LanguageExample;
    readonly stdin: LanguageExample;
    readonly runtimeError: LanguageExample;
  };
}

const warmLoaders: readonly WarmLoader[] = ["python", "node", "bash"];
const namePattern = /^[a-z][a-z0-9+#.-]{0,31}$/;
const fileNamePattern = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$/;

/** Checks one language file; returns the language, or every problem found in it. */
export function parseLanguage(
  source: string,
  text: string,
): { readonly language: Language } | { readonly errors: readonly string[] } {
  const errors: string[] = [];
  const fail = (field: string, problem: string) => errors.push(`${source}: ${field} ${problem}`);
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (error) {
    return { errors: [`${source}: not JSON (${(error as Error).message})`] };
  }
  if (typeof data !== "object" || data === null || Array.isArray(data)) return { errors: [`${source}: not a JSON object`] };
  const record = data as Record<string, unknown>;
  const known = ["name", "aliases", "family", "fileName", "run", "version", "warmLoader", "examples"];
  for (const key of Object.keys(record)) if (!known.includes(key)) fail(key, "is not a known field");

  const text_ = (field: string, pattern: RegExp): string => {
    const value = record[field];
    if (typeof value !== "string" || !pattern.test(value)) fail(field, `must be a string matching ${pattern}`);
    return typeof value === "string" ? value : "";
  };
  const argv = (field: string): string[] => {
    const value = record[field];
    if (!Array.isArray(value) || value.length === 0 || !value.every((item) => typeof item === "string" && item !== "")) {
      fail(field, "must be a non-empty list of non-empty strings");
      return [];
    }
    return value as string[];
  };
  const name = text_("name", namePattern);
  const family = text_("family", /^[a-z][a-z0-9-]{0,31}$/);
  const fileName = text_("fileName", fileNamePattern);
  const aliases = record.aliases ?? [];
  if (!Array.isArray(aliases) || !aliases.every((alias) => typeof alias === "string" && namePattern.test(alias))) {
    fail("aliases", `must be a list of names matching ${namePattern}`);
  }
  const warmLoader = record.warmLoader;
  if (warmLoader !== undefined && !warmLoaders.includes(warmLoader as WarmLoader)) {
    fail("warmLoader", `must be one of ${warmLoaders.join(", ")}`);
  }
  const examples = record.examples as Record<string, unknown> | undefined;
  const example = (key: string): LanguageExample => {
    const value = examples?.[key] as Record<string, unknown> | undefined;
    if (typeof value !== "object" || value === null || typeof value.code !== "string" || value.code === "") {
      fail(`examples.${key}`, "must be an object with a non-empty code");
      return { code: "" };
    }
    for (const optional of ["stdin", "stdout"]) {
      if (value[optional] !== undefined && typeof value[optional] !== "string")
        fail(`examples.${key}.${optional}`, "must be a string");
    }
    return value as unknown as LanguageExample;
  };
  const language: Language = {
    name,
    aliases: Array.isArray(aliases) ? (aliases as string[]) : [],
    family,
    fileName,
    command: argv("run"),
    versionCommand: argv("version"),
    ...(warmLoader === undefined ? {} : { warmLoader: warmLoader as WarmLoader }),
    examples: { hello: example("hello"), stdin: example("stdin"), runtimeError: example("runtimeError") },
  };
  if (namePattern.test(name) && `${name}.json` !== source) fail("name", `must match the file's name (${source})`);
  return errors.length > 0 ? { errors } : { language };
}

/** A set of languages by name and alias. */
export interface LanguageRegistry {
  /** The language with this name or alias. */
  find(nameOrAlias: string): Language | undefined;
  /** Every language, by name. */
  all(): readonly Language[];
}

/** Checks a set of language files together; throws listing every problem of every file. */
export function createLanguageRegistry(files: readonly { source: string; text: string }[]): LanguageRegistry {
  const errors: string[] = [];
  const languages: Language[] = [];
  for (const { source, text } of files) {
    const parsed = parseLanguage(source, text);
    if ("errors" in parsed) errors.push(...parsed.errors);
    else languages.push(parsed.language);
  }
  const byName = new Map<string, Language>();
  for (const language of languages) {
    for (const key of [language.name, ...language.aliases]) {
      const taken = byName.get(key);
      if (taken) errors.push(`${language.name}.json: ${JSON.stringify(key)} is already ${taken.name}'s`);
      else byName.set(key, language);
    }
  }
  if (languages.length === 0 && errors.length === 0) errors.push("no language files");
  if (errors.length > 0) throw new Error(`invalid language files: ${errors.join("; ")}`);
  languages.sort((a, b) => a.name.localeCompare(b.name));
  return { find: (key) => byName.get(key), all: () => languages };
}

/** The repository's `languages/` folder, from this file in src/ or in dist/src/. */
function languagesDir(): string {
  const here = fileURLToPath(new URL(".", import.meta.url));
  const root = here.includes("/dist/src/") ? join(here, "../../..") : join(here, "../..");
  return join(root, "languages");
}

let registry: LanguageRegistry | undefined;

/** The languages of `languages/`, read and checked once. */
function languages(): LanguageRegistry {
  if (!registry) {
    const dir = languagesDir();
    const files = readdirSync(dir)
      .filter((file) => file.endsWith(".json"))
      .map((source) => ({ source, text: readFileSync(join(dir, source), "utf8") }));
    registry = createLanguageRegistry(files);
  }
  return registry;
}

export function findLanguage(nameOrAlias: string): Language | undefined {
  return languages().find(nameOrAlias);
}

export function languageNames(): string[] {
  return languages()
    .all()
    .map((language) => language.name);
}

/** Every language, by name. */
export function allLanguages(): readonly Language[] {
  return languages().all();
}
