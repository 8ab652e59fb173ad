import { create } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import type { MessageInitShape } from "@bufbuild/protobuf";
import { ResourceLimitsSchema, RunRequestSchema, type RunRequest } from "../../gen/aurea/sandbox/v1/sandbox_pb.js";
import { repositoryLanguages } from "../support/languages.js";
import { fileNameProblem, validateRunRequest, type RunPolicy } from "../../src/service/run-request.js";
import { testPolicy } from "../support/policy.js";

const policy: RunPolicy = testPolicy;

type RequestInit = MessageInitShape<typeof RunRequestSchema>;

function request(fields: RequestInit = {}): RunRequest {
  return create(RunRequestSchema, { code: "print(1)", language: "python", ...fields });
}

function violations(fields: RequestInit): string[] {
  const result = validateRunRequest(request(fields), policy, "run-1");
  return result.ok ? [] : result.violations.map((v) => `${v.field}: ${v.description}`);
}

describe("validateRunRequest", () => {
  it("resolves defaults for a minimal request", () => {
    const result = validateRunRequest(request(), policy, "run-1");
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(result.spec).toMatchObject({
      runId: "run-1",
      timeoutMs: 30_000,
      readonlyRootfs: true,
      limits: { cpu: 1, memoryBytes: 512 * 1024 * 1024, pids: 64 },
    });
    expect(result.spec.language.name).toBe("python");
  });

  it("takes lower limits and an explicit readonly false", () => {
    const result = validateRunRequest(
      request({
        timeout: 2.5,
        readonly: false,
        limits: create(ResourceLimitsSchema, { cpu: 0.25, memoryBytes: 64n * 1024n * 1024n, pids: 16n }),
      }),
      policy,
      "run-1",
    );
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(result.spec).toMatchObject({
      timeoutMs: 2500,
      readonlyRootfs: false,
      limits: { cpu: 0.25, memoryBytes: 64 * 1024 * 1024, pids: 16 },
    });
  });

  it("names the field of each problem", () => {
    expect(violations({ language: "klingon" })).toEqual([
      `language: unknown language "klingon"; one of ${repositoryLanguages
        .all()
        .map((language) => language.name)
        .join(", ")}`,
    ]);
    expect(violations({ language: "" })[0]).toMatch(/^language: is required/);
    expect(violations({ code: "  \n" })[0]).toMatch(/^code: is required/);
    expect(violations({ code: "x".repeat(1001) })[0]).toMatch(/^code: is 1001 bytes; at most 1000/);
    expect(violations({ timeout: -1 })[0]).toMatch(/^timeout: must be a positive/);
    expect(violations({ timeout: 301 })[0]).toMatch(/^timeout: 301 s is above the maximum of 300 s/);
    expect(violations({ timeout: Number.NaN })[0]).toMatch(/^timeout:/);
  });

  it("lets limits only lower the server maxima", () => {
    const over = create(ResourceLimitsSchema, { cpu: 2, memoryBytes: 1024n ** 3n, pids: 1000n });
    expect(violations({ limits: over })).toEqual([
      "limits.cpu: 2 cores is above the server maximum of 1 cores",
      "limits.memory_bytes: 1073741824 bytes is above the server maximum of 536870912 bytes",
      "limits.pids: 1000 processes is above the server maximum of 64 processes",
    ]);
    const negative = create(ResourceLimitsSchema, { cpu: -1, memoryBytes: -5n, pids: -1n });
    expect(violations({ limits: negative })).toHaveLength(3);
    const tiny = create(ResourceLimitsSchema, { memoryBytes: 1024n });
    expect(violations({ limits: tiny })[0]).toMatch(/^limits.memory_bytes: 1024 bytes is below the minimum/);
  });

  it("reports all problems at once", () => {
    expect(violations({ language: "whitespace", code: "", timeout: -3 })).toHaveLength(3);
  });

  it("gives a compiled language its compile limits: the language's defaults, cut to the server's maxima, lowered by the request", () => {
    const c = validateRunRequest(request({ language: "c", code: "int main(){}" }), policy, "r");
    expect(c.ok && c.spec.compile).toMatchObject({ timeoutMs: 30_000, limits: { memoryBytes: 1024 ** 3, pids: 64 } });
    const lowered = validateRunRequest(
      request({ language: "c", code: "int main(){}", compileTimeout: 2.5, compileMemoryBytes: BigInt(256 * 1024 * 1024) }),
      policy,
      "r",
    );
    expect(lowered.ok && lowered.spec.compile).toMatchObject({ timeoutMs: 2500, limits: { memoryBytes: 256 * 1024 * 1024 } });
    const capped = validateRunRequest(
      request({ language: "kotlin", code: "x" }),
      { ...policy, maxCompileTimeoutSeconds: 10 },
      "r",
    );
    expect(capped.ok && capped.spec.compile?.timeoutMs).toBe(10_000);
    expect(violations({ language: "c", compileTimeout: 61 })).toEqual(["compile_timeout: 61 s is above the maximum of 60 s"]);
    expect(violations({ language: "c", compileMemoryBytes: BigInt(3 * 1024 ** 3) })[0]).toMatch(
      /^compile_memory_bytes: \d+ bytes is above the server maximum/,
    );
    const python = validateRunRequest(request({ compileTimeout: 5 }), policy, "r");
    expect(python.ok && python.spec.compile).toBeUndefined();
  });

  it("puts the language's own environment before the request's, so the request wins", () => {
    const go = validateRunRequest(request({ language: "go", code: "package main", env: { GOCACHE: "/tmp/mine" } }), policy, "r");
    expect(go.ok && go.spec.env).toEqual([...(repositoryLanguages.find("go")?.env ?? []), "GOCACHE=/tmp/mine"]);
  });

  it("accepts files in sub-directories and refuses collisions with the code file", () => {
    const ok = validateRunRequest(request({ files: { "src/util.py": "x = 1", "data.txt": "hi" } }), policy, "r");
    expect(ok.ok).toBe(true);
    expect(violations({ files: { "main.py": "print(2)" } })).toEqual(['files["main.py"]: collides with the code file main.py']);
    expect(violations({ files: { a: "1", "a/b": "2" } })).toEqual([
      'files["a"]: is both a file and the directory of another file',
    ]);
  });

  it("takes binary files, refusing a name given twice or twice once normalised", () => {
    const ok = validateRunRequest(request({ binaryFiles: { "blob.bin": new Uint8Array([0, 255]) } }), policy, "r");
    expect(ok.ok && [...ok.spec.files[0]!.content]).toEqual([0, 255]);
    expect(violations({ files: { x: "1" }, binaryFiles: { x: new Uint8Array([1]) } })).toEqual([
      'binary_files["x"]: names the same file as files["x"]',
    ]);
    expect(violations({ files: { "caf\u00e9": "nfc", "cafe\u0301": "nfd" } })).toEqual([
      'files["cafe\u0301"]: names the same file as files["café"]',
    ]);
    expect(violations({ binaryFiles: { "../x": new Uint8Array() } })).toEqual(['binary_files["../x"]: name has a ".." segment']);
  });

  it("bounds the number and size of files", () => {
    expect(violations({ files: { a: "", b: "", c: "", d: "" } })[0]).toMatch(
      /^files: has 4 entries; the workspace holds at most 3/,
    );
    expect(violations({ files: { "a/b/c": "" } })).toEqual([]);
    expect(violations({ files: { "a/b/c/d": "" } })[0]).toMatch(/^files: need 5 files and directories; the workspace holds 4/);
    expect(violations({ files: { big: "x".repeat(1024 * 1024 + 1) } })[0]).toMatch(/^files: hold 1048577 bytes/);
  });
});

describe("runtime", () => {
  it("defaults to the server's and takes an allowed one", () => {
    const plain = validateRunRequest(request(), policy, "r");
    expect(plain.ok && plain.spec.runtime).toBe("runc");
    const gvisor = validateRunRequest(request({ runtime: "runsc" }), policy, "r");
    expect(gvisor.ok && gvisor.spec.runtime).toBe("runsc");
  });

  it("refuses one the server does not allow", () => {
    const forced = { ...policy, defaultRuntime: "runsc" as const, allowedRuntimes: ["runsc" as const] };
    const result = validateRunRequest(request({ runtime: "runc" }), forced, "r");
    expect(result.ok ? [] : result.violations).toEqual([
      { field: "runtime", description: '"runc" is not allowed here; one of runsc' },
    ]);
    expect(violations({ runtime: "kata" })).toEqual(['runtime: "kata" is not allowed here; one of runc, runsc']);
  });
});

describe("stdin, args and env", () => {
  it("passes them through", () => {
    const result = validateRunRequest(
      request({ stdin: Buffer.from("input"), args: ["a", "b c"], env: { GREETING: "hi", _X1: "" } }),
      policy,
      "r",
    );
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(Buffer.from(result.spec.stdin).toString()).toBe("input");
    expect(result.spec.args).toEqual(["a", "b c"]);
    expect(result.spec.env).toEqual(["GREETING=hi", "_X1="]);
  });

  it("refuses bad names, NULs and too many entries", () => {
    expect(violations({ env: { "1BAD": "x" } })).toEqual(['env["1BAD"]: name must match [A-Za-z_][A-Za-z0-9_]*']);
    expect(violations({ env: { "A=B": "x" } })[0]).toMatch(/^env\["A=B"\]: name must match/);
    expect(violations({ env: { OK: "nul\u0000" } })).toEqual(['env["OK"]: value contains a NUL character']);
    expect(violations({ args: ["fine", "bad\u0000"] })).toEqual(["args[1]: contains a NUL character"]);
    expect(violations({ args: Array.from({ length: 257 }, () => "x") })[0]).toMatch(/^args: has 257 entries/);
    expect(violations({ args: ["x".repeat(32 * 1024 + 1)] })[0]).toMatch(/^args\[0\]: is longer than/);
  });
});

describe("fileNameProblem", () => {
  it.each([
    ["", /empty/],
    ["/etc/passwd", /absolute/],
    ["../escape", /".." segment/],
    ["a/../../b", /".." segment/],
    ["./a", /"." segment/],
    ["a//b", /empty path segment/],
    ["a/", /empty path segment/],
    ["nul\u0000byte", /control character/],
    ["new\nline", /control character/],
    ["dos\\path", /backslash/],
    ["x".repeat(256), /segment longer than 255/],
    [`${"d/".repeat(600)}f`, /longer than 1024 bytes/],
  ])("refuses %j", (name, problem) => {
    expect(fileNameProblem(name)).toMatch(problem);
  });

  it.each(["main.py", "src/util.py", "deep/er/file name.txt", "ünïcode.txt", ".hidden"])("accepts %j", (name) => {
    expect(fileNameProblem(name)).toBeUndefined();
  });
});
