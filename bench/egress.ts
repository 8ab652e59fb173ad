/**
 * Egress: what a network policy costs. The latency a policy adds to a Run (Python `print`, with
 * and without `network`), and the throughput of a download through the egress gateway against the
 * same download by a plain container connecting directly, on the same network. Everything happens
 * on an engine network this bench creates as internal (no route out), against its own listener
 * (test/support/egress-listener.py) under the name `pkgs.test`; nothing leaves this machine.
 *
 *   npm run bench:egress   (BENCH_ROUNDS: samples per latency row, default 20; BENCH_MIB: download size, default 64)
 */
import { readFileSync } from "node:fs";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import Docker from "dockerode";
import { SandboxService } from "../gen/aurea/sandbox/v1/sandbox_pb.js";
import { freeSubnet, publicLookingSubnets } from "./support/free-subnet.js";
import { measure, summarize } from "./support/latency.js";
import { spawnServer } from "./support/spawn-server.js";

const rounds = Number(process.env.BENCH_ROUNDS ?? 20);
const mebibytes = Number(process.env.BENCH_MIB ?? 64);
const image = process.env.SANDBOX_IMAGE ?? "aurea-sandbox:latest";
const networkName = "aurea-bench-egress";
const docker = new Docker();
const listenerScript = readFileSync("test/support/egress-listener.py", "utf8");

await docker
  .getNetwork(networkName)
  .remove()
  .catch(() => undefined);
await docker.createNetwork({
  Name: networkName,
  Internal: true,
  IPAM: { Config: [{ Subnet: freeSubnet(publicLookingSubnets) }] },
});
const listener = await docker.createContainer({
  Image: image,
  Cmd: ["python3", "-u", "-c", listenerScript],
  User: "0:0",
  HostConfig: { NetworkMode: networkName },
  NetworkingConfig: { EndpointsConfig: { [networkName]: { Aliases: ["pkgs.test"] } } },
});
await listener.start();
const server = await spawnServer({
  EGRESS_ALLOWED: "*.test",
  EGRESS_UPSTREAM_NETWORK: networkName,
  EGRESS_MAX_BYTES: "4g",
  WARM_POOL_SIZE: "2",
});
const client = createClient(SandboxService, createGrpcTransport({ baseUrl: `http://127.0.0.1:${server.port}` }));
const download = (url: string) =>
  [
    "import time, urllib.request",
    "started = time.perf_counter()",
    `size = len(urllib.request.urlopen(${JSON.stringify(url)}, timeout=120).read())`,
    "print(size, time.perf_counter() - started)",
  ].join("\n");
const throughput = (stdout: string) => {
  const [size, seconds] = stdout.trim().split(" ").map(Number);
  return (size ?? 0) / 2 ** 20 / (seconds ?? 1);
};
try {
  const url = `http://pkgs.test/bytes/${mebibytes * 2 ** 20}`;
  // Warm up both paths: the gateway starts on first use.
  await client.run({ language: "python", code: "print(1)", network: { allow: ["pkgs.test"] } });
  await client.run({ language: "python", code: "print(1)" });
  const runOnce = async (request: Parameters<typeof client.run>[0]) => {
    await client.run(request);
  };
  const plain = await measure(rounds, 1, () => runOnce({ language: "python", code: "print(1)" }));
  const withPolicy = await measure(rounds, 1, () =>
    runOnce({ language: "python", code: "print(1)", network: { allow: ["pkgs.test"] } }),
  );
  const fetching = await measure(rounds, 1, () =>
    runOnce({ language: "python", code: download("http://pkgs.test/"), network: { allow: ["pkgs.test"] } }),
  );
  const base = summarize(plain.samples);
  const policy = summarize(withPolicy.samples);
  const fetched = summarize(fetching.samples);

  // The direct path: a plain container on the same network fetching from the listener itself.
  const direct = await docker.run(image, ["python3", "-c", download(url)], process.stdout, {
    HostConfig: { NetworkMode: networkName, AutoRemove: false },
  });
  const directLogs = String(await direct[1].logs({ stdout: true }));
  await direct[1].remove({ force: true });
  const proxied = await client.run({ language: "python", code: download(url), network: { allow: ["pkgs.test"] }, timeout: 120 });

  console.log(`\nEgress over loopback gRPC, ${rounds} samples a latency row, milliseconds\n`);
  console.log("| Run of Python | p50 | p95 | p50 / without a policy |");
  console.log("| --- | ---: | ---: | ---: |");
  console.log(`| \`print(1)\`, no policy (warm pool) | ${base.p50.toFixed(1)} | ${base.p95.toFixed(1)} | 1.00 |`);
  console.log(
    `| \`print(1)\`, policy \`pkgs.test\` (cold: own network) | ${policy.p50.toFixed(1)} | ${policy.p95.toFixed(1)} | ${(policy.p50 / base.p50).toFixed(2)} |`,
  );
  console.log(
    `| one HTTP GET of \`pkgs.test\` through the gateway | ${fetched.p50.toFixed(1)} | ${fetched.p95.toFixed(1)} | ${(fetched.p50 / base.p50).toFixed(2)} |`,
  );
  const directRate = throughput(
    directLogs
      .replace(/[^\x20-\x7e]/g, " ")
      .trim()
      .split(/\s+/)
      .slice(-2)
      .join(" "),
  );
  const proxiedRate = throughput(proxied.stdout);
  console.log(`\n| ${mebibytes} MiB download | MiB/s | / direct |`);
  console.log("| --- | ---: | ---: |");
  console.log(`| plain container, direct connection, same network | ${directRate.toFixed(0)} | 1.00 |`);
  console.log(`| Aurea run through the egress gateway | ${proxiedRate.toFixed(0)} | ${(proxiedRate / directRate).toFixed(2)} |`);
} finally {
  await server.stop();
  await listener.remove({ force: true });
  await docker
    .getNetwork(networkName)
    .remove()
    .catch(() => undefined);
}
