import { describe, expect, it } from "vitest";
import type { Language, LanguageExample } from "../../src/runner/languages.js";
import { repositoryLanguages } from "../support/languages.js";
import { useAurea } from "../support/aurea-server.js";

/**
 * Driven by the data files in languages/: every language's own examples run for real, under runc,
 * and hello world under runsc for one language of each image family. Adding a language adds its
 * cases here without a line of test code.
 */

const server = useAurea();

/** Compilers (kotlinc, scalac, ghc) take seconds; two runs at once keep both cores busy. */
const slowTimeoutMs = 180_000;

type Case = readonly [title: string, runtime: "runc" | "runsc", example: LanguageExample, status: string];

function casesOf(language: Language): Case[] {
  const { hello, stdin, runtimeError, compileError } = language.examples;
  const cases: Case[] = [
    ["hello world", "runc", hello, "RUN_STATUS_OK"],
    ["echoes its stdin", "runc", stdin, "RUN_STATUS_OK"],
    ["a runtime error", "runc", runtimeError, "RUN_STATUS_RUNTIME_ERROR"],
  ];
  if (compileError) cases.push(["a compile error", "runc", compileError, "RUN_STATUS_COMPILE_ERROR"]);
  const sampleOfFamily = repositoryLanguages.all().find((candidate) => candidate.family === language.family) === language;
  if (sampleOfFamily) cases.push(["hello world", "runsc", hello, "RUN_STATUS_OK"]);
  return cases;
}

describe.concurrent.each(repositoryLanguages.all().map((language) => [language.name, language] as const))(
  "%s",
  (_name, language) => {
    it.each(casesOf(language))(
      "%s under %s",
      async (_title, runtime, example, status) => {
        const { hello } = language.examples;
        const response = await server.client.run({
          language: language.name,
          code: example.code,
          runtime,
          ...(example.stdin !== undefined ? { stdin: Buffer.from(example.stdin) } : {}),
        });
        const compile = response.compile as { stdout: string; stderr: string; execution_time: number } | null;
        const detail = `${response.stderr}${compile ? ` / compile: ${compile.stderr}${compile.stdout}` : ""}`;
        expect(response.status, detail).toBe(status);
        if (example.stdout !== undefined) expect(response.stdout).toBe(example.stdout);
        if (example === hello) {
          // No runtime's or compiler's notice: a judge that reads stderr sees only the program's.
          expect(response.stderr, "the run's stderr").toBe("");
          expect(compile?.stderr ?? "", "the compiler's stderr").toBe("");
        }
        // A runtime error of the program's own, not a command that could not be started.
        if (status === "RUN_STATUS_RUNTIME_ERROR") expect([126, 127], detail).not.toContain(response.exit_code);
        if (language.compile) {
          // The compile phase is reported apart from the run, with its own verdict and output.
          const compileStatus = status === "RUN_STATUS_COMPILE_ERROR" ? "RUN_STATUS_RUNTIME_ERROR" : "RUN_STATUS_OK";
          expect(compile, detail).toMatchObject({ status: compileStatus });
          expect(compile?.execution_time).toBeGreaterThan(0);
          if (status === "RUN_STATUS_COMPILE_ERROR") {
            expect(`${compile?.stderr}${compile?.stdout}`).not.toBe("");
            expect(response).toMatchObject({ success: false, exit_code: -1, stdout: "", stderr: "" });
          }
        } else {
          expect(compile).toBeNull();
        }
      },
      slowTimeoutMs,
    );

    it(
      "answers to its aliases",
      async () => {
        for (const alias of language.aliases) {
          const response = await server.client.run({ language: alias, code: "x" });
          // Any verdict: the alias was accepted and reached this language's sandbox.
          expect(response.run_id, alias).toBeTruthy();
        }
      },
      slowTimeoutMs,
    );
  },
);

describe("ListLanguages", () => {
  const versionPatterns: Record<string, RegExp> = {
    python: /^Python 3\.13\.\d+$/,
    javascript: /^v20\.\d+\.\d+$/,
    bash: /^5\.2\.\d+/,
    c: /^gcc .*14\.\d+\.\d+/,
    go: /^go version go1\.24/,
    rust: /^rustc 1\.85/,
    java: /^openjdk version "21\./,
  };

  it(
    "lists every language with its aliases, family, limits and its runtime's own version",
    async () => {
      const languages = (await server.client.listLanguages()).languages as Record<string, unknown>[];
      expect((languages as { name: string }[]).map((language) => language.name)).toEqual(
        repositoryLanguages.all().map((l) => l.name),
      );
      for (const info of languages) {
        const language = repositoryLanguages.all().find((l) => l.name === info.name)!;
        expect(info, language.name).toMatchObject({
          aliases: [...language.aliases],
          family: language.family,
          compiled: language.compile !== undefined,
          warm: language.warmLoader !== undefined,
          available: true,
          default_timeout: server.current.config.defaultTimeoutSeconds,
          max_timeout: server.current.config.maxTimeoutSeconds,
          maximum_limits: { pids: String(server.current.config.pidsLimit) },
          default_compile_timeout: language.compile ? expect.any(Number) : 0,
        });
        expect(info.version, language.name).toMatch(versionPatterns[language.name] ?? /\S/);
      }
      expect(languages.length).toBeGreaterThanOrEqual(30);
    },
    slowTimeoutMs,
  );

  it(
    "answers the same as JSON on GET /languages",
    async () => {
      const response = await fetch(`${server.current.baseUrl}/languages`);
      expect(response.status).toBe(200);
      const body = (await response.json()) as { languages: { name: string; version: string }[] };
      expect(body.languages.map((language) => language.name)).toEqual(repositoryLanguages.all().map((l) => l.name));
      expect(body.languages.find((language) => language.name === "python")?.version).toMatch(/^Python 3\./);
    },
    slowTimeoutMs,
  );

  it("Health lists every family's image as present, with its languages", async () => {
    const health = await server.client.health();
    expect((health.families as { name: string }[]).map((family) => family.name)).toEqual(repositoryLanguages.families());
    for (const family of health.families as { name: string; present: boolean; languages: string[] }[]) {
      expect(family.present, family.name).toBe(true);
      expect(family.languages).toEqual(
        repositoryLanguages
          .all()
          .filter((l) => l.family === family.name)
          .map((l) => l.name),
      );
    }
  });
});
