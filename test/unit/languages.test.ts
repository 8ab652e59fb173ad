import { describe, expect, it } from "vitest";
import { allLanguages, createLanguageRegistry, findLanguage, parseLanguage } from "../../src/runner/languages.js";

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
    const bad = { ...valid, name: "Lua!", run: [], warmLoader: "ruby", extra: 1, examples: { hello: {} } };
    const parsed = parseLanguage("lua.json", JSON.stringify(bad));
    expect("errors" in parsed && parsed.errors).toEqual([
      "lua.json: extra is not a known field",
      "lua.json: name must be a string matching /^[a-z][a-z0-9+#.-]{0,31}$/",
      "lua.json: warmLoader must be one of python, node, bash",
      "lua.json: run must be a non-empty list of non-empty strings",
      "lua.json: examples.hello must be an object with a non-empty code",
      "lua.json: examples.stdin must be an object with a non-empty code",
      "lua.json: examples.runtimeError must be an object with a non-empty code",
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

  it("finds the repository's languages by name and alias", () => {
    expect(allLanguages().map((language) => language.name)).toEqual(["bash", "javascript", "python"]);
    expect(findLanguage("py")?.name).toBe("python");
    expect(findLanguage("js")?.name).toBe("javascript");
    expect(findLanguage("ruby")).toBeUndefined();
  });
});
