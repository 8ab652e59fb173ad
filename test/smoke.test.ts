import { test, expect } from "vitest";
import { pino } from "pino";
import { connectDocker } from "../src/docker/docker-connection.js";
import { DockerodeContainerClient } from "../src/docker/container-client.js";
import { createRunner } from "../src/runner/runner.js";
import { findLanguage } from "../src/runner/languages.js";

test("smoke", async () => {
  const logger = pino({ level: "debug" });
  const docker = connectDocker();
  const containers = new DockerodeContainerClient(docker, logger);
  const runner = createRunner({ containers, image: "aurea-sandbox:latest", instanceId: "smoke", outputLimitBytes: 1 << 20, logger });
  const limits = { cpu: 1, memoryBytes: 256 << 20, pids: 64, workspaceBytes: 64 << 20, tmpBytes: 16 << 20 };
  for (const [lang, code] of [["python", "import sys; print('hi', sys.stdin.read()); print('err', file=sys.stderr)"], ["bash", "id -u; cat; exit 3"], ["javascript", "console.log(1+1)"]] as const) {
    const t = performance.now();
    const out = await runner.run({ runId: "r" + lang, language: findLanguage(lang)!, code, files: [{ name: "src/a.txt", content: Buffer.from("x") }], stdin: Buffer.from("IN"), timeoutMs: 5000, readonlyRootfs: true, limits });
    console.log(lang, performance.now() - t, { ...out, stdout: out.stdout.toString(), stderr: out.stderr.toString() });
  }
  const t = performance.now();
  const out = await runner.run({ runId: "sleep", language: findLanguage("bash")!, code: "echo a; sleep 10", files: [], stdin: Buffer.alloc(0), timeoutMs: 1000, readonlyRootfs: true, limits });
  console.log("sleep", performance.now() - t, out.verdict, out.stdout.toString(), out.executionTimeMs);
});
