/**
 * gVisor's platforms, measured, to choose RUNSC_PLATFORM's default (src/config/config.ts).
 *
 * For each platform the engine has registered (scripts/ensure-engine.sh: ptrace and systrap, and
 * kvm only where a KVM sandbox starts), in this same run: a plain `docker run --runtime <it>` of a
 * Python program printing 60,000 lines unbuffered (the baseline), the same program through Aurea
 * (`RUNSC_PLATFORM=<it>`, runtime runsc, its output through the supervisor's relays), and a Run
 * of `print(1)` with a warm pool of one per language; and the CPU an idle sandbox burns on it.
 * Prints a table with Aurea's ratio to the baseline and names the fastest platform for a short
 * run (RUNSC_PLATFORM's default) and for the flood. No network, loopback only.
 *
 *   npm run bench:gvisor   (BENCH_RUNS: samples per cell, default 3 for the flood, 7x that for print)
 */
import { create } from "@bufbuild/protobuf";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import Docker from "dockerode";
import { RunRequestSchema, RunStatus, SandboxService } from "../gen/aurea/sandbox/v1/sandbox_pb.js";
import { engineRuntimeName, runscPlatforms, type RunscPlatform } from "../src/sandbox/runtimes.js";
import { dockerRun } from "./support/docker-run.js";
import { percentile } from "./support/latency.js";
import { spawnServer } from "./support/spawn-server.js";

const image = process.env.SANDBOX_IMAGE ?? "aurea-sandbox:latest";
const floodRuns = Number(process.env.BENCH_RUNS ?? 3);
const printRuns = floodRuns * 7;
const lines = 60_000;
const floodCode = `for i in range(${lines}): print(i)`;
const expectedFlood = Array.from({ length: lines }, (_, i) => `${i}\n`).join("");

interface Row {
  platform: RunscPlatform;
  dockerFloodS: number;
  aureaFloodS: number;
  dockerPrintMs: number;
  aureaPrintMs: number;
  idleCpuMsPerS: number;
}

/** CPU an idle sandbox (a `sleep`) uses on the platform, ms a second, from the engine's stats over 3 s. */
async function idleCpu(docker: Docker, engineRuntime: string): Promise<number> {
  const container = await docker.createContainer({
    Image: image,
    Cmd: ["sleep", "60"],
    NetworkDisabled: true,
    HostConfig: { NetworkMode: "none", Runtime: engineRuntime, AutoRemove: false },
  });
  try {
    await container.start();
    await new Promise((resolve) => setTimeout(resolve, 2000));
    const usage = async () => {
      const stats = (await container.stats({ stream: false })) as { cpu_stats: { cpu_usage: { total_usage: number } } };
      return stats.cpu_stats.cpu_usage.total_usage;
    };
    const before = await usage();
    const started = performance.now();
    await new Promise((resolve) => setTimeout(resolve, 3000));
    const used = (await usage()) - before;
    return used / 1e6 / ((performance.now() - started) / 1000);
  } finally {
    await container.remove({ force: true });
  }
}

const median = (samples: number[]) =>
  percentile(
    [...samples].sort((a, b) => a - b),
    0.5,
  );

async function timed(work: () => Promise<void>): Promise<number> {
  const started = performance.now();
  await work();
  return performance.now() - started;
}

/** Waits until the pool holds a warm container for each core language again (python, javascript, bash). */
async function waitForWarm(docker: Docker): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    const warm = await docker.listContainers({ filters: { label: ["dev.aurea.run-id=warm"], status: ["running"] } });
    if (warm.length >= 3) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

async function measurePlatform(platform: RunscPlatform, docker: Docker): Promise<Row> {
  const engineRuntime = engineRuntimeName("runsc", platform, false);
  const floodArgv = ["python3", "-u", "-c", floodCode];
  await dockerRun({ runtime: engineRuntime, image, argv: ["python3", "-c", "print(1)"], expected: "1\n" }); // the engine's caches
  const dockerFlood: number[] = [];
  for (let i = 0; i < floodRuns; i++)
    dockerFlood.push(await timed(() => dockerRun({ runtime: engineRuntime, image, argv: floodArgv, expected: expectedFlood })));
  const dockerPrint: number[] = [];
  for (let i = 0; i < printRuns; i++) {
    dockerPrint.push(
      await timed(() => dockerRun({ runtime: engineRuntime, image, argv: ["python3", "-c", "print(1)"], expected: "1\n" })),
    );
  }

  const server = await spawnServer({
    RUNSC_PLATFORM: platform,
    SANDBOX_RUNTIME: "runsc",
    WARM_POOL_SIZE: "1",
    SANDBOX_OUTPUT_LIMIT: "4m",
  });
  try {
    const client = createClient(SandboxService, createGrpcTransport({ baseUrl: `http://127.0.0.1:${server.port}` }));
    const run = async (code: string, expected: string) => {
      const response = await client.run(create(RunRequestSchema, { language: "python", code, runtime: "runsc", timeout: 120 }));
      if (response.status !== RunStatus.OK || response.stdout !== expected) {
        throw new Error(
          `aurea on ${platform}: ${RunStatus[response.status]} (${response.stdout.length} bytes) ${response.error}`,
        );
      }
    };
    await waitForWarm(docker);
    await run("print(1)", "1\n");
    const aureaFlood: number[] = [];
    for (let i = 0; i < floodRuns; i++) {
      await waitForWarm(docker);
      aureaFlood.push(await timed(() => run(floodCode, expectedFlood)));
    }
    const aureaPrint: number[] = [];
    for (let i = 0; i < printRuns; i++) {
      await waitForWarm(docker);
      aureaPrint.push(await timed(() => run("print(1)", "1\n")));
    }
    return {
      idleCpuMsPerS: await idleCpu(docker, engineRuntime),
      platform,
      dockerFloodS: median(dockerFlood) / 1000,
      aureaFloodS: median(aureaFlood) / 1000,
      dockerPrintMs: median(dockerPrint),
      aureaPrintMs: median(aureaPrint),
    };
  } finally {
    await server.stop();
  }
}

const docker = new Docker();
const registered = Object.keys(((await docker.info()) as { Runtimes?: Record<string, unknown> }).Runtimes ?? {});
const rows: Row[] = [];
const absent: RunscPlatform[] = [];
for (const platform of runscPlatforms) {
  if (!registered.includes(engineRuntimeName("runsc", platform, false))) {
    absent.push(platform);
    continue;
  }
  rows.push(await measurePlatform(platform, docker));
}

const ptrace = rows.find((row) => row.platform === "ptrace");
console.log(
  `\ngVisor platforms: ${lines} lines printed by \`python3 -u\`, and print(1) (medians of ${floodRuns} and ${printRuns})\n`,
);
console.log(
  "| platform | docker run, 60k lines s | Aurea, 60k lines s | Aurea / docker run | Aurea / docker run on ptrace | docker run print(1) ms | Aurea print(1) ms | idle sandbox CPU ms/s |",
);
console.log("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
for (const row of rows) {
  console.log(
    `| ${row.platform} | ${row.dockerFloodS.toFixed(2)} | ${row.aureaFloodS.toFixed(2)} | ${(row.aureaFloodS / row.dockerFloodS).toFixed(2)} | ${ptrace ? (row.aureaFloodS / ptrace.dockerFloodS).toFixed(2) : "-"} | ${row.dockerPrintMs.toFixed(0)} | ${row.aureaPrintMs.toFixed(0)} | ${row.idleCpuMsPerS.toFixed(1)} |`,
  );
}
for (const platform of absent) {
  console.log(`| ${platform} | not registered: ensure-engine.sh registers it only where a sandbox starts on it | | | | | | |`);
}
// The common run is a short program: the default is the platform fastest at it; the flood says
// which platform serves output- and system-call-heavy programs best.
const fastest = [...rows].sort((a, b) => a.aureaPrintMs - b.aureaPrintMs)[0];
if (fastest) console.log(`\nfastest for a short run through Aurea: ${fastest.platform} (RUNSC_PLATFORM's default should be it)`);
const floods = [...rows].sort((a, b) => a.aureaFloodS - b.aureaFloodS)[0];
if (floods) console.log(`fastest for a program that prints 60,000 lines: ${floods.platform}`);
const idlest = [...rows].sort((a, b) => a.idleCpuMsPerS - b.idleCpuMsPerS)[0];
if (idlest) console.log(`least CPU while idle: ${idlest.platform} (the sessions' platform, src/sandbox/runtimes.ts)`);
