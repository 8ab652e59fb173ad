/**
 * Test cases end to end: a C and a Python solution against 50 cases each, as one Run with tests
 * (with and without stop_on_first_failure), against the same cases as 50 separate Run calls, and
 * against 50 plain `docker run`s of the same program, all measured in this same run. Per-case
 * cost is (50 cases - 1 case) / 49 of one Run with tests, set against the program run 50 times in
 * a loop inside one container (the native cost, same kernel and image, no Aurea).
 *
 *   npm run bench:judge   (BENCH_RUNS: repetitions of each cell, default 3)
 */
import { execFile } from "node:child_process";
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { create } from "@bufbuild/protobuf";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { RunRequestSchema, RunStatus, SandboxService, TestCaseSchema } from "../gen/aurea/sandbox/v1/sandbox_pb.js";
import { loadLanguageRegistry } from "../src/runner/languages.js";
import { familyImage } from "../src/service/image-families.js";
import { measure, percentile } from "./support/latency.js";
import { spawnServer } from "./support/spawn-server.js";

const languages = loadLanguageRegistry();

const coreImage = process.env.SANDBOX_IMAGE ?? "aurea-sandbox:latest";
const runs = Number(process.env.BENCH_RUNS ?? 3);
const caseCount = 50;

const solutions = [
  {
    language: "c",
    code: '#include <stdio.h>\nint main(void) { long n; if (scanf("%ld", &n) != 1) return 1; printf("%ld\\n", n * n); return 0; }',
    prepare: "gcc -O2 -o main main.c",
    once: "./main",
  },
  {
    language: "python",
    code: "n = int(input())\nprint(n * n)",
    prepare: "true",
    once: "python3 main.py",
  },
];

const cases = (count: number) =>
  Array.from({ length: count }, (_, index) =>
    create(TestCaseSchema, { stdin: Buffer.from(`${index + 1}\n`), expectedStdout: `${(index + 1) ** 2}\n` }),
  );

const p50 = (samples: number[]) =>
  percentile(
    [...samples].sort((a, b) => a - b),
    0.5,
  );

function docker(args: string[], input?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile("docker", args, { timeout: 300_000 }, (error, stdout) => (error ? reject(error) : resolve(stdout)));
    child.stdin?.end(input ?? "");
  });
}

/** The program run 50 times in a loop inside one container: milliseconds for the loop alone. */
async function nativeLoopMs(image: string, fileName: string, solution: (typeof solutions)[number]): Promise<number> {
  const directory = mkdtempSync(join(tmpdir(), "aurea-bench-judge-"));
  try {
    // Readable by the image's user (10001), which runs the loop.
    chmodSync(directory, 0o755);
    writeFileSync(join(directory, fileName), solution.code, { mode: 0o644 });
    const loop = `for i in $(seq 1 ${caseCount}); do echo "$i" | ${solution.once} >/dev/null; done`;
    const script = `cp /src/${fileName} . && ${solution.prepare} && start=$(date +%s%N) && ${loop} && echo $((($(date +%s%N) - start) / 1000))`;
    const out = await docker(["run", "--rm", "--network", "none", "-v", `${directory}:/src:ro`, image, "bash", "-c", script]);
    return Number(out.trim()) / 1000;
  } finally {
    rmSync(directory, { recursive: true, force: true });
  }
}

const server = await spawnServer({ WARM_POOL_SIZE: "2", MAX_CONCURRENT_RUNS: "4" });
const client = createClient(SandboxService, createGrpcTransport({ baseUrl: `http://127.0.0.1:${server.port}` }));
const rows: string[] = [];
try {
  for (const solution of solutions) {
    const language = languages.find(solution.language);
    if (!language) throw new Error(`no language ${solution.language}`);
    const image = familyImage(coreImage, language.family);
    const judged = async (count: number, stopOnFirstFailure: boolean) => {
      const response = await client.run(
        create(RunRequestSchema, { language: solution.language, code: solution.code, tests: cases(count), stopOnFirstFailure }),
        { timeoutMs: 300_000 },
      );
      if (response.status !== RunStatus.OK || response.testsPassed !== count) {
        const failed = response.testResults.find((result) => result.status !== RunStatus.OK);
        throw new Error(
          `${solution.language}: ${RunStatus[response.status]} ${response.testsPassed}/${count} ${response.error} ${failed?.name}:${RunStatus[failed?.status ?? 0]} ${failed?.stderr ?? ""} peak ${response.usage?.peakMemoryBytes} limits_hit ${response.limitsHit.join(",")}`,
        );
      }
    };
    // The same cases as separate Runs, four at a time (the server's run slots).
    const separate = async () => {
      const queue = cases(caseCount);
      const worker = async () => {
        for (let testCase = queue.shift(); testCase; testCase = queue.shift()) {
          const response = await client.run(
            create(RunRequestSchema, { language: solution.language, code: solution.code, stdin: testCase.stdin }),
            { timeoutMs: 300_000 },
          );
          if (response.status !== RunStatus.OK || response.stdout !== testCase.expectedStdout) {
            throw new Error(
              `separate run failed: ${RunStatus[response.status]} ${response.stdout} ${response.stderr} ${response.error} compile ${RunStatus[response.compile?.status ?? 0]} ${response.compile?.exitCode} ${response.compile?.stderr} ${response.compile?.executionTime}`,
            );
          }
        }
      };
      await Promise.all(Array.from({ length: 4 }, worker));
    };
    const plain = async () => {
      for (let index = 0; index < caseCount; index++) {
        const script = `cat > ${language.fileName} && ${solution.prepare} && echo ${index + 1} | ${solution.once}`;
        await docker(["run", "--rm", "-i", "--network", "none", image, "sh", "-c", script], solution.code);
      }
    };
    await judged(caseCount, false); // warm the engine's and the image's caches alike
    const one = await measure(runs, 1, () => judged(1, false));
    const all = await measure(runs, 1, () => judged(caseCount, false));
    const stopping = await measure(runs, 1, () => judged(caseCount, true));
    const apart = await measure(1, 1, separate);
    const docked = await measure(1, 1, plain);
    const nativeMs = await nativeLoopMs(image, language.fileName, solution);
    const perCase = (p50(all.samples) - p50(one.samples)) / (caseCount - 1);
    rows.push(
      `| ${solution.language} | ${p50(all.samples).toFixed(0)} | ${p50(stopping.samples).toFixed(0)} | ${p50(apart.samples).toFixed(0)} | ${p50(docked.samples).toFixed(0)} | ${(p50(apart.samples) / p50(all.samples)).toFixed(1)}x | ${perCase.toFixed(1)} | ${(nativeMs / caseCount).toFixed(1)} | ${(perCase / (nativeMs / caseCount)).toFixed(1)}x |`,
    );
  }
} finally {
  await server.stop();
}

console.log(`\n${caseCount} test cases per solution, p50 of ${runs} (separate runs and docker runs: once), milliseconds\n`);
console.log(
  "| solution | one Run, 50 tests | same, stop_on_first_failure | 50 separate Runs (4 at once) | 50 docker runs | separate / tests | per case | native per case | per case / native |",
);
console.log("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
for (const row of rows) console.log(row);
