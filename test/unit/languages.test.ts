import { readFileSync } from "node:fs";
import { join } from "node:path";
import { Ajv } from "ajv";
import { describe, expect, it } from "vitest";
import { createLanguageRegistry, languagesDir, parseLanguage } from "../../src/runner/languages.js";
import { repositoryLanguages } from "../support/languages.js";
import { familyImage, imageFamilies } from "../../src/service/image-families.js";

const valid = {
  name: "lua",
  aliases: ["lua5.4"],
  family: "core",
  fileName: "main.lua",
  command: ["lua", "main.lua"],
  versionCommand: ["lua", "-v"],
  examples: {
    hello: { code: "print('Hello, world!')", stdout: "Hello, world!\n" },
    stdin: { code: "io.write(io.read('a'):upper())", stdin: "x\n", stdout: "X\n" },
    runtimeError: { code: "error('boom')" },
  },
};

describe("language data files", () => {
  it("reads a valid file", () => {
    const parsed = parseLanguage("lua.json", JSON.stringify(valid));
    expect(parsed).toMatchObject({
      language: { name: "lua", aliases: ["lua5.4"], command: ["lua", "main.lua"], versionCommand: ["lua", "-v"] },
    });
  });

  it("lists every problem of a file at once", () => {
    const bad = {
      ...valid,
      name: "Lua!",
      command: [],
      warmLoader: "cobol",
      extra: 1,
      env: { "bad name": "x" },
      examples: { hello: {}, compileError: { code: "x" } },
    };
    const parsed = parseLanguage("lua.json", JSON.stringify(bad));
    expect("errors" in parsed && parsed.errors).toEqual([
      "lua.json: extra is not a known field",
      "lua.json: name must be a string matching /^[a-z][a-z0-9+#.-]{0,31}$/",
      "lua.json: warmLoader must be one of python, node, ruby, exec",
      "lua.json: env.bad name must be a string, under a name matching /^[A-Z_][A-Z0-9_]*$/",
      "lua.json: examples.hello must be an object with a non-empty code",
      "lua.json: examples.stdin must be an object with a non-empty code",
      "lua.json: examples.runtimeError must be an object with a non-empty code",
      "lua.json: examples.compileError is only for languages with a compile step",
      "lua.json: command must be a non-empty list of non-empty strings",
    ]);
    expect(parseLanguage("x.json", "{")).toMatchObject({ errors: [expect.stringMatching(/^x\.json: not JSON/)] });
  });

  it("refuses a set with a name or alias twice, and names the file and both owners", () => {
    const twin = { ...valid, name: "luajit", aliases: ["lua5.4"] };
    expect(() =>
      createLanguageRegistry([
        { source: "lua.json", text: JSON.stringify(valid) },
        { source: "luajit.json", text: JSON.stringify(twin) },
      ]),
    ).toThrow('invalid language files: luajit.json: "lua5.4" is already lua\'s');
    expect(() => createLanguageRegistry([{ source: "other.json", text: JSON.stringify(valid) }])).toThrow(
      "other.json: name must match the file's name (other.json)",
    );
  });

  it("reads a compiled language: its compile step, and a compile error example it must have", () => {
    const compiled = {
      ...valid,
      compile: { command: ["luac", "main.lua"], timeoutSeconds: 10, memoryBytes: 1 << 28, processes: 8 },
      examples: { ...valid.examples, compileError: { code: "x = = 1" } },
    };
    expect(parseLanguage("lua.json", JSON.stringify(compiled))).toMatchObject({
      language: { compile: { command: ["luac", "main.lua"], timeoutSeconds: 10, memoryBytes: 1 << 28, processes: 8 } },
    });
    const without = { ...compiled, examples: valid.examples, compile: { command: [], timeoutSeconds: 0, memory: 1 } };
    expect(
      "errors" in parseLanguage("lua.json", JSON.stringify(without)) && parseLanguage("lua.json", JSON.stringify(without)),
    ).toEqual({
      errors: [
        "lua.json: compile.memory is not a known field",
        "lua.json: compile.command must be a non-empty list of non-empty strings",
        "lua.json: compile.timeoutSeconds must be a number above 0 and at most 3600",
        "lua.json: compile.memoryBytes must be a number above 0 and at most 68719476736",
        "lua.json: compile.processes must be a number above 0 and at most 4096",
        "lua.json: examples.compileError must be an object with a non-empty code",
      ],
    });
  });

  it("reads a compile step's warm compiler, and names every problem of one", () => {
    const step = { command: ["javac", "Main.java"], timeoutSeconds: 10, memoryBytes: 1 << 28, processes: 8 };
    const warm = { loader: "jvm-compiler", launch: ["java", "-Xss8m"], compiler: "javac", arguments: ["Main.java"] };
    const compiled = { ...valid, compile: { ...step, warm }, examples: { ...valid.examples, compileError: { code: "x" } } };
    expect(parseLanguage("lua.json", JSON.stringify(compiled))).toMatchObject({ language: { compile: { warm } } });
    const bad = {
      ...compiled,
      compile: { ...step, warm: { loader: "gcc", launch: [], compiler: "", arguments: [1], extra: 1 } },
    };
    expect(parseLanguage("lua.json", JSON.stringify(bad))).toEqual({
      errors: [
        "lua.json: compile.warm.extra is not a known field",
        "lua.json: compile.warm.loader must be one of jvm-compiler, tsc",
        "lua.json: compile.warm.compiler must be a non-empty string",
        "lua.json: compile.warm.arguments must be a list of non-empty strings",
        "lua.json: compile.warm.launch must be a non-empty list of non-empty strings",
      ],
    });
  });

  it("finds the repository's languages by name and alias: at least fifty, the seventeen promised among them", () => {
    const names = repositoryLanguages.all().map((language) => language.name);
    expect(names.length).toBeGreaterThanOrEqual(50);
    const promised = ["python", "javascript", "typescript", "bash", "c", "cpp", "go", "rust", "java", "csharp", "ruby"];
    expect(names).toEqual(expect.arrayContaining([...promised, "php", "perl", "lua", "r", "haskell", "sql"]));
    expect(names).toEqual([...names].sort());
    expect(repositoryLanguages.find("py")?.name).toBe("python");
    expect(repositoryLanguages.find("js")?.name).toBe("javascript");
    expect(repositoryLanguages.find("ts")?.name).toBe("typescript");
    expect(repositoryLanguages.find("c++")?.name).toBe("cpp");
    expect(repositoryLanguages.find("golang")?.name).toBe("go");
    expect(repositoryLanguages.find("klingon")).toBeUndefined();
  });

  it("finds names and aliases as people type them, in any case", () => {
    for (const [typed, name] of [
      ["Python", "python"],
      ["JAVA", "java"],
      ["C", "c"],
      ["R", "r"],
      ["C++", "cpp"],
      ["C#", "csharp"],
      ["Golang", "go"],
      ["TypeScript", "typescript"],
    ]) {
      expect(repositoryLanguages.find(typed!)?.name, typed).toBe(name);
    }
  });

  it("has a Dockerfile for every family a language names, core first", () => {
    const families = imageFamilies(repositoryLanguages, "aurea-sandbox:latest", "Dockerfile.sandbox");
    expect(families[0]).toMatchObject({
      name: "core",
      image: "aurea-sandbox:latest",
      languages: ["bash", "javascript", "python"],
    });
    expect(families.find((family) => family.name === "native")?.image).toBe("aurea-sandbox-native:latest");
    expect(familyImage("registry.local:5000/aurea/sandbox:v2", "jvm")).toBe("registry.local:5000/aurea/sandbox-jvm:v2");
    expect(familyImage("aurea-sandbox", "jvm")).toBe("aurea-sandbox-jvm");
  });
});

describe("languages/schema.json", () => {
  const schema = JSON.parse(readFileSync(join(languagesDir(), "schema.json"), "utf8")) as Record<string, unknown>;
  const validate = new Ajv({ allErrors: true, strict: true, strictRequired: false }).compile(schema);

  it("accepts every language file of the repository, which names it for editors", () => {
    for (const language of repositoryLanguages.all()) {
      const data = JSON.parse(readFileSync(join(languagesDir(), `${language.name}.json`), "utf8")) as Record<string, unknown>;
      expect(validate(data), `${language.name}.json: ${JSON.stringify(validate.errors)}`).toBe(true);
      expect(data.$schema).toBe("./schema.json");
    }
  });

  it("refuses what the parser refuses: unknown fields, bad names, a compile step without its compile error example", () => {
    expect(validate({ ...valid, extra: 1 })).toBe(false);
    expect(validate({ ...valid, name: "Lua!" })).toBe(false);
    expect(validate({ ...valid, compile: { command: ["luac"], timeoutSeconds: 1, memoryBytes: 1, processes: 1 } })).toBe(false);
    expect(validate({ ...valid, examples: { ...valid.examples, compileError: { code: "x" } } })).toBe(false);
    expect(validate(valid)).toBe(true);
  });

  it("is checked at start: a file the schema refuses stops the registry, named with the schema's words", () => {
    const stricter = { ...schema, required: [...(schema.required as string[]), "title"] };
    expect(() => createLanguageRegistry([{ source: "lua.json", text: JSON.stringify(valid) }], stricter)).toThrow(
      "invalid language files: lua.json: / must have required property 'title'",
    );
  });
});
