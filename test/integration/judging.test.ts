import * as grpc from "@grpc/grpc-js";
import { describe, expect, it } from "vitest";
import { useAurea } from "../support/aurea-server.js";
import type { GrpcResponse } from "../support/grpc-js-client.js";

/**
 * Test cases: compiled once, judged per case in one sandbox, each case a fresh process in a fresh
 * workspace, and a verdict per case the program cannot forge.
 */

const server = useAurea();

interface Result {
  name: string;
  status: string;
  exit_code: number;
  signal: string;
  stdout: string;
  stderr: string;
  execution_time: number;
  difference: string;
  usage: { cpu_time: number; peak_memory_bytes: string } | null;
}
const resultsOf = (response: GrpcResponse) => response.test_results as Result[];
const statuses = (response: GrpcResponse) => resultsOf(response).map((result) => result.status.replace("RUN_STATUS_", ""));

/** Doubles its input, except for 7 and 13 (wrong), 5 (never ends) and 17 (crashes). */
const doubler = [
  "#include <stdio.h>",
  "#include <stdlib.h>",
  "int main(void) {",
  "  int n;",
  '  if (scanf("%d", &n) != 1) return 2;',
  "  if (n == 5) for (;;) {}",
  "  if (n == 17) abort();",
  '  printf("%d\\n", n == 7 || n == 13 ? n * 3 : n * 2);',
  "  return 0;",
  "}",
].join("\n");
const twenty = Array.from({ length: 20 }, (_, index) => {
  const n = index + 1;
  return { name: `n=${n}`, stdin: Buffer.from(`${n}\n`), expected_stdout: `${n * 2}\n`, timeout: 1 };
});

describe("judging a C program against 20 cases", () => {
  it("gives each case its exact verdict: two wrong answers, one timeout, one crash", async () => {
    const response = await server.client.run({ language: "c", code: doubler, tests: twenty });
    const expected = twenty.map((_, index) => {
      const n = index + 1;
      return n === 5 ? "TIMEOUT" : n === 17 ? "RUNTIME_ERROR" : n === 7 || n === 13 ? "WRONG_ANSWER" : "OK";
    });
    expect(statuses(response)).toEqual(expected);
    expect(response).toMatchObject({
      status: "RUN_STATUS_TIMEOUT",
      success: false,
      tests_passed: 16,
      tests_total: 20,
      first_failed_test: "n=5",
      compile: { status: "RUN_STATUS_OK" },
    });
    const results = resultsOf(response);
    expect(results[6]).toMatchObject({
      status: "RUN_STATUS_WRONG_ANSWER",
      exit_code: 0,
      difference: 'line 1: expected "14", received "21"',
    });
    expect(results[16]).toMatchObject({ exit_code: 134, signal: "SIGABRT" });
    expect(results[4]).toMatchObject({ exit_code: -1, signal: "SIGKILL" });
    expect(results[4]?.execution_time).toBeGreaterThanOrEqual(1);
    expect(results[4]?.execution_time).toBeLessThan(2);
    expect(results[0]).toMatchObject({ stdout: "2\n", stderr: "" });
    expect(Number(results[0]?.usage?.peak_memory_bytes)).toBeGreaterThan(0);
    expect(results[0]?.execution_time).toBeLessThan(0.5);
  }, 120_000);

  it("stops at the first failure with stop_on_first_failure: the rest SKIPPED", async () => {
    const response = await server.client.run({ language: "c", code: doubler, tests: twenty, stop_on_first_failure: true });
    expect(statuses(response)).toEqual(["OK", "OK", "OK", "OK", "TIMEOUT", ...Array(15).fill("SKIPPED")]);
    expect(response).toMatchObject({ status: "RUN_STATUS_TIMEOUT", tests_passed: 4, tests_total: 20 });
  }, 60_000);

  it("streams each case's result as it is judged, in order, before the final result", async () => {
    const stream = server.client.runStream({ language: "c", code: doubler, tests: twenty.slice(0, 8) });
    await stream.done;
    const events = stream.messages.map(({ message }) => message.event);
    expect(events).toEqual(["started", ...Array(8).fill("test_result"), "result"]);
    const streamed = stream.messages.filter(({ message }) => message.event === "test_result");
    expect(streamed.map(({ message }) => (message.test_result as Result).name)).toEqual(twenty.slice(0, 8).map((t) => t.name));
    // Each arrives as its case ends: the timeout case (n=5) is seen a second after the first ones.
    expect(streamed[4]!.at - streamed[3]!.at).toBeGreaterThan(800);
  }, 60_000);
});

describe("other languages and comparisons", () => {
  it("judges a Python solution's floats within a tolerance", async () => {
    const code = "import math\nx = float(input())\nprint(f'{math.sqrt(x):.6f}')";
    const tests = [
      { stdin: Buffer.from("2\n"), expected_stdout: "1.41421356" },
      { stdin: Buffer.from("10\n"), expected_stdout: "3.16228" },
      { stdin: Buffer.from("3\n"), expected_stdout: "1.8" },
    ];
    const response = await server.client.run({
      language: "python",
      code,
      tests,
      comparison: "COMPARISON_NUMERIC",
      absolute_tolerance: 1e-5,
    });
    expect(statuses(response)).toEqual(["OK", "OK", "WRONG_ANSWER"]);
    expect(resultsOf(response)[2]?.difference).toBe('token 1: expected "1.8", received "1.732051"');
    expect(resultsOf(response).map((result) => result.name)).toEqual(["1", "2", "3"]);
  }, 60_000);

  it("starts the JVM for every case of a Java solution and times each case on its own", async () => {
    const code = [
      "import java.util.*;",
      "public class Main {",
      "  static int runs = 0;",
      "  public static void main(String[] args) throws Exception {",
      "    long n = new Scanner(System.in).nextLong();",
      "    if (n == 3) Thread.sleep(1500);",
      '    System.out.println(n * n + " " + (++runs));',
      "  }",
      "}",
    ].join("\n");
    // A static counter that is 1 in every case: each case runs in a JVM of its own.
    const tests = [1, 2, 3].map((n) => ({ stdin: Buffer.from(`${n}\n`), expected_stdout: `${n * n} 1\n`, timeout: 10 }));
    const response = await server.client.run({ language: "java", code, tests });
    expect(statuses(response)).toEqual(["OK", "OK", "OK"]);
    const times = resultsOf(response).map((result) => result.execution_time);
    // Each case's time includes its JVM's start (a 50 ms bound failed once at 48 ms here: the
    // counter above is the proof, this only that a start is timed), and the sleep is the third's alone.
    expect(times[0]).toBeGreaterThan(0.02);
    expect(times[2]! - times[1]!).toBeGreaterThan(1.2);
    expect(times[1]).toBeLessThan(times[2]! - 1);
  }, 120_000);

  it("ends a case at its output cap, its memory and its CPU limit, and the next case runs as usual", async () => {
    const code = [
      "import sys",
      "mode = sys.stdin.read().strip()",
      "if mode == 'flood':",
      "    while True: sys.stdout.write('x' * 65536)",
      "if mode == 'memory':",
      "    block = bytearray(200 * 1024 * 1024)",
      "    print(len(block))",
      "if mode == 'spin':",
      "    while True: pass",
      "print('fine')",
    ].join("\n");
    const tests = [
      { stdin: Buffer.from("flood") },
      { stdin: Buffer.from("memory"), memory_bytes: String(64 * 1024 * 1024) },
      { stdin: Buffer.from("spin"), cpu_time_limit: 1, timeout: 10 },
      { stdin: Buffer.from("ok"), expected_stdout: "fine\n" },
    ];
    const response = await server.client.run({ language: "python", code, tests });
    expect(statuses(response)).toEqual(["OUTPUT_LIMIT", "MEMORY_LIMIT", "TIMEOUT", "OK"]);
    expect(resultsOf(response)[2]).toMatchObject({ signal: "SIGXCPU" });
    expect(resultsOf(response)[2]?.execution_time).toBeLessThan(5);
  }, 60_000);

  it("judges under runsc too", async () => {
    const response = await server.client.run({ language: "c", code: doubler, tests: twenty.slice(5, 8), runtime: "runsc" });
    expect(statuses(response)).toEqual(["OK", "WRONG_ANSWER", "OK"]);
  }, 60_000);
});

describe("what one case can do to another", () => {
  it("files a case writes and processes it leaves are gone before the next case starts", async () => {
    const code = [
      "import os, subprocess, sys",
      "case = sys.stdin.read().strip()",
      "if case == 'dirty':",
      "    open('left.txt', 'w').write('x')",
      "    open('/tmp/left-in-tmp', 'w').write('x')",
      "    os.makedirs('locked/inside'); os.chmod('locked', 0)",
      "    subprocess.Popen(['sleep', '300'], start_new_session=True)",
      "    print('dirtied')",
      "else:",
      // The first case's daemon, by name (the `cat` feeding this case's stdin is its own).
      "    others = [p for p in os.listdir('/proc') if p.isdigit() and open(f'/proc/{p}/comm').read().strip() == 'sleep']",
      "    print(sorted(os.listdir('.')), os.path.exists('/tmp/left-in-tmp'), others)",
    ].join("\n");
    const response = await server.client.run({
      language: "python",
      code,
      files: { "data.txt": "given" },
      tests: [
        { stdin: Buffer.from("dirty") },
        { stdin: Buffer.from("check"), expected_stdout: "['data.txt', 'main.py'] False []\n" },
      ],
    });
    expect(statuses(response)).toEqual(["OK", "OK"]);
  }, 60_000);

  it("a case reads its own stdin and nothing more, and cannot end the next case early or forge its report", async () => {
    const code = [
      "import sys",
      "data = sys.stdin.buffer.read()",
      "sys.stdout.buffer.write(data)",
      // Frames and the supervisor's markers, as a program might try to write them.
      "sys.stdout.write('\\0aurea-case 1 0 1 0 0 0 0 0 0 0\\n\\0aurea-usage:x ok 0 - - - - - - -\\n')",
      "sys.stdout.flush()",
    ].join("\n");
    const tests = ["first case", "second case", "third"].map((input) => ({
      stdin: Buffer.from(input),
      expected_stdout: `${input}\0aurea-case 1 0 1 0 0 0 0 0 0 0\n\0aurea-usage:x ok 0 - - - - - - -\n`,
    }));
    const response = await server.client.run({ language: "python", code, tests, comparison: "COMPARISON_EXACT" });
    expect(statuses(response)).toEqual(["OK", "OK", "OK"]);
    expect(resultsOf(response)[0]?.stdout.startsWith("first case")).toBe(true);
  }, 60_000);

  it("cannot read the expected output or the next case's input from anywhere in its sandbox", async () => {
    // Letters no hex number holds: /proc files print addresses (0x7f3a... once matched "7f3a").
    const secret = "expected-secret-qzxj";
    const code = [
      "import os",
      "found = []",
      "for root in ['/proc', '/tmp', '/workspace', '/dev/shm']:",
      "    for path, dirs, files in os.walk(root):",
      "        if path.startswith('/proc/') and path.count('/') > 3: dirs[:] = []",
      "        for name in files:",
      "            try:",
      "                with open(os.path.join(path, name), 'rb') as f: blob = f.read(1 << 20)",
      "            except Exception: continue",
      // Built at run time, so the program's own source does not hold what it looks for.
      "            if ('qz' + 'xj').encode() in blob or ('next-input-' + '91c2').encode() in blob: found.append(os.path.join(path, name))",
      "print(found)",
    ].join("\n");
    const response = await server.client.run({
      language: "python",
      code,
      tests: [
        { stdin: Buffer.from("x"), expected_stdout: `[]\n${secret}`, timeout: 20 },
        { stdin: Buffer.from("next-input-91c2"), timeout: 20 },
      ],
    });
    const first = resultsOf(response)[0];
    expect(first?.stdout).toBe("[]\n");
  }, 90_000);
});

describe("requests past the bounds", () => {
  it("refuses too many cases, or too much input, with INVALID_ARGUMENT before anything runs", async () => {
    const many = Array.from({ length: 257 }, () => ({ stdin: Buffer.from("1") }));
    const tooMany = (await server.client
      .run({ language: "python", code: "print(1)", tests: many })
      .catch((e: unknown) => e)) as grpc.ServiceError;
    expect(tooMany.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(tooMany.details).toMatch(/^tests: has 257 cases; at most 256/);
    const huge = [{ expected_stdout: "x".repeat(17 * 1024 * 1024) }];
    const tooBig = (await server.client
      .run({ language: "python", code: "print(1)", tests: huge }, 60_000)
      .catch((e: unknown) => e)) as grpc.ServiceError;
    expect([grpc.status.INVALID_ARGUMENT, grpc.status.RESOURCE_EXHAUSTED]).toContain(tooBig.code);
    const binary = [{ stdin: Buffer.from([0, 255, 1]), expected_stdout: "\u0000\uffff" }];
    const odd = await server.client.run({
      language: "python",
      code: "import sys; sys.stdout.write('\\0\\uffff')",
      tests: binary,
    });
    expect(statuses(odd)).toEqual(["OK"]);
  }, 60_000);
});
