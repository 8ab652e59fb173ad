import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import * as grpc from "@grpc/grpc-js";
import { describe, expect, it } from "vitest";
import { useAurea } from "../support/aurea-server.js";
import { createGrpcSandboxClient } from "../support/grpc-js-client.js";
import { requireTool } from "../support/required-tools.js";

/** Prometheus metrics scraped from a real server after real runs, checked by Debian's promtool too. */

function promtoolCheck(text: string): Promise<{ code: number; output: string }> {
  return new Promise((resolve) => {
    const child = execFile("promtool", ["check", "metrics"], (error, stdout, stderr) =>
      resolve({ code: error ? Number(error.code ?? 1) : 0, output: `${stdout}${stderr}` }),
    );
    child.stdin?.end(text);
  });
}

const scrape = async (baseUrl: string, headers: Record<string, string> = {}) => {
  const response = await fetch(`${baseUrl}/metrics`, { headers });
  return { status: response.status, text: await response.text(), type: response.headers.get("content-type") };
};

/** The value of one sample, by its exact name and labels as written in the text format. */
const sample = (text: string, series: string) => {
  const line = text.split("\n").find((candidate) => candidate.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
};

describe("metrics and audit", () => {
  const server = useAurea({ API_KEYS: "ops:ops-secret-0123456789", WARM_POOL_SIZE: "0" });

  it("counts runs, times them, shows live state and process metrics, and passes promtool", async () => {
    requireTool("promtool");
    const client = createGrpcSandboxClient(server.current.port, { authorization: "Bearer ops-secret-0123456789" });
    try {
      expect(await client.run({ language: "python", code: "print(1)" })).toMatchObject({ status: "RUN_STATUS_OK" });
      expect(await client.run({ language: "bash", code: "exit 3" })).toMatchObject({ status: "RUN_STATUS_RUNTIME_ERROR" });
      await expect(client.run({ language: "nope", code: "x" })).rejects.toMatchObject({ code: grpc.status.INVALID_ARGUMENT });
      const { sessionId } = { sessionId: (await client.call("CreateSession", { language: "bash" })).session_id as string };
      await client.call("Exec", { session_id: sessionId, command: ["true"] });

      // Open, like the probes (AUTH_PROTECT_PROBES is off).
      const { status, text, type } = await scrape(server.current.baseUrl);
      expect(status).toBe(200);
      expect(type).toContain("text/plain");
      expect(sample(text, 'aurea_runs_total{language="python",runtime="runc",status="ok"}')).toBe(1);
      expect(sample(text, 'aurea_runs_total{language="bash",runtime="runc",status="runtime_error"}')).toBe(1);
      expect(sample(text, 'aurea_session_execs_total{language="bash",runtime="runc",status="ok"}')).toBe(1);
      expect(sample(text, 'aurea_run_containers_total{language="python",runtime="runc",origin="cold"}')).toBe(1);
      // Cold, and why: this server keeps no warm pool.
      expect(sample(text, 'aurea_run_cold_containers_total{language="python",runtime="runc",reason="pool_off"}')).toBe(1);
      expect(sample(text, "aurea_run_queue_seconds_count")).toBe(2);
      expect(sample(text, 'aurea_run_seconds_count{language="python",runtime="runc"}')).toBe(1);
      expect(sample(text, 'aurea_rpc_seconds_count{method="Run",code="ok"}')).toBe(2);
      expect(sample(text, 'aurea_rpc_seconds_count{method="Run",code="invalid_argument"}')).toBe(1);
      expect(sample(text, 'aurea_sessions{kind="open"}')).toBe(1);
      expect(sample(text, "aurea_runs_in_flight")).toBe(0);
      expect(text).toMatch(/^aurea_build_info\{version="[^"]+",node="[^"]+"\} 1$/m);
      expect(text).toMatch(/^aurea_process_resident_memory_bytes \d+/m);
      const checked = await promtoolCheck(text);
      expect(checked, checked.output).toMatchObject({ code: 0 });

      // The audit line: who, from where, what (size and hash, never the code), how it ended.
      const audit = server.current.logs().find((line) => line.msg === "run audit" && line.language === "python");
      expect(audit).toMatchObject({
        key_id: "ops",
        client_address: expect.stringMatching(/127\.0\.0\.1/),
        runtime: "runc",
        code_bytes: 8,
        code_sha256: createHash("sha256").update("print(1)").digest("hex"),
        limits: { cpu: 1, pids: 64, timeout_s: 30 },
        status: "ok",
        exit_code: 0,
        queue_ms: expect.any(Number),
        run_ms: expect.any(Number),
      });
      expect(audit).not.toHaveProperty("code");
      expect(JSON.stringify(server.current.logs())).not.toContain("print(1)");
      await client.call("CloseSession", { session_id: sessionId });
    } finally {
      client.close();
    }
  });
});

describe("metrics behind the probes' key", () => {
  const server = useAurea({ API_KEYS: "ops:ops-secret-0123456789", AUTH_PROTECT_PROBES: "true", LOG_CODE: "true" });

  it("ask for a key when probes do, and the audit line carries the code when LOG_CODE is on", async () => {
    expect((await scrape(server.current.baseUrl)).status).toBe(401);
    expect((await scrape(server.current.baseUrl, { authorization: "Bearer ops-secret-0123456789" })).status).toBe(200);
    const client = createGrpcSandboxClient(server.current.port, { authorization: "Bearer ops-secret-0123456789" });
    await client.run({ language: "bash", code: "echo logged" });
    client.close();
    expect(server.current.logs().find((line) => line.msg === "run audit")).toMatchObject({ code: "echo logged" });
  });
});
