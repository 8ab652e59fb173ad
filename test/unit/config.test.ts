import { describe, expect, it } from "vitest";
import { parseByteSize, parseConfig } from "../../src/config/config.js";

describe("parseConfig", () => {
  it("applies the documented defaults to an empty environment", () => {
    const result = parseConfig({});
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(result.config).toMatchObject({
      host: "0.0.0.0",
      port: 8000,
      sandboxImage: "aurea-sandbox:latest",
      cpuLimit: 1,
      memoryLimitBytes: 512 * 1024 * 1024,
      defaultTimeoutSeconds: 30,
      maxTimeoutSeconds: 300,
      pidsLimit: 64,
      outputLimitBytes: 1024 * 1024,
      readonlyDefault: true,
    });
  });

  it("reads every variable it documents", () => {
    const result = parseConfig({
      HOST: "127.0.0.1",
      PORT: "0",
      SANDBOX_IMAGE: "registry.example/aurea:2",
      SANDBOX_CPU_LIMIT: "0.5",
      SANDBOX_MEMORY_LIMIT: "1g",
      SANDBOX_DEFAULT_TIMEOUT: "5",
      SANDBOX_MAX_TIMEOUT: "10",
      SANDBOX_PIDS_LIMIT: "32",
      SANDBOX_OUTPUT_LIMIT: "64k",
      SANDBOX_READONLY_DEFAULT: "false",
      LOG_LEVEL: "debug",
    });
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(result.config).toMatchObject({
      host: "127.0.0.1",
      port: 0,
      sandboxImage: "registry.example/aurea:2",
      cpuLimit: 0.5,
      memoryLimitBytes: 1024 ** 3,
      defaultTimeoutSeconds: 5,
      maxTimeoutSeconds: 10,
      pidsLimit: 32,
      outputLimitBytes: 64 * 1024,
      readonlyDefault: false,
      logLevel: "debug",
    });
  });

  it("reports every bad value at once, naming each variable", () => {
    const result = parseConfig({
      PORT: "eighty",
      SANDBOX_CPU_LIMIT: "-1",
      SANDBOX_MEMORY_LIMIT: "lots",
      SANDBOX_READONLY_DEFAULT: "maybe",
      SANDBOX_IMAGE: "Not An Image",
      LOG_LEVEL: "loud",
    });
    expect(result.ok).toBe(false);
    if (result.ok) return;
    const text = result.errors.join("\n");
    for (const name of [
      "PORT",
      "SANDBOX_CPU_LIMIT",
      "SANDBOX_MEMORY_LIMIT",
      "SANDBOX_READONLY_DEFAULT",
      "SANDBOX_IMAGE",
      "LOG_LEVEL",
    ]) {
      expect(text).toContain(name);
    }
    expect(result.errors).toHaveLength(6);
  });

  it("refuses a default timeout above the maximum", () => {
    const result = parseConfig({ SANDBOX_DEFAULT_TIMEOUT: "60", SANDBOX_MAX_TIMEOUT: "30" });
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.errors[0]).toMatch(/SANDBOX_DEFAULT_TIMEOUT.*SANDBOX_MAX_TIMEOUT/);
  });
});

describe("parseByteSize", () => {
  it.each([
    ["65536", 65536],
    ["512m", 512 * 1024 * 1024],
    ["512M", 512 * 1024 * 1024],
    ["1g", 1024 ** 3],
    ["1.5k", 1536],
    ["64kb", 64 * 1024],
  ])("reads %s", (text, bytes) => {
    expect(parseByteSize(text)).toBe(bytes);
  });

  it.each(["", "m", "-1m", "12q", "1e3"])("refuses %j", (text) => {
    expect(parseByteSize(text)).toBeUndefined();
  });
});
