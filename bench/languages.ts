/**
 * Every language's hello world end to end, under runc: a plain `docker run` of the same image
 * that writes the source, compiles it when the language compiles, and runs it (the baseline,
 * measured in this same run); Aurea on the cold path (a container per phase); and Aurea with its
 * warm pool (waited for, untimed, before each run: the program's, and a compiled language's
 * compile containers, whose loaded compilers take seconds to warm up). p50 of each, the ratio
 * against docker run, and for compiled languages the compile phase's own time as Aurea reports
 * it, cold and warm.
 *
 *   npm run bench:languages   (BENCH_RUNS: runs per cell, default 3;
 *                              BENCH_LANGUAGES: comma-separated names, default every language)
 */
import { execFile } from "node:child_process";
import { create } from "@bufbuild/protobuf";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import Docker from "dockerode";
import { RunRequestSchema, RunStatus, SandboxService } from "../gen/aurea/sandbox/v1/sandbox_pb.js";
import { type Language, loadLanguageRegistry } from "../src/runner/languages.js";
import { familyImage } from "../src/service/image-families.js";
import { measure, percentile } from "./support/latency.js";
import { spawnServer } from "./support/spawn-server.js";
import { failureLine, waitForWarmCompiler } from "./support/warm-ready.js";

const coreImage = process.env.SANDBOX_IMAGE ?? "aurea-sandbox:latest";
const runs = Number(process.env.BENCH_RUNS ?? 3);
const wanted = process.env.BENCH_LANGUAGES?.split(",");
const languages = loadLanguageRegistry()
  .all()
  .filter((language) => !wanted || wanted.includes(language.name));
const warmPoolSize = 1;

const p50 = (samples: number[]) =>
  percentile(
    [...samples].sort((a, b) => a - b),
    0.5,
  );

/** The baseline: one `docker run` that writes the source from stdin, compiles it if needed, and runs it. */
function dockerRun(language: Language): Promise<void> {
  const quote = (argv: readonly string[]) => argv.map((arg) => `'${arg.replaceAll("'", "'\\''")}'`).join(" ");
  const steps = [
    `cat > ${language.fileName}`,
    // The compiler's own output to stderr, as Aurea keeps it apart from the program's.
    ...(language.compile ? [`${quote(language.compile.command)} >&2`] : []),
    quote(language.command),
  ];
  const env = language.env.flatMap((entry) => ["--env", entry]);
  return new Promise((resolve, reject) => {
    const child = execFile(
      "docker",
      ["run", "--rm", "-i", "--network", "none", ...env, familyImage(coreImage, language.family), "sh", "-c", steps.join(" && ")],
      { timeout: 120_000 },
      (error, stdout) =>
        error
          ? reject(error)
          : stdout === language.examples.hello.stdout
            ? resolve()
            : reject(new Error(`${language.name}: unexpected output ${stdout}`)),
    );
    child.stdin?.end(language.examples.hello.code);
  });
}

/** Running warm containers of an image (other languages of its family may have some too). */
async function warmCount(image: string): Promise<number> {
  const warm = await new Docker().listContainers({
    filters: { label: ["dev.aurea.run-id=warm"], ancestor: [image], status: ["running"] },
  });
  return warm.length;
}

/** Waits, untimed, until the image has at least `count` warm containers again (or a minute passed). */
async function waitForWarm(image: string, count: number): Promise<void> {
  const deadline = Date.now() + 60_000;
  while ((await warmCount(image)) < count && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
}

interface Row {
  language: Language;
  docker: number;
  cold: number;
  warm: number;
  coldCompile: number | undefined;
  warmCompile: number | undefined;
}

const rows: Row[] = [];
const failures: string[] = [];
// Two servers on one engine: each must leave the other's containers alone (the default foreign
// reaping would remove them mid-run: the replicas problem of issue 16).
const apart = { REAPER_FOREIGN_AFTER: "3600" };
const cold = await spawnServer({ ...apart, WARM_POOL_SIZE: "0" });
// Debug lines: the bench waits for the pool's "warm container ready" of a language's compiler.
const warm = await spawnServer({
  ...apart,
  WARM_POOL_SIZE: String(warmPoolSize),
  WARM_POOL_REFILL_CONCURRENCY: "1",
  LOG_LEVEL: "debug",
});
try {
  const clientOf = (port: number) => createClient(SandboxService, createGrpcTransport({ baseUrl: `http://127.0.0.1:${port}` }));
  const coldClient = clientOf(cold.port);
  const warmClient = clientOf(warm.port);
  for (const language of languages) {
    const request = create(RunRequestSchema, { language: language.name, code: language.examples.hello.code });
    const compileTimes = { cold: [] as number[], warm: [] as number[] };
    const aurea =
      (client: ReturnType<typeof clientOf>, times: number[] = []) =>
      async () => {
        const response = await client.run(request, { timeoutMs: 300_000 });
        if (response.status !== RunStatus.OK || response.stdout !== language.examples.hello.stdout) {
          throw new Error(
            `${language.name}: ${RunStatus[response.status]} ${response.error} ${response.stderr.slice(-300)} ${response.compile?.stderr ?? ""}`,
          );
        }
        if (response.compile) times.push(response.compile.executionTime * 1000);
      };
    try {
      await dockerRun(language); // the engine's caches, and the image's pages, warmed alike
      await aurea(coldClient)();
      await aurea(warmClient)(); // starts this language's pool
      const image = familyImage(coreImage, language.family);
      await new Promise((resolve) => setTimeout(resolve, 1500));
      const refilled = await warmCount(image);
      const baseline = await measure(runs, 1, () => dockerRun(language));
      const coldRuns = await measure(runs, 1, aurea(coldClient, compileTimes.cold));
      const warmRuns = await measure(runs, 1, aurea(warmClient, compileTimes.warm), async () => {
        await waitForWarm(image, refilled);
        if (language.compile) await waitForWarmCompiler(warm, language);
      });
      rows.push({
        language,
        docker: p50(baseline.samples),
        cold: p50(coldRuns.samples),
        warm: p50(warmRuns.samples),
        coldCompile: compileTimes.cold.length > 0 ? p50(compileTimes.cold) : undefined,
        warmCompile: compileTimes.warm.length > 0 ? p50(compileTimes.warm) : undefined,
      });
    } catch (error) {
      // A failed run is reported in the table, not hidden: the rest still get measured.
      failures.push(failureLine(language, error));
    }
    process.stderr.write(`${language.name} `);
  }
} finally {
  await cold.stop();
  await warm.stop();
}

console.log(`\nHello world per language under runc, p50 of ${runs} runs each (warm pool of ${warmPoolSize}, waited for)\n`);
console.log(
  "| language | family | docker run ms | aurea cold ms | aurea warm ms | cold compile ms | warm compile ms | cold / docker run | warm / docker run |",
);
console.log("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
for (const row of rows) {
  console.log(
    `| ${row.language.name} | ${row.language.family} | ${row.docker.toFixed(0)} | ${row.cold.toFixed(0)} | ${row.warm.toFixed(0)} | ${row.coldCompile?.toFixed(0) ?? ""} | ${row.warmCompile?.toFixed(0) ?? ""} | ${(row.cold / row.docker).toFixed(2)} | ${(row.warm / row.docker).toFixed(2)} |`,
  );
}
for (const failure of failures) console.log(`\nfailed: ${failure}`);
