/**
 * Load and correctness under pressure: thousands of runs at a concurrency above the server's
 * capacity, mixing languages, stdin, files, streaming, cancellations and hostile programs, every
 * answer checked. A client refused with RESOURCE_EXHAUSTED backs off and tries again, as a real
 * one would, so every run is eventually made; each refusal is checked to have come while the
 * server was full. Loopback only, bounded in count (LOAD_RUNS, default 1500) and time
 * (LOAD_SECONDS, default 900); it stops by itself.
 *
 *   npm run bench:load
 */
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import Docker from "dockerode";
import { RunRequestSchema, RunStatus, SandboxService, type RunResponse } from "../gen/aurea/sandbox/v1/sandbox_pb.js";
import { containerLabels } from "../src/docker/container-options.js";
import { percentile } from "./support/latency.js";
import { samplePeak, spawnServer } from "./support/spawn-server.js";

const totalRuns = Number(process.env.LOAD_RUNS ?? 1500);
const concurrency = Number(process.env.LOAD_CONCURRENCY ?? 16);
const deadline = Date.now() + Number(process.env.LOAD_SECONDS ?? 900) * 1000;
const maxConcurrent = 4;
const maxQueued = 8;

type Outcome = "ok" | "wrong" | "rejected_full" | "rejected_not_full" | "error";
type Kind = { name: string; run(index: number): Promise<{ outcome: Outcome; detail?: string }> };

const server = await spawnServer({
  MAX_CONCURRENT_RUNS: String(maxConcurrent),
  MAX_QUEUED_RUNS: String(maxQueued),
  MAX_QUEUE_WAIT: "10",
  SANDBOX_OUTPUT_LIMIT: "64k",
  // Warm and cold runs mixed, as a production server sees them.
  WARM_POOL_SIZE: "2",
});
const client = createClient(SandboxService, createGrpcTransport({ baseUrl: `http://127.0.0.1:${server.port}` }));
let inFlight = 0;

/** Checks a unary run; RESOURCE_EXHAUSTED counts as correct only while the server was full. */
async function unary(
  fields: Parameters<typeof create<typeof RunRequestSchema>>[1],
  check: (response: RunResponse) => boolean,
): Promise<{ outcome: Outcome; detail?: string }> {
  const loadAtCall = inFlight;
  try {
    const response = await client.run(create(RunRequestSchema, fields));
    return check(response)
      ? { outcome: "ok" }
      : { outcome: "wrong", detail: `${RunStatus[response.status]} ${response.stdout.slice(0, 80)} ${response.error}` };
  } catch (error) {
    return classify(error, loadAtCall);
  }
}

function classify(error: unknown, loadAtCall: number): { outcome: Outcome; detail?: string } {
  const connectError = ConnectError.from(error);
  if (connectError.code === Code.ResourceExhausted) {
    // Full means every slot and queue place was taken by this client's own calls, or the queue
    // wait ran out; anything else would be a refusal with room to spare.
    const full = loadAtCall >= maxConcurrent + maxQueued || /queue/.test(connectError.message);
    return { outcome: full ? "rejected_full" : "rejected_not_full", detail: connectError.message };
  }
  return { outcome: "error", detail: `${Code[connectError.code]} ${connectError.message}` };
}

const kinds: Kind[] = [
  {
    name: "python",
    run: (i) =>
      unary({ language: "python", code: `print(${i} * 2)` }, (r) => r.status === RunStatus.OK && r.stdout === `${i * 2}\n`),
  },
  {
    name: "javascript",
    run: (i) => unary({ language: "javascript", code: `console.log(${i} + 1)` }, (r) => r.stdout === `${i + 1}\n`),
  },
  {
    name: "bash+stdin",
    run: (i) => unary({ language: "bash", code: "tr a-z A-Z", stdin: Buffer.from(`line ${i}`) }, (r) => r.stdout === `LINE ${i}`),
  },
  {
    name: "files",
    run: (i) =>
      unary(
        { language: "python", code: "from lib import value\nprint(value)", files: { "lib/__init__.py": `value = ${i}\n` } },
        (r) => r.stdout === `${i}\n`,
      ),
  },
  {
    name: "stream",
    async run(i) {
      const loadAtCall = inFlight;
      try {
        let streamed = "";
        let result: RunResponse | undefined;
        for await (const message of client.runStream(
          create(RunRequestSchema, { language: "bash", code: `echo a${i}; echo b${i}` }),
        )) {
          if (message.event.case === "stdout") streamed += Buffer.from(message.event.value).toString();
          if (message.event.case === "result") result = message.event.value;
        }
        const good = streamed === `a${i}\nb${i}\n` && result?.status === RunStatus.OK;
        return good ? { outcome: "ok" } : { outcome: "wrong", detail: streamed };
      } catch (error) {
        return classify(error, loadAtCall);
      }
    },
  },
  {
    name: "cancel",
    async run() {
      const loadAtCall = inFlight;
      const controller = new AbortController();
      try {
        for await (const message of client.runStream(create(RunRequestSchema, { language: "bash", code: "echo go; sleep 30" }), {
          signal: controller.signal,
        })) {
          if (message.event.case === "stdout") controller.abort();
        }
        return { outcome: "wrong", detail: "stream ended without the cancellation" };
      } catch (error) {
        const connectError = ConnectError.from(error);
        if (connectError.code === Code.Canceled) return { outcome: "ok" };
        return classify(error, loadAtCall);
      }
    },
  },
  {
    name: "memory bomb",
    run: () =>
      unary(
        { language: "python", code: "b = []\nwhile True: b.append(bytearray(8 << 20))", limits: { memoryBytes: 64n << 20n } },
        (r) => r.status === RunStatus.MEMORY_LIMIT,
      ),
  },
  {
    name: "timeout",
    run: () => unary({ language: "bash", code: "sleep 10", timeout: 0.5 }, (r) => r.status === RunStatus.TIMEOUT),
  },
  {
    name: "flood",
    run: () => unary({ language: "bash", code: "yes" }, (r) => r.status === RunStatus.OUTPUT_LIMIT && r.stdoutTruncated),
  },
  {
    name: "exit 3",
    run: () => unary({ language: "bash", code: "exit 3" }, (r) => r.status === RunStatus.RUNTIME_ERROR && r.exitCode === 3),
  },
];

const maxAttempts = 200;
const counts = new Map<string, Map<Outcome, number>>();
const latencies: number[] = [];
const problems: string[] = [];
const rss = samplePeak(() => server.rssBytes(), 100);
const baselineRss = server.rssBytes();
const started = performance.now();
let next = 0;
let completed = 0;

async function worker(): Promise<void> {
  while (next < totalRuns && Date.now() < deadline) {
    const index = next++;
    const kind = kinds[index % kinds.length]!;
    const perKind = counts.get(kind.name) ?? new Map<Outcome, number>();
    counts.set(kind.name, perKind);
    const count = (outcome: Outcome) => perKind.set(outcome, (perKind.get(outcome) ?? 0) + 1);
    const callStarted = performance.now();
    let result: { outcome: Outcome; detail?: string } = { outcome: "error", detail: "never tried" };
    for (let attempt = 1; attempt <= maxAttempts && Date.now() < deadline; attempt++) {
      inFlight++;
      result = await kind.run(index);
      inFlight--;
      if (result.outcome !== "rejected_full") break;
      count("rejected_full");
      await new Promise((resolve) => setTimeout(resolve, 50 + Math.random() * 200));
    }
    if (result.outcome === "rejected_full") result = { outcome: "error", detail: `refused ${maxAttempts} times` };
    latencies.push(performance.now() - callStarted);
    completed++;
    count(result.outcome);
    if (result.outcome !== "ok" && problems.length < 20)
      problems.push(`${kind.name} #${index}: ${result.outcome} ${result.detail ?? ""}`);
  }
}

await Promise.all(Array.from({ length: concurrency }, worker));
const wallSeconds = (performance.now() - started) / 1000;
const peakRss = rss.stop();
// Warm containers wait in the pool by design: what counts is what is left once the server is gone.
const exitCode = await server.stop();
const docker = new Docker();
const leftovers = (await docker.listContainers({ all: true, filters: { label: [`${containerLabels.managed}=true`] } })).length;
if (exitCode !== 0) console.log(`the server exited with ${exitCode}`);

const sorted = [...latencies].sort((a, b) => a - b);
const total = (outcome: Outcome) => [...counts.values()].reduce((sum, perKind) => sum + (perKind.get(outcome) ?? 0), 0);
console.log(
  `\nLoad: ${completed} of ${totalRuns} runs, concurrency ${concurrency}, server capacity ${maxConcurrent} running + ${maxQueued} queued\n`,
);
console.log("| kind | ok | refusals while full (retried) | refusals with room | wrong | error |");
console.log("| --- | ---: | ---: | ---: | ---: | ---: |");
for (const [name, perKind] of counts) {
  const get = (outcome: Outcome) => perKind.get(outcome) ?? 0;
  console.log(
    `| ${name} | ${get("ok")} | ${get("rejected_full")} | ${get("rejected_not_full")} | ${get("wrong")} | ${get("error")} |`,
  );
}
console.log("\nLatency is per run, from its first attempt to its answer, retries included.\n");
console.log("| runs | lost or wrong | p50 ms | p95 ms | p99 ms | runs/s | idle RSS MiB | peak RSS MiB | leftover containers |");
console.log("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
console.log(
  `| ${completed} | ${total("wrong") + total("error") + total("rejected_not_full")} | ${percentile(sorted, 0.5).toFixed(0)} | ${percentile(sorted, 0.95).toFixed(0)} | ${percentile(sorted, 0.99).toFixed(0)} | ${(completed / wallSeconds).toFixed(1)} | ${(baselineRss / 2 ** 20).toFixed(0)} | ${(peakRss / 2 ** 20).toFixed(0)} | ${leftovers} |`,
);
if (problems.length > 0) console.log(`\nFirst problems:\n${problems.join("\n")}`);
process.exitCode = total("wrong") + total("error") + total("rejected_not_full") + leftovers === 0 ? 0 : 1;
