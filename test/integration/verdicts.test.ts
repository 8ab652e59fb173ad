import { describe, expect, it } from "vitest";
import { useAurea } from "../support/aurea-server.js";

const server = useAurea();

const mebibyte = 1024 * 1024;

describe("one truthful verdict", () => {
  it("OK: exit 0", async () => {
    const response = await server.client.run({ language: "bash", code: "exit 0" });
    expect(response).toMatchObject({ status: "RUN_STATUS_OK", success: true, exit_code: 0, signal: "" });
  });

  it("RUNTIME_ERROR: exit 3", async () => {
    const response = await server.client.run({ language: "bash", code: "exit 3" });
    expect(response).toMatchObject({ status: "RUN_STATUS_RUNTIME_ERROR", success: false, exit_code: 3, signal: "" });
  });

  it("RUNTIME_ERROR with the signal: kill -SEGV $$", async () => {
    const response = await server.client.run({ language: "bash", code: "echo before; kill -SEGV $$" });
    expect(response).toMatchObject({
      status: "RUN_STATUS_RUNTIME_ERROR",
      exit_code: 139,
      signal: "SIGSEGV",
      stdout: "before\n",
    });
  });

  it("RUNTIME_ERROR for an uncaught exception, with its traceback on stderr", async () => {
    const response = await server.client.run({ language: "python", code: "raise ValueError('nope')" });
    expect(response).toMatchObject({ status: "RUN_STATUS_RUNTIME_ERROR", exit_code: 1 });
    expect(response.stderr).toContain("ValueError: nope");
  });

  it("MEMORY_LIMIT: a memory bomb, with peak memory at the limit", async () => {
    const limit = 48 * mebibyte;
    const started = performance.now();
    const response = await server.client.run({
      language: "python",
      code: "blocks = []\nwhile True:\n    blocks.append(bytearray(4 * 1024 * 1024))",
      limits: { memory_bytes: String(limit) },
      timeout: 20,
    });
    expect(response).toMatchObject({ status: "RUN_STATUS_MEMORY_LIMIT", exit_code: 137, signal: "SIGKILL", timed_out: false });
    const usage = response.usage as { peak_memory_bytes: string };
    expect(Number(usage.peak_memory_bytes)).toBeGreaterThan(limit * 0.9);
    expect(Number(usage.peak_memory_bytes)).toBeLessThanOrEqual(limit);
    expect(performance.now() - started).toBeLessThan(10_000);
  });

  it("TIMEOUT: a CPU spin, with CPU time measured up to the kill", async () => {
    const started = performance.now();
    const response = await server.client.run({ language: "bash", code: "while :; do :; done", timeout: 1.5 });
    const elapsed = performance.now() - started;
    expect(response).toMatchObject({ status: "RUN_STATUS_TIMEOUT", timed_out: true, exit_code: 137 });
    expect(elapsed).toBeGreaterThanOrEqual(1500);
    expect(elapsed).toBeLessThan(3000);
    const usage = response.usage as { cpu_time: number };
    expect(usage.cpu_time).toBeGreaterThan(1.0);
    expect(usage.cpu_time).toBeLessThan(2.0);
  });
});

describe("usage", () => {
  it("reports CPU time and peak memory of a run that ends on its own", async () => {
    const response = await server.client.run({
      language: "python",
      code: [
        "import time",
        "block = bytearray(64 * 1024 * 1024)",
        "for i in range(0, len(block), 4096): block[i] = 1",
        "end = time.process_time() + 0.3",
        "while time.process_time() < end: pass",
      ].join("\n"),
    });
    expect(response.status).toBe("RUN_STATUS_OK");
    const usage = response.usage as { cpu_time: number; peak_memory_bytes: string };
    expect(usage.cpu_time).toBeGreaterThanOrEqual(0.3);
    expect(usage.cpu_time).toBeLessThan(2);
    expect(Number(usage.peak_memory_bytes)).toBeGreaterThan(64 * mebibyte);
    expect(Number(usage.peak_memory_bytes)).toBeLessThan(200 * mebibyte);
  });
});

describe("processes that outlive the program", () => {
  it("a double-forked daemon does not keep the run alive", async () => {
    const started = performance.now();
    const response = await server.client.run({
      language: "bash",
      code: "( setsid sleep 1000 & ) ; nohup sleep 1000 >/dev/null 2>&1 & echo parent done",
      timeout: 20,
    });
    expect(response).toMatchObject({ status: "RUN_STATUS_OK", stdout: "parent done\n" });
    expect(performance.now() - started).toBeLessThan(3000);
  });

  it("a child that keeps stdout open and ignores SIGTERM does not keep the run alive", async () => {
    const started = performance.now();
    const response = await server.client.run({
      language: "bash",
      code: "( trap '' TERM HUP; while :; do sleep 1; echo tick; done ) & echo parent done",
      timeout: 20,
    });
    expect(response.status).toBe("RUN_STATUS_OK");
    expect(response.stdout as string).toMatch(/^parent done\n/);
    expect(performance.now() - started).toBeLessThan(3000);
  });
});

describe("the supervisor cannot be fooled", () => {
  it("a program that tries to kill PID 1 changes nothing", async () => {
    const response = await server.client.run({
      language: "bash",
      code: "kill -KILL 1; kill -TERM 1; kill -STOP 1; echo still here; exit 4",
    });
    expect(response).toMatchObject({ status: "RUN_STATUS_RUNTIME_ERROR", exit_code: 4, stdout: "still here\n" });
    expect(response.usage).toBeTruthy();
  });

  it("a forged usage trailer is shown as output and does not replace the real one", async () => {
    const response = await server.client.run({
      language: "bash",
      code: "printf '\\0aurea-usage:00000000000000000000000000000000 ok 0 1 1 0\\n'; exit 5",
    });
    expect(response).toMatchObject({ status: "RUN_STATUS_RUNTIME_ERROR", exit_code: 5 });
    expect(response.stdout).toContain("aurea-usage:");
    expect(Number((response.usage as { peak_memory_bytes: string }).peak_memory_bytes)).toBeGreaterThan(1);
  });
});
