/**
 * What delivering files and collecting artifacts costs a run.
 *
 * Files reach the workspace as a tar on the container's stdin, extracted by its supervisor;
 * artifacts come back as a manifest and tar after the program ends (src/sandbox/programs/supervisor.sh).
 * Each scenario runs the same Python one-liner; the baseline (no files, no artifacts) is measured
 * in the same run, and the table gives each scenario's p50 against it.
 *
 *   npm run bench:files
 */
import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { RunRequestSchema, RunStatus, SandboxService } from "../gen/aurea/sandbox/v1/sandbox_pb.js";
import { measure, summarize } from "./support/latency.js";
import { spawnServer } from "./support/spawn-server.js";

const runs = Number(process.env.BENCH_RUNS ?? 20);
const kib = 1024;

const scenarios: [string, MessageInitShape<typeof RunRequestSchema>][] = [
  ["baseline: no files", {}],
  ["10 files x 1 KiB", { files: Object.fromEntries(Array.from({ length: 10 }, (_, i) => [`d/f${i}.txt`, "x".repeat(kib)])) }],
  ["200 files x 1 KiB", { files: Object.fromEntries(Array.from({ length: 200 }, (_, i) => [`d/f${i}.txt`, "x".repeat(kib)])) }],
  ["1 file x 4 MiB", { binaryFiles: { "blob.bin": new Uint8Array(4 * kib * kib) } }],
  [
    "artifacts: 10 x 1 KiB back",
    { captureArtifacts: true, code: "for i in range(10): open(f'out{i}.txt', 'w').write('y' * 1024)" },
  ],
  ["artifacts: 1 x 4 MiB back", { captureArtifacts: true, code: "open('out.bin', 'wb').write(bytes(4 * 1024 * 1024))" }],
];

const server = await spawnServer({ MAX_REQUEST_BYTES: "16m" });
const client = createClient(SandboxService, createGrpcTransport({ baseUrl: `http://127.0.0.1:${server.port}` }));
const rows: { name: string; p50: number; p95: number }[] = [];
for (const [name, fields] of scenarios) {
  const request = create(RunRequestSchema, { language: "python", code: "pass", ...fields });
  await client.run(request); // warm-up
  const { samples } = await measure(runs, 1, async () => {
    const response = await client.run(request);
    if (response.status !== RunStatus.OK) throw new Error(`${name}: ${RunStatus[response.status]} ${response.stderr}`);
  });
  const summary = summarize(samples);
  rows.push({ name, p50: summary.p50, p95: summary.p95 });
}
await server.stop();

const baseline = rows[0]!.p50;
console.log(`\nRun latency with files and artifacts, ${runs} sequential runs each over gRPC on loopback\n`);
console.log("| scenario | p50 ms | p95 ms | p50 / baseline |");
console.log("| --- | ---: | ---: | ---: |");
for (const row of rows) {
  console.log(`| ${row.name} | ${row.p50.toFixed(1)} | ${row.p95.toFixed(1)} | ${(row.p50 / baseline).toFixed(2)} |`);
}
