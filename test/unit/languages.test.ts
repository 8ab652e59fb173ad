import { describe, expect, it } from "vitest";
import { allLanguages, createLanguageRegistry, findLanguage, parseLanguage } from "../../src/runner/languages.js";
import { familyImage, imageFamilies } from "../../src/service/image-families.js";

const valid = {
  name: "lua",
  aliases: ["lua5.4"],
  family: "core",
  fileName: "main.lua",
  run: ["lua", "main.lua"],
  version: ["lua", "-v"],
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
      run: [],
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
      "lua.json: run must be a non-empty list of non-empty strings",
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
      compile: { command: ["luac", "main.lua"], timeout: 10, memoryBytes: 1 << 28, processes: 8 },
      examples: { ...valid.examples, compileError: { code: "x = = 1" } },
    };
    expect(parseLanguage("lua.json", JSON.stringify(compiled))).toMatchObject({
      language: { compile: { command: ["luac", "main.lua"], timeoutSeconds: 10, memoryBytes: 1 << 28, processes: 8 } },
    });
    const without = { ...compiled, examples: valid.examples, compile: { command: [], timeout: 0, memory: 1 } };
    expect(
      "errors" in parseLanguage("lua.json", JSON.stringify(without)) && parseLanguage("lua.json", JSON.stringify(without)),
    ).toEqual({
      errors: [
        "lua.json: compile.memory is not a known field",
        "lua.json: compile.command must be a non-empty list of non-empty strings",
        "lua.json: compile.timeout must be a number above 0 and at most 3600",
        "lua.json: compile.memoryBytes must be a number above 0 and at most 68719476736",
        "lua.json: compile.processes must be a number above 0 and at most 4096",
        "lua.json: examples.compileError must be an object with a non-empty code",
      ],
    });
  });

  it("finds the repository's languages by name and alias: at least thirty, the seventeen promised among them", () => {
    const names = allLanguages().map((language) => language.name);
    expect(names.length).toBeGreaterThanOrEqual(30);
    const promised = ["python", "javascript", "typescript", "bash", "c", "cpp", "go", "rust", "java", "csharp", "ruby"];
    expect(names).toEqual(expect.arrayContaining([...promised, "php", "perl", "lua", "r", "haskell", "sql"]));
    expect(names).toEqual([...names].sort());
    expect(findLanguage("py")?.name).toBe("python");
    expect(findLanguage("js")?.name).toBe("javascript");
    expect(findLanguage("ts")?.name).toBe("typescript");
    expect(findLanguage("c++")?.name).toBe("cpp");
    expect(findLanguage("golang")?.name).toBe("go");
    expect(findLanguage("brainfuck")).toBeUndefined();
  });

  it("has a Dockerfile for every family a language names, core first", () => {
    const families = imageFamilies("aurea-sandbox:latest", "Dockerfile.sandbox");
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
