/**
 * Server memory while sandboxes try to flood 1 GiB of output.
 *
 * Starts a real server process, measures its idle RSS (the baseline, in the same run), then runs
 * programs that each try to write 1 GiB to stdout, through Run and RunStream, one at a time and
 * four at once, at the default 1 MiB cap and at a 64 MiB cap. Prints the peak RSS of the server
 * in each case and its ratio to the baseline. Memory should follow the cap, never the flood.
 *
 *   npm run bench:flood
 */
import { create } from "@bufbuild/protobuf";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { RunRequestSchema, SandboxService } from "../gen/aurea/sandbox/v1/sandbox_pb.js";
import { samplePeak, spawnServer } from "./support/spawn-server.js";

const gibibyte = 1024 ** 3;
const flood = { language: "bash", code: `head -c ${gibibyte} /dev/zero`, timeout: 120 };
const mib = (bytes: number) => (bytes / 1024 / 1024).toFixed(1);

interface Row {
  cap: string;
  scenario: string;
  keptBytes: number;
  status: string;
  seconds: number;
  peakRss: number;
  baselineRss: number;
}

async function measure(cap: string): Promise<Row[]> {
  const server = await spawnServer({ SANDBOX_OUTPUT_LIMIT: cap });
  const client = createClient(SandboxService, createGrpcTransport({ baseUrl: `http://127.0.0.1:${server.port}` }));
  const request = create(RunRequestSchema, flood);
  // Warm the server's code paths, then let it settle, so the baseline is a steady state.
  await client.run(create(RunRequestSchema, { language: "bash", code: "echo warm" }));
  await new Promise((resolve) => setTimeout(resolve, 500));
  const baselineRss = server.rssBytes();
  const rows: Row[] = [];

  const scenarios: [string, () => Promise<{ kept: number; status: string }>][] = [
    [
      "Run x1",
      async () => {
        const response = await client.run(request);
        return { kept: response.stdout.length, status: String(response.status) };
      },
    ],
    [
      "RunStream x1",
      async () => {
        let kept = 0;
        let status = "";
        for await (const message of client.runStream(request)) {
          if (message.event.case === "stdout") kept += message.event.value.length;
          if (message.event.case === "result") status = String(message.event.value.status);
        }
        return { kept, status };
      },
    ],
    [
      "Run x4 at once",
      async () => {
        const responses = await Promise.all([1, 2, 3, 4].map(() => client.run(request)));
        return {
          kept: responses.reduce((total, response) => total + response.stdout.length, 0),
          status: [...new Set(responses.map((response) => String(response.status)))].join(","),
        };
      },
    ],
  ];
  for (const [scenario, run] of scenarios) {
    const sampler = samplePeak(() => server.rssBytes());
    const started = performance.now();
    const { kept, status } = await run();
    const seconds = (performance.now() - started) / 1000;
    rows.push({ cap, scenario, keptBytes: kept, status, seconds, peakRss: sampler.stop(), baselineRss });
  }
  await server.stop();
  return rows;
}

const rows = [...(await measure("1m")), ...(await measure("64m"))];
console.log("\nServer RSS while each program tries to write 1 GiB to stdout (status 5 = OUTPUT_LIMIT)\n");
console.log("| cap | scenario | kept MiB | status | seconds | idle RSS MiB (baseline) | peak RSS MiB | peak / baseline |");
console.log("| --- | --- | ---: | --- | ---: | ---: | ---: | ---: |");
for (const row of rows) {
  console.log(
    `| ${row.cap} | ${row.scenario} | ${mib(row.keptBytes)} | ${row.status} | ${row.seconds.toFixed(2)} | ${mib(row.baselineRss)} | ${mib(row.peakRss)} | ${(row.peakRss / row.baselineRss).toFixed(2)} |`,
  );
}
