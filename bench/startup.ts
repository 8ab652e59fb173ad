/**
 * What a one-line program costs end to end: a plain `docker run --rm` of it (the baseline,
 * measured in this same run), Aurea on the cold path (a container created per run), and Aurea with
 * its warm pool, over gRPC on loopback. p50/p95/p99 latency and throughput at concurrency 1, 4 and
 * 16, for Python, JavaScript and Bash, under runc and runsc, with ratios against the baseline.
 *
 * At concurrency 1 the warm variant waits, untimed, until the pool is full again before each run:
 * it measures what a run costs when a warm container is waiting for it. Back to back, every run
 * still consumes a fresh container, so sustained throughput is bounded by how fast the engine
 * makes them; the concurrency 4 and 16 cells run back to back and show that.
 *
 *   npm run bench:startup   (BENCH_RUNS: runs per cell at concurrency 1, default 20;
 *                            BENCH_RUNTIMES, default runc,runsc; BENCH_CONCURRENCIES, default 1,4,16)
 */
import { create } from "@bufbuild/protobuf";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import Docker from "dockerode";
import { RunRequestSchema, RunStatus, SandboxService } from "../gen/aurea/sandbox/v1/sandbox_pb.js";
import { dockerRun } from "./support/docker-run.js";
import { measure, summarize, type LatencySummary } from "./support/latency.js";
import { spawnServer } from "./support/spawn-server.js";

const image = process.env.SANDBOX_IMAGE ?? "aurea-sandbox:latest";
const runsAtOne = Number(process.env.BENCH_RUNS ?? 20);
const runtimes = (process.env.BENCH_RUNTIMES ?? "runc,runsc").split(",");
const concurrencies = (process.env.BENCH_CONCURRENCIES ?? "1,4,16").split(",").map(Number);
const warmPoolSize = 4;

const programs = [
  { language: "python", code: "print(1)", argv: ["python3", "-c", "print(1)"] },
  { language: "javascript", code: "console.log(1)", argv: ["node", "-e", "console.log(1)"] },
  { language: "bash", code: "echo 1", argv: ["bash", "-c", "echo 1"] },
];

interface Cell {
  runtime: string;
  language: string;
  concurrency: number;
  variant: string;
  summary: LatencySummary;
  perSecond: number;
}

const runsFor = (concurrency: number) => (concurrency === 1 ? runsAtOne : Math.max(runsAtOne, concurrency * 3));

async function waitForWarm(count: number): Promise<void> {
  const docker = new Docker();
  const deadline = Date.now() + 60_000;
  for (;;) {
    const warm = await docker.listContainers({ filters: { label: ["dev.aurea.run-id=warm"], status: ["running"] } });
    if (warm.length >= count || Date.now() > deadline) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

const cells: Cell[] = [];
for (const runtime of runtimes) {
  for (const program of programs) {
    for (const concurrency of concurrencies) {
      await dockerRun({ runtime, image, argv: program.argv, expected: "1\n", timeoutMs: 60_000 }); // warm the engine's caches
      const { samples, wallMs } = await measure(runsFor(concurrency), concurrency, () =>
        dockerRun({ runtime, image, argv: program.argv, expected: "1\n", timeoutMs: 60_000 }),
      );
      cells.push({
        runtime,
        language: program.language,
        concurrency,
        variant: "docker run",
        summary: summarize(samples),
        perSecond: samples.length / (wallMs / 1000),
      });
    }
  }
  for (const [variant, pool] of [
    ["aurea cold", 0],
    ["aurea warm", warmPoolSize],
  ] as const) {
    const server = await spawnServer({
      SANDBOX_RUNTIME: runtime,
      WARM_POOL_SIZE: String(pool),
      WARM_POOL_REFILL_CONCURRENCY: "2",
      MAX_CONCURRENT_RUNS: "16",
      MAX_QUEUED_RUNS: "64",
    });
    const client = createClient(SandboxService, createGrpcTransport({ baseUrl: `http://127.0.0.1:${server.port}` }));
    for (const program of programs) {
      const request = create(RunRequestSchema, { language: program.language, code: program.code });
      for (const concurrency of concurrencies) {
        if (pool > 0) await waitForWarm(pool * programs.length);
        const paced = pool > 0 && concurrency === 1 ? () => waitForWarm(pool * programs.length) : undefined;
        const { samples, wallMs } = await measure(
          runsFor(concurrency),
          concurrency,
          async () => {
            const response = await client.run(request);
            if (response.status !== RunStatus.OK || response.stdout !== "1\n") {
              throw new Error(`${variant} ${program.language}: ${RunStatus[response.status]} ${response.stderr}`);
            }
          },
          paced,
        );
        cells.push({
          runtime,
          language: program.language,
          concurrency,
          variant,
          summary: summarize(samples),
          perSecond: samples.length / (wallMs / 1000),
        });
      }
    }
    await server.stop();
  }
}

const baselineOf = (cell: Cell) =>
  cells.find(
    (c) =>
      c.variant === "docker run" &&
      c.runtime === cell.runtime &&
      c.language === cell.language &&
      c.concurrency === cell.concurrency,
  )!;

console.log(
  `\nOne-line programs end to end (warm pool ${warmPoolSize} per language, refills 2 at a time; ${runsAtOne} runs per cell at concurrency 1)\n`,
);
console.log(
  "| runtime | language | concurrency | variant | p50 ms | p95 ms | p99 ms | runs/s | p50 / docker run | runs/s / docker run |",
);
console.log("| --- | --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |");
for (const runtime of runtimes) {
  for (const program of programs) {
    for (const concurrency of concurrencies) {
      for (const variant of ["docker run", "aurea cold", "aurea warm"]) {
        const cell = cells.find(
          (c) =>
            c.runtime === runtime && c.language === program.language && c.concurrency === concurrency && c.variant === variant,
        );
        if (!cell) continue;
        const base = baselineOf(cell);
        console.log(
          `| ${runtime} | ${program.language} | ${concurrency} | ${variant} | ${cell.summary.p50.toFixed(0)} | ${cell.summary.p95.toFixed(0)} | ${cell.summary.p99.toFixed(0)} | ${cell.perSecond.toFixed(1)} | ${(cell.summary.p50 / base.summary.p50).toFixed(2)} | ${(cell.perSecond / base.perSecond).toFixed(2)} |`,
        );
      }
    }
  }
}
