import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { Ajv } from "ajv";
import { repositoryRoot } from "../config/repository.js";
import { type CompilerLoader, compilerLoaderKinds, type KernelName, type WarmLoader } from "../sandbox/sandbox-scripts.js";

/**
 * The languages Aurea runs, one data file each under `languages/` (at the repository's top):
 * adding a language is one file there plus its packages in its family's image, no TypeScript.
 * Every file is checked at start, by the parser below and against `languages/schema.json`; a bad
 * one stops the server with every problem of every file. The registry is made once (app.ts) and
 * passed to what needs it, like the engine clients.
 */

/** A small program of a language's own, run for real by the tests. */
export interface LanguageExample {
  readonly code: string;
  /** What the program reads on stdin. */
  readonly stdin?: string;
  /** What it must print on stdout, when that is part of the check. */
  readonly stdout?: string;
}

/** How a compiled language turns its source into what `command` runs, and the limits that takes. */
export interface CompileStep {
  /** Command line, run from the workspace with the source file in it. */
  readonly command: readonly string[];
  /** Wall-clock seconds a compile gets by default (a request may lower it, the server caps it). */
  readonly timeoutSeconds: number;
  /** Memory a compile gets by default, bytes (a request may lower it, the server caps it). */
  readonly memoryBytes: number;
  /** Processes and threads the compiler may have at once (compiler drivers start several). */
  readonly processes: number;
  /**
   * The compiler kept loaded in a warm container, for compilers whose start costs more than a
   * small compile (JVM compilers, tsc): the same messages, files and exit status as `command`.
   */
  readonly warm?: CompilerLoader;
}

export interface Language {
  /** Name callers put in `RunRequest.language`. */
  readonly name: string;
  /** How people write the language's name (`C++`, `C#`), for tables and pickers. */
  readonly title: string;
  /** Other names callers may use (`py`, `js`, ...). */
  readonly aliases: readonly string[];
  /** The image family whose image has this language's runtime. */
  readonly family: string;
  /** File the code is written to, relative to the workspace. */
  readonly fileName: string;
  /** How the source is compiled first; absent for languages that run their source. */
  readonly compile?: CompileStep;
  /** Command line that runs the program (the file, or what the compile made) from the workspace. */
  readonly command: readonly string[];
  /** `NAME=value` entries every run and compile of this language gets, before the request's own. */
  readonly env: readonly string[];
  /** Command line that prints the runtime's own version. */
  readonly versionCommand: readonly string[];
  /** Something a user should know about Debian's build of it (an old version), for the README table. */
  readonly note?: string;
  /**
   * The loader that keeps this language's runtime waiting in a warm container, if it has one (a
   * compile phase's view of its language carries its compiler's, compile-phase.ts).
   */
  readonly warmLoader?: WarmLoader | CompilerLoader;
  /** The interpreter a stateful session of this language runs its cells in (sandbox/kernels/), if any. */
  readonly kernel?: KernelName;
  /** Programs the tests run: hello world, stdin echo, a runtime error, and a compile error for compiled languages. */
  readonly examples: {
    readonly hello: LanguageExample;
    readonly stdin: LanguageExample;
    readonly runtimeError: LanguageExample;
    readonly compileError?: LanguageExample;
  };
}

export const warmLoaders: readonly WarmLoader[] = ["python", "node", "ruby", "exec"];
export const kernelNames: readonly KernelName[] = ["python", "javascript"];
const namePattern = /^[a-z][a-z0-9+#.-]{0,31}$/;
const fileNamePattern = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$/;
const envNamePattern = /^[A-Z_][A-Z0-9_]*$/;
const knownFields = [
  "$schema",
  "name",
  "title",
  "aliases",
  "family",
  "fileName",
  "compile",
  "command",
  "env",
  "versionCommand",
  "note",
  "warmLoader",
  "kernel",
  "examples",
];
const compileFields = ["command", "timeoutSeconds", "memoryBytes", "processes", "warm"];
const compilerLoaderFields = ["loader", "launch", "compiler", "arguments"];

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
  if (!isRecord(data)) return { errors: [`${source}: not a JSON object`] };
  const record = data;
  for (const key of Object.keys(record)) if (!knownFields.includes(key)) fail(key, "is not a known field");

  const text_ = (field: string, pattern: RegExp, value: unknown = record[field]): string => {
    if (typeof value !== "string" || !pattern.test(value)) fail(field, `must be a string matching ${pattern}`);
    return typeof value === "string" ? value : "";
  };
  const argv = (field: string, value: unknown = record[field]): string[] => {
    if (!Array.isArray(value) || value.length === 0 || !value.every((item) => typeof item === "string" && item !== "")) {
      fail(field, "must be a non-empty list of non-empty strings");
      return [];
    }
    return value as string[];
  };
  const positive = (field: string, value: unknown, most: number): number => {
    if (typeof value !== "number" || !Number.isFinite(value) || value <= 0 || value > most) {
      fail(field, `must be a number above 0 and at most ${most}`);
      return 0;
    }
    return value;
  };
  const name = text_("name", namePattern);
  const title = record.title === undefined ? name : text_("title", /^\S.{0,39}$/);
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
  const kernel = record.kernel;
  if (kernel !== undefined && !kernelNames.includes(kernel as KernelName)) {
    fail("kernel", `must be one of ${kernelNames.join(", ")}`);
  }
  const note = record.note === undefined ? undefined : text_("note", /^\S[^\n]{0,199}$/);

  let compile: CompileStep | undefined;
  if (record.compile !== undefined) {
    if (!isRecord(record.compile)) {
      fail("compile", "must be an object with command, timeoutSeconds, memoryBytes and processes");
    } else {
      const step = record.compile;
      for (const key of Object.keys(step)) if (!compileFields.includes(key)) fail(`compile.${key}`, "is not a known field");
      const warm = step.warm === undefined ? undefined : compilerLoader(step.warm);
      compile = {
        command: argv("compile.command", step.command),
        timeoutSeconds: positive("compile.timeoutSeconds", step.timeoutSeconds, 3600),
        memoryBytes: positive("compile.memoryBytes", step.memoryBytes, 64 * 2 ** 30),
        processes: positive("compile.processes", step.processes, 4096),
        ...(warm ? { warm } : {}),
      };
    }
  }

  function compilerLoader(value: unknown): CompilerLoader | undefined {
    if (!isRecord(value)) {
      fail("compile.warm", "must be an object with loader, launch, compiler and arguments");
      return undefined;
    }
    for (const key of Object.keys(value))
      if (!compilerLoaderFields.includes(key)) fail(`compile.warm.${key}`, "is not a known field");
    const loader = value.loader as CompilerLoader["loader"];
    if (!compilerLoaderKinds.includes(loader)) fail("compile.warm.loader", `must be one of ${compilerLoaderKinds.join(", ")}`);
    const compiler = typeof value.compiler === "string" && value.compiler !== "" ? value.compiler : "";
    if (compiler === "") fail("compile.warm.compiler", "must be a non-empty string");
    const args = value.arguments;
    if (!Array.isArray(args) || !args.every((item) => typeof item === "string" && item !== "")) {
      fail("compile.warm.arguments", "must be a list of non-empty strings");
    }
    return {
      loader,
      launch: argv("compile.warm.launch", value.launch),
      compiler,
      arguments: Array.isArray(args) ? (args as string[]) : [],
    };
  }

  const env: string[] = [];
  if (record.env !== undefined) {
    if (!isRecord(record.env)) fail("env", "must be an object of NAME: value strings");
    else
      for (const [key, value] of Object.entries(record.env)) {
        if (!envNamePattern.test(key) || typeof value !== "string" || value.includes("\0")) {
          fail(`env.${key}`, `must be a string, under a name matching ${envNamePattern}`);
        } else env.push(`${key}=${value}`);
      }
  }

  const examples = isRecord(record.examples) ? record.examples : undefined;
  const example = (key: string): LanguageExample => {
    const value = examples?.[key];
    if (!isRecord(value) || typeof value.code !== "string" || value.code === "") {
      fail(`examples.${key}`, "must be an object with a non-empty code");
      return { code: "" };
    }
    for (const field of Object.keys(value)) {
      if (!["code", "stdin", "stdout"].includes(field)) fail(`examples.${key}.${field}`, "is not a known field");
      else if (typeof value[field] !== "string") fail(`examples.${key}.${field}`, "must be a string");
    }
    return value as unknown as LanguageExample;
  };
  const hello = example("hello");
  const stdin = example("stdin");
  const runtimeError = example("runtimeError");
  let compileError: LanguageExample | undefined;
  if (compile) compileError = example("compileError");
  else if (examples?.compileError !== undefined) fail("examples.compileError", "is only for languages with a compile step");

  const language: Language = {
    name,
    title,
    aliases: Array.isArray(aliases) ? (aliases as string[]) : [],
    family,
    fileName,
    ...(compile ? { compile } : {}),
    command: argv("command"),
    env,
    versionCommand: argv("versionCommand"),
    ...(note === undefined ? {} : { note }),
    ...(warmLoader === undefined ? {} : { warmLoader: warmLoader as WarmLoader }),
    ...(kernel === undefined ? {} : { kernel: kernel as KernelName }),
    examples: { hello, stdin, runtimeError, ...(compileError ? { compileError } : {}) },
  };
  if (namePattern.test(name) && `${name}.json` !== source) fail("name", `must match the file's name (${source})`);
  return errors.length > 0 ? { errors } : { language };
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** The family built before the server serves (python, javascript, bash): Dockerfile.sandbox. */
export const coreFamily = "core";

/** The languages a server runs, by name and alias: made once at start and passed to what needs it. */
export interface LanguageRegistry {
  /** The language with this name or alias, in any case (`Python`, `C++`). */
  find(nameOrAlias: string): Language | undefined;
  /** Every language, by name. */
  all(): readonly Language[];
  /** Every language's name, sorted. */
  names(): string[];
  /** The image families the languages need, core first, then by name. */
  families(): string[];
}

/** The JSON Schema every language file follows (languages/schema.json): for editors, and checked at start. */
export type LanguageSchema = Record<string, unknown>;

/**
 * Checks a set of language files together, each against the schema and the rules no schema can
 * say (a name that matches its file, names and aliases unique across files); throws listing
 * every problem of every file.
 */
export function createLanguageRegistry(
  files: readonly { source: string; text: string }[],
  schema: LanguageSchema = readLanguageSchema(languagesDir()),
): LanguageRegistry {
  const validate = new Ajv({ allErrors: true, strict: true, strictRequired: false }).compile(schema);
  const errors: string[] = [];
  const languages: Language[] = [];
  for (const { source, text } of files) {
    const parsed = parseLanguage(source, text);
    if ("errors" in parsed) {
      errors.push(...parsed.errors);
      continue;
    }
    // The parser's words come first (they name the field as a person would); the schema is the
    // published contract, so a file it refuses is refused even where the parser let it be.
    if (!validate(JSON.parse(text))) {
      for (const error of validate.errors ?? []) errors.push(`${source}: ${error.instancePath || "/"} ${error.message}`);
      continue;
    }
    languages.push(parsed.language);
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
  const families = new Set(languages.map((language) => language.family));
  return {
    // Names are lowercase; people type `Python`, `C`, `Java`: the same language.
    find: (key) => byName.get(key.toLowerCase()),
    all: () => languages,
    names: () => languages.map((language) => language.name),
    families: () => [coreFamily, ...[...families].filter((family) => family !== coreFamily).sort()],
  };
}

/** The repository's `languages/` folder, where the data files and their schema live. */
export function languagesDir(): string {
  return join(repositoryRoot(), "languages");
}

function readLanguageSchema(dir: string): LanguageSchema {
  return JSON.parse(readFileSync(join(dir, schemaFile), "utf8")) as LanguageSchema;
}

const schemaFile = "schema.json";

/** Reads and checks every language file of `dir` (the repository's `languages/` by default). */
export function loadLanguageRegistry(dir = languagesDir()): LanguageRegistry {
  const files = readdirSync(dir)
    .filter((file) => file.endsWith(".json") && file !== schemaFile)
    .map((source) => ({ source, text: readFileSync(join(dir, source), "utf8") }));
  return createLanguageRegistry(files, readLanguageSchema(dir));
}
