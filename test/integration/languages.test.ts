import { describe, expect, it } from "vitest";
import { allLanguages, type Language } from "../../src/runner/languages.js";
import { useAurea } from "../support/aurea-server.js";

/**
 * Driven by the data files in languages/: every language's own examples run for real. Adding a
 * language adds its cases here without a line of test code.
 */

const server = useAurea();

function examplesOf(language: Language, runtime: "runc" | "runsc") {
  const { hello, stdin, runtimeError } = language.examples;
  return [
    [`${language.name} under ${runtime}: hello world`, hello, "RUN_STATUS_OK"],
    [`${language.name} under ${runtime}: echoes its stdin`, stdin, "RUN_STATUS_OK"],
    [`${language.name} under ${runtime}: a runtime error`, runtimeError, "RUN_STATUS_RUNTIME_ERROR"],
  ] as const;
}

describe.each(allLanguages().map((language) => [language.name, language] as const))("%s", (_name, language) => {
  // Every example under runc; under runsc, hello world for each language as a sample.
  const cases = [
    ...examplesOf(language, "runc").map((c) => [...c, "runc"] as const),
    [...examplesOf(language, "runsc")[0], "runsc"] as const,
  ];
  it.each(cases)("%s", async (_title, example, status, runtime) => {
    const response = await server.client.run({
      language: language.name,
      code: example.code,
      runtime,
      ...(example.stdin !== undefined ? { stdin: Buffer.from(example.stdin) } : {}),
    });
    expect(response.status, String(response.stderr)).toBe(status);
    if (example.stdout !== undefined) expect(response.stdout).toBe(example.stdout);
  });

  it.each(language.aliases)("answers to its alias %s", async (alias) => {
    const response = await server.client.run({ language: alias, code: language.examples.hello.code });
    expect(response.status).toBe("RUN_STATUS_OK");
  });
});

describe("ListLanguages", () => {
  const versionPatterns: Record<string, RegExp> = {
    python: /^Python 3\.\d+\.\d+$/,
    javascript: /^v\d+\.\d+\.\d+$/,
    bash: /^\d+\.\d+\.\d+/,
  };

  it("lists every language with its aliases, family, limits and its runtime's own version", async () => {
    const { languages } = await server.client.listLanguages();
    expect((languages as { name: string }[]).map((language) => language.name)).toEqual(allLanguages().map((l) => l.name));
    for (const info of languages as Record<string, unknown>[]) {
      const language = allLanguages().find((l) => l.name === info.name)!;
      expect(info).toMatchObject({
        aliases: [...language.aliases],
        family: language.family,
        compiled: false,
        available: true,
        default_timeout: server.current.config.defaultTimeoutSeconds,
        max_timeout: server.current.config.maxTimeoutSeconds,
        maximum_limits: { pids: String(server.current.config.pidsLimit) },
      });
      expect(info.version, language.name).toMatch(versionPatterns[language.name] ?? /./);
    }
  });

  it("answers the same as JSON on GET /languages", async () => {
    const response = await fetch(`${server.current.baseUrl}/languages`);
    expect(response.status).toBe(200);
    const body = (await response.json()) as { languages: { name: string; version: string }[] };
    expect(body.languages.map((language) => language.name)).toEqual(allLanguages().map((l) => l.name));
    expect(body.languages.find((language) => language.name === "python")?.version).toMatch(/^Python 3\./);
  });
});
