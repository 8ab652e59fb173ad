/**
 * Hello-world compiles of the languages with a warm compiler (a language's `compile.warm`: Java,
 * Kotlin, Scala, TypeScript), under runc. The baseline, measured in this same run: a plain
 * `docker run` of the same image that writes the source and runs the compile command. Then Aurea
 * cold (WARM_POOL_SIZE=0: the compiler starts for the compile, as every compile did before warm
 * compilers) and Aurea with its warm compiler (a container whose compiler compiled only the
 * language's own hello example, waited for, untimed, before each compile). p50 of the compile
 * phase as Aurea reports it (`compile.execution_time`) and of the whole Run (compile and program).
 *
 *   npm run bench:compilers   (BENCH_RUNS: compiles per cell, default 5;
 *                              BENCH_LANGUAGES: comma-separated names, default every warm compiler)
 */
import { execFile } from "node:child_process";
import { create } from "@bufbuild/protobuf";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { RunRequestSchema, RunStatus, SandboxService } from "../gen/aurea/sandbox/v1/sandbox_pb.js";
import { type Language, loadLanguageRegistry } from "../src/runner/languages.js";
import { familyImage } from "../src/service/image-families.js";
import { measure, percentile } from "./support/latency.js";
import { spawnServer } from "./support/spawn-server.js";
import { failureLine, waitForWarmCompiler } from "./support/warm-ready.js";

const coreImage = process.env.SANDBOX_IMAGE ?? "aurea-sandbox:latest";
const runs = Number(process.env.BENCH_RUNS ?? 5);
const wanted = process.env.BENCH_LANGUAGES?.split(",");
const languages = loadLanguageRegistry()
  .all()
  .filter((language) => language.compile?.warm && (!wanted || wanted.includes(language.name)));
const goalMs = 600;

const p50 = (samples: readonly number[]) =>
  percentile(
    [...samples].sort((a, b) => a - b),
    0.5,
  );

/** The baseline: one `docker run` that writes the hello example and compiles it, nothing else. */
function dockerCompile(language: Language): Promise<void> {
  const quote = (argv: readonly string[]) => argv.map((arg) => `'${arg.replaceAll("'", "'\\''")}'`).join(" ");
  const script = `cat > ${language.fileName} && ${quote(language.compile!.command)}`;
  const env = language.env.flatMap((entry) => ["--env", entry]);
  const image = familyImage(coreImage, language.family);
  return new Promise((resolve, reject) => {
    const child = execFile(
      "docker",
      ["run", "--rm", "-i", "--network", "none", ...env, image, "sh", "-c", script],
      { timeout: 120_000 },
      (error) => (error ? reject(error) : resolve()),
    );
    child.stdin?.end(language.examples.hello.code);
  });
}

interface Row {
  readonly language: Language;
  readonly docker: number;
  readonly coldCompile: number;
  readonly warmCompile: number;
  readonly coldRun: number;
  readonly warmRun: number;
  readonly warmHits: number;
}

const rows: Row[] = [];
const failures: string[] = [];
// Two servers on one engine: each must leave the other's containers alone.
const apart = { REAPER_FOREIGN_AFTER: "3600" };
const cold = await spawnServer({ ...apart, WARM_POOL_SIZE: "0" });
// Debug lines: the bench waits for the pool's "warm container ready".
const warm = await spawnServer({ ...apart, WARM_POOL_SIZE: "1", WARM_POOL_REFILL_CONCURRENCY: "1", LOG_LEVEL: "debug" });
try {
  const clientOf = (port: number) => createClient(SandboxService, createGrpcTransport({ baseUrl: `http://127.0.0.1:${port}` }));
  const coldClient = clientOf(cold.port);
  const warmClient = clientOf(warm.port);
  for (const language of languages) {
    const request = create(RunRequestSchema, { language: language.name, code: language.examples.hello.code });
    const compile = async (client: ReturnType<typeof clientOf>, server: typeof cold) => {
      const response = await client.run(request, { timeoutMs: 300_000 });
      if (response.status !== RunStatus.OK || response.stdout !== language.examples.hello.stdout || !response.compile) {
        throw new Error(`${language.name}: ${RunStatus[response.status]} ${response.error} ${response.compile?.stderr ?? ""}`);
      }
      const line = server
        .logs()
        .find((entry) => entry.run_id === response.runId && entry.phase === "compile" && entry.msg === "run finished");
      return { compileMs: response.compile.executionTime * 1000, origin: line?.container };
    };
    try {
      await dockerCompile(language); // the image's pages, warmed alike for every column
      await compile(coldClient, cold);
      await compile(warmClient, warm); // makes this language's compiler pool
      const coldCompiles: number[] = [];
      const warmCompiles: number[] = [];
      let warmHits = 0;
      const baseline = await measure(runs, 1, () => dockerCompile(language));
      const coldRuns = await measure(runs, 1, async () => {
        coldCompiles.push((await compile(coldClient, cold)).compileMs);
      });
      const warmRuns = await measure(
        runs,
        1,
        async () => {
          const { compileMs, origin } = await compile(warmClient, warm);
          warmCompiles.push(compileMs);
          if (origin === "warm") warmHits++;
        },
        () => waitForWarmCompiler(warm, language),
      );
      rows.push({
        language,
        docker: p50(baseline.samples),
        coldCompile: p50(coldCompiles),
        warmCompile: p50(warmCompiles),
        coldRun: p50(coldRuns.samples),
        warmRun: p50(warmRuns.samples),
        warmHits,
      });
    } catch (error) {
      failures.push(failureLine(language, error));
    }
    process.stderr.write(`${language.name} `);
  }
} finally {
  await cold.stop();
  await warm.stop();
}

console.log(`\nHello-world compile under runc, p50 of ${runs} compiles each (warm compiler waited for, untimed)\n`);
console.log(
  "| language | docker run of the compile ms | aurea cold compile ms | aurea warm compile ms | warm / cold compile | warm compiles | cold Run ms | warm Run ms | compile goal < 600 ms |",
);
console.log("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |");
for (const row of rows) {
  console.log(
    `| ${row.language.name} | ${row.docker.toFixed(0)} | ${row.coldCompile.toFixed(0)} | ${row.warmCompile.toFixed(0)} | ${(row.warmCompile / row.coldCompile).toFixed(2)} | ${row.warmHits}/${runs} | ${row.coldRun.toFixed(0)} | ${row.warmRun.toFixed(0)} | ${row.warmCompile < goalMs ? "met" : "missed"} |`,
  );
}
for (const failure of failures) console.log(`\nfailed: ${failure}`);
