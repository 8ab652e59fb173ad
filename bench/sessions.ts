/**
 * Sessions: the latency of `print(1)` as an Exec in a plain and in a stateful session, against a
 * warm Run of the same program and against `docker exec` of it into a running container through
 * the Engine API (dockerode), all measured in this same run over loopback gRPC; the same Exec sent
 * to a second replica, which forwards it to the owner (ADVERTISE_ADDRESS, PEER_SECRET); a stateful
 * cell interrupted at its timeout and the time to the next cell's answer; then what 100 idle
 * sessions cost: host memory (MemAvailable before and after, so the engine's shims and the agents
 * count) and host CPU while they sit idle, against the same window with none.
 *
 *   npm run bench:sessions   (BENCH_EXECS: calls per row, default 200; BENCH_IDLE_SESSIONS, default 100)
 */
import { readdirSync, readFileSync } from "node:fs";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import Docker from "dockerode";
import { RunStatus, SandboxService } from "../gen/aurea/sandbox/v1/sandbox_pb.js";
import { measure, summarize } from "./support/latency.js";
import { freeLoopbackPorts, spawnServer } from "./support/spawn-server.js";

const calls = Number(process.env.BENCH_EXECS ?? 200);
const idleCount = Number(process.env.BENCH_IDLE_SESSIONS ?? 100);
const image = process.env.SANDBOX_IMAGE ?? "aurea-sandbox:latest";

function memAvailableBytes(): number {
  const line = readFileSync("/proc/meminfo", "utf8").match(/^MemAvailable:\s+(\d+) kB/m);
  return Number(line?.[1] ?? 0) * 1024;
}

/** Host CPU busy time (all cores, user + system + ...), in clock ticks, from /proc/stat. */
function busyTicks(): number {
  const fields = (readFileSync("/proc/stat", "utf8").split("\n")[0] ?? "").split(/\s+/).slice(1).map(Number);
  const idle = (fields[3] ?? 0) + (fields[4] ?? 0);
  return fields.reduce((sum, value) => sum + value, 0) - idle;
}

/** CPU seconds so far of every container's processes (the engine's cgroup parent, cgroup v1). */
function containerCpuSeconds(): number {
  try {
    return Number(readFileSync("/sys/fs/cgroup/cpuacct/docker/cpuacct.usage", "utf8")) / 1e9;
  } catch {
    // Not cgroup v1 with the cgroupfs driver.
    return 0;
  }
}

/** CPU seconds so far of the engine's per-container shims (containerd-shim processes). */
function shimCpuSeconds(): number {
  let seconds = 0;
  for (const pid of readdirSync("/proc").filter((entry) => /^\d+$/.test(entry))) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
      if (!stat.includes("(containerd-shim")) continue;
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      seconds += (Number(fields[11]) + Number(fields[12])) / 100;
    } catch {
      // The process ended while it was read.
    }
  }
  return seconds;
}

/** Percent of one core used over `ms`: by the whole host, by the containers' processes, by the engine's shims. */
async function cpuPercentOver(ms: number): Promise<{ host: number; containers: number; shims: number }> {
  const ticksPerSecond = 100;
  const before = busyTicks();
  const containersBefore = containerCpuSeconds();
  const shimsBefore = shimCpuSeconds();
  await new Promise((resolve) => setTimeout(resolve, ms));
  const percent = (seconds: number) => (seconds / (ms / 1000)) * 100;
  return {
    host: percent((busyTicks() - before) / ticksPerSecond),
    containers: percent(containerCpuSeconds() - containersBefore),
    shims: percent(shimCpuSeconds() - shimsBefore),
  };
}

// Two replicas that forward session calls to each other: the first holds the sessions.
const peerSecret = "bench-peer-secret-0123456789";
const [port, peerPort] = (await freeLoopbackPorts(2)) as [number, number];
const replica = (listen: number) => ({ ADVERTISE_ADDRESS: `127.0.0.1:${listen}`, PEER_SECRET: peerSecret });
const server = await spawnServer(
  {
    ...replica(port),
    WARM_POOL_SIZE: "2",
    MAX_CONCURRENT_RUNS: "8",
    MAX_SESSIONS: String(idleCount + 10),
    MAX_SESSIONS_PER_KEY: String(idleCount + 10),
  },
  port,
);
const peer = await spawnServer(replica(peerPort), peerPort);
const client = createClient(SandboxService, createGrpcTransport({ baseUrl: `http://127.0.0.1:${server.port}` }));
const viaPeer = createClient(SandboxService, createGrpcTransport({ baseUrl: `http://127.0.0.1:${peer.port}` }));
const docker = new Docker();
const rows: string[] = [];
try {
  const row = (name: string, samples: number[], baseline?: number) => {
    const summary = summarize(samples);
    rows.push(
      `| ${name} | ${summary.p50.toFixed(1)} | ${summary.p95.toFixed(1)} | ${baseline ? (summary.p50 / baseline).toFixed(2) : "1.00"} |`,
    );
    return summary.p50;
  };

  // The baseline: docker exec of python3 -c into a running container, through the Engine API.
  const container = await docker.createContainer({ Image: image, Cmd: ["sleep", "3600"], HostConfig: { NetworkMode: "none" } });
  await container.start();
  const dockerExec = await measure(calls, 1, async () => {
    const exec = await container.exec({ Cmd: ["python3", "-c", "print(1)"], AttachStdout: true, AttachStderr: true });
    const stream = await exec.start({});
    await new Promise((resolve) => {
      stream.on("end", resolve);
      stream.resume();
    });
  });
  await container.remove({ force: true });
  const baseline = row("docker exec (Engine API) of python3 -c 'print(1)'", dockerExec.samples);

  // A warm Run: the pool's containers are ready; one at a time, so each finds one.
  await new Promise((resolve) => setTimeout(resolve, 3000));
  const warmRun = await measure(
    calls,
    1,
    async () => {
      const response = await client.run({ language: "python", code: "print(1)" });
      if (response.status !== RunStatus.OK) throw new Error(`run: ${response.stderr}`);
    },
    // The pool refills behind each run: wait for it, untimed, as a warm hit is what is measured.
    () => new Promise((resolve) => setTimeout(resolve, 150)),
  );
  row("warm Run of print(1)", warmRun.samples, baseline);

  for (const stateful of [false, true]) {
    const { sessionId } = await client.createSession({ language: "python", stateful });
    await client.exec({ sessionId, code: "print(1)" });
    const execs = await measure(calls, 1, async () => {
      const response = await client.exec({ sessionId, code: "print(1)" });
      if (response.status !== RunStatus.OK || response.stdout !== "1\n") throw new Error(`exec: ${response.stderr}`);
    });
    row(`Exec of print(1) in a ${stateful ? "stateful" : "plain"} session`, execs.samples, baseline);
    if (!stateful) {
      // The same call through the replica that does not hold the session.
      const forwarded = await measure(calls, 1, async () => {
        const response = await viaPeer.exec({ sessionId, code: "print(1)" });
        if (response.status !== RunStatus.OK || response.stdout !== "1\n") throw new Error(`exec: ${response.stderr}`);
      });
      row("the same Exec through a replica that forwards it to the owner", forwarded.samples, baseline);
    } else {
      // A cell interrupted at its timeout keeps the interpreter: the time to the next cell's answer.
      const interrupted = await measure(Math.min(calls, 20), 1, async () => {
        const stuck = await client.exec({ sessionId, code: "import time\ntime.sleep(30)", timeout: 0.2 });
        if (stuck.status !== RunStatus.TIMEOUT || stuck.stateLost) throw new Error("the cell was not interrupted");
        const next = await client.exec({ sessionId, code: "print(1)" });
        if (next.stdout !== "1\n") throw new Error(`exec: ${next.stderr}`);
      });
      row("a cell interrupted at its 200 ms timeout, then the next cell, end to end", interrupted.samples, baseline);
    }
    const command = await measure(calls, 1, async () => {
      await client.exec({ sessionId, command: ["true"] });
    });
    if (!stateful) row("Exec of the command `true` in a session", command.samples, baseline);
    await client.closeSession({ sessionId });
  }

  console.log(`\nExec latency over loopback gRPC, ${calls} calls each, one at a time, milliseconds\n`);
  console.log("| path | p50 | p95 | p50 / docker exec |");
  console.log("| --- | ---: | ---: | ---: |");
  for (const line of rows) console.log(line);

  // Idle sessions: memory and CPU.
  await new Promise((resolve) => setTimeout(resolve, 2000));
  const cpuWithout = await cpuPercentOver(10_000);
  const memoryBefore = memAvailableBytes();
  const ids: string[] = [];
  const creating = performance.now();
  for (let index = 0; index < idleCount; index++) {
    ids.push((await client.createSession({ language: "python", stateful: index % 2 === 1 })).sessionId);
  }
  // Half of them stateful with their interpreter started, as an agent's session would be.
  for (const sessionId of ids.filter((_, index) => index % 2 === 1)) await client.exec({ sessionId, code: "x = 1" });
  const createMs = performance.now() - creating;
  await new Promise((resolve) => setTimeout(resolve, 3000));
  const memoryCost = memoryBefore - memAvailableBytes();
  const cpuWith = await cpuPercentOver(10_000);
  const serverRss = server.rssBytes();
  for (const sessionId of ids) await client.closeSession({ sessionId });
  console.log(
    `\n${idleCount} idle sessions (half stateful, interpreter started), created in ${(createMs / 1000).toFixed(1)} s\n`,
  );
  console.log("| measure | value | goal |");
  console.log("| --- | ---: | ---: |");
  console.log(`| host memory taken (MemAvailable drop) | ${(memoryCost / 2 ** 20).toFixed(0)} MiB | < 2048 MiB |`);
  console.log(`| per session | ${(memoryCost / idleCount / 2 ** 20).toFixed(1)} MiB | |`);
  console.log(
    `| CPU of the sessions' processes (agents, interpreters) over 10 s idle | ${cpuWith.containers.toFixed(2)} % of one core | 0 |`,
  );
  console.log(`| CPU of the engine's per-container shims over 10 s idle | ${cpuWith.shims.toFixed(2)} % of one core | |`);
  console.log(`| host CPU over 10 s idle, with them | ${cpuWith.host.toFixed(1)} % of one core | |`);
  console.log(`| host CPU over 10 s idle, without them | ${cpuWithout.host.toFixed(1)} % of one core | |`);
  console.log(`| Aurea server RSS with them | ${(serverRss / 2 ** 20).toFixed(0)} MiB | |`);
} finally {
  await peer.stop();
  await server.stop();
}
