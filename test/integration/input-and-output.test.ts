import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { useAurea } from "../support/aurea-server.js";

const outputLimit = 256 * 1024;
const serverSecret = "AUREA_TEST_SERVER_SECRET";

beforeAll(() => {
  process.env[serverSecret] = "do-not-leak-7f3a";
});

const server = useAurea({ SANDBOX_OUTPUT_LIMIT: String(outputLimit) });

afterAll(() => {
  delete process.env[serverSecret];
});

describe("input", () => {
  it("delivers stdin, then end-of-file", async () => {
    const response = await server.client.run({
      language: "python",
      code: "import sys\ndata = sys.stdin.read()\nprint(repr(data))\nprint(repr(sys.stdin.read()))",
      stdin: Buffer.from("line one\nline two\n"),
    });
    expect(response).toMatchObject({ status: "RUN_STATUS_OK", stdout: "'line one\\nline two\\n'\n''\n" });
  });

  it("delivers binary stdin byte for byte", async () => {
    const bytes = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
    const response = await server.client.run({
      language: "python",
      code: "import sys, hashlib\nprint(hashlib.sha256(sys.stdin.buffer.read()).hexdigest())",
      stdin: bytes,
    });
    const { createHash } = await import("node:crypto");
    expect(response.stdout).toBe(`${createHash("sha256").update(bytes).digest("hex")}\n`);
  });

  it("gives an immediate end-of-file without stdin", async () => {
    const response = await server.client.run({ language: "bash", code: "cat; echo after", timeout: 5 });
    expect(response).toMatchObject({ status: "RUN_STATUS_OK", stdout: "after\n" });
  });

  it.each([
    ["python", "print(open('/dev/stdin').read(), end='')"],
    ["javascript", "process.stdout.write(require('fs').readFileSync('/dev/stdin', 'utf8'))"],
    ["bash", "cat /dev/stdin"],
    [
      "c",
      '#include <stdio.h>\nint main(void) { FILE *f = fopen("/dev/stdin", "r"); int c; if (!f) return 9; while ((c = fgetc(f)) != EOF) putchar(c); }',
    ],
  ])(
    "lets a %s program open its stdin by name, warm or cold, run or test case",
    async (language, code) => {
      for (const runtime of ["runc", "runsc"]) {
        // Twice: the first may take a warm container, the second a cold one, or the reverse.
        for (let attempt = 0; attempt < 2; attempt++) {
          const response = await server.client.run({ language, code, runtime, stdin: Buffer.from("by name\n") });
          expect(response, `${language} ${runtime}`).toMatchObject({ status: "RUN_STATUS_OK", stdout: "by name\n" });
        }
      }
      const judged = await server.client.run({
        language,
        code,
        tests: [{ stdin: Buffer.from("case\n"), expected_stdout: "case\n" }],
      });
      expect(judged).toMatchObject({ status: "RUN_STATUS_OK", tests_passed: 1 });
    },
    60_000,
  );

  it("passes command-line arguments", async () => {
    const python = await server.client.run({
      language: "python",
      code: "import sys\nprint(sys.argv[1:])",
      args: ["a", "b c", "--flag"],
    });
    expect(python.stdout).toBe("['a', 'b c', '--flag']\n");
    const bash = await server.client.run({ language: "bash", code: 'printf "%s|" "$@"', args: ["x", "y z"] });
    expect(bash.stdout).toBe("x|y z|");
    const node = await server.client.run({
      language: "javascript",
      code: "console.log(process.argv.slice(2).join(','))",
      args: ["1", "2"],
    });
    expect(node.stdout).toBe("1,2\n");
  });

  it("sets the caller's environment on a minimal one, and nothing of the server's", async () => {
    const response = await server.client.run({ language: "bash", code: "env | sort", env: { GREETING: "hello", EMPTY: "" } });
    const names = (response.stdout as string)
      .trim()
      .split("\n")
      .map((line) => line.split("=")[0]);
    expect(response.stdout).toContain("GREETING=hello\n");
    expect(response.stdout).toContain("EMPTY=\n");
    expect(response.stdout).not.toContain(serverSecret);
    expect(response.stdout).not.toContain("do-not-leak-7f3a");
    // The fixed environment, what the request set, and what bash itself adds.
    expect(names.filter((name) => !["PWD", "SHLVL", "_", "OLDPWD"].includes(name ?? ""))).toEqual([
      "EMPTY",
      "GREETING",
      "HOME",
      "HOSTNAME",
      "LANG",
      "PATH",
      "PYTHONDONTWRITEBYTECODE",
      "TMPDIR",
    ]);
  });
});

describe("bounded output", () => {
  it("kills a stdout flood at the cap and keeps what came before", async () => {
    const started = performance.now();
    const response = await server.client.run({ language: "bash", code: "yes flood", timeout: 30 });
    expect(response).toMatchObject({ status: "RUN_STATUS_OUTPUT_LIMIT", stdout_truncated: true, stderr_truncated: false });
    expect((response.stdout as string).length).toBe(outputLimit);
    expect(performance.now() - started).toBeLessThan(5000);
  });

  it("kills a stderr flood at the cap", async () => {
    const response = await server.client.run({ language: "bash", code: "yes err >&2", timeout: 30 });
    expect(response).toMatchObject({ status: "RUN_STATUS_OUTPUT_LIMIT", stderr_truncated: true, stdout_truncated: false });
    expect((response.stderr as string).length).toBe(outputLimit);
  });

  it("survives one 100 MB line", async () => {
    const response = await server.client.run({
      language: "python",
      code: "import sys\nsys.stdout.write('x' * 100_000_000)\nsys.stdout.flush()",
      timeout: 30,
    });
    expect(response).toMatchObject({ status: "RUN_STATUS_OUTPUT_LIMIT", stdout_truncated: true });
    expect(response.stdout).toBe("x".repeat(outputLimit));
  });

  it("survives a binary flood", async () => {
    const response = await server.client.run({ language: "bash", code: "cat /dev/urandom", timeout: 30 });
    expect(response).toMatchObject({ status: "RUN_STATUS_OUTPUT_LIMIT", stdout_truncated: true });
  });

  it("replaces invalid UTF-8 with U+FFFD in Run's strings", async () => {
    const response = await server.client.run({ language: "bash", code: "printf 'ok \\377\\376 end'; printf '\\300' >&2" });
    expect(response).toMatchObject({ status: "RUN_STATUS_OK", stdout: "ok \uFFFD\uFFFD end", stderr: "\uFFFD" });
  });

  it("keeps output just under the cap whole, without the truncated flag", async () => {
    const response = await server.client.run({ language: "python", code: `import sys\nsys.stdout.write('y' * ${outputLimit})` });
    expect(response).toMatchObject({ status: "RUN_STATUS_OK", stdout_truncated: false });
    expect((response.stdout as string).length).toBe(outputLimit);
  });
});
