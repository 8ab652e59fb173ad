import net from "node:net";
import { create } from "@bufbuild/protobuf";
import { createClient } from "@connectrpc/connect";
import { createGrpcWebTransport } from "@connectrpc/connect-node";
import * as grpc from "@grpc/grpc-js";
import Docker from "dockerode";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RunRequestSchema, RunStatus, SandboxService } from "../../gen/aurea/sandbox/v1/sandbox_pb.js";
import { repositoryLanguages } from "../support/languages.js";
import { startAurea, useAurea, type RunningAurea } from "../support/aurea-server.js";
import { bridgeGatewayAddress } from "../support/containers.js";
import { grpcErrorDetails } from "../support/error-details.js";
import { createGrpcSandboxClient, type GrpcSandboxClient } from "../support/grpc-js-client.js";
import { healthPath, helloRequest, helloResponse, postJson, runPath } from "../support/http-json.js";

const server = useAurea({ SANDBOX_OUTPUT_LIMIT: "64k" });

const hello = {
  python: 'print("Hello from sandbox!")',
  javascript: 'console.log("Hello from sandbox!")',
  bash: 'echo "Hello from sandbox!"',
};

describe("Run over gRPC (independent @grpc/grpc-js client, h2c)", () => {
  it.each(Object.entries(hello))("runs %s", async (language, code) => {
    const response = await server.client.run({ code, language, timeout: 30 });
    expect(response).toMatchObject({
      success: true,
      status: "RUN_STATUS_OK",
      exit_code: 0,
      stdout: "Hello from sandbox!\n",
      stderr: "",
      timed_out: false,
      timeout: 30,
    });
    expect(response.run_id).toMatch(/^[0-9a-f-]{36}$/);
    expect(response.execution_time).toBeGreaterThan(0);
  });

  it("keeps stdout and stderr apart", async () => {
    const response = await server.client.run({
      language: "python",
      code: 'import sys\nprint("to out")\nprint("to err", file=sys.stderr)',
    });
    expect(response).toMatchObject({ stdout: "to out\n", stderr: "to err\n", status: "RUN_STATUS_OK" });
  });

  it("reports a non-zero exit as a runtime error", async () => {
    const response = await server.client.run({ language: "bash", code: "echo before; exit 3" });
    expect(response).toMatchObject({
      success: false,
      status: "RUN_STATUS_RUNTIME_ERROR",
      exit_code: 3,
      stdout: "before\n",
      signal: "",
    });
  });

  it("kills a program at its timeout and says so within about a second", async () => {
    const started = performance.now();
    const response = await server.client.run({ language: "bash", code: "echo started; sleep 30", timeout: 1 });
    const elapsedMs = performance.now() - started;
    expect(response).toMatchObject({
      success: false,
      status: "RUN_STATUS_TIMEOUT",
      timed_out: true,
      timeout: 1,
      exit_code: 137,
      stdout: "started\n",
    });
    expect(elapsedMs).toBeGreaterThanOrEqual(1000);
    expect(elapsedMs).toBeLessThan(2500);
  });

  it("kills a memory bomb at the memory limit", async () => {
    const response = await server.client.run({
      language: "python",
      code: "chunks = []\nwhile True:\n    chunks.append(bytearray(16 * 1024 * 1024))",
      limits: { memory_bytes: String(64 * 1024 * 1024) },
    });
    expect(response).toMatchObject({
      success: false,
      status: "RUN_STATUS_MEMORY_LIMIT",
      exit_code: 137,
      signal: "SIGKILL",
      timed_out: false,
    });
    expect(response.limits).toMatchObject({ memory_bytes: String(64 * 1024 * 1024) });
  });

  it("runs as a non-root user", async () => {
    const response = await server.client.run({ language: "bash", code: "id -u; id -g" });
    expect(response.stdout).toBe("10001\n10001\n");
  });

  it("refuses writes to / when readonly, while the workspace stays writable", async () => {
    const code = [
      "touch /should-fail 2>&1 || echo root-refused",
      "echo data > ./in-workspace && cat ./in-workspace",
      "echo temp > /tmp/t && cat /tmp/t",
    ].join("\n");
    const response = await server.client.run({ language: "bash", code, readonly: true });
    expect(response.stdout).toContain("Read-only file system");
    expect(response.stdout).toContain("root-refused");
    expect(response.stdout).toContain("data\ntemp\n");
  });

  it("places extra files in the workspace, sub-directories included", async () => {
    const response = await server.client.run({
      language: "python",
      code: "from lib.util import greet\nprint(greet('files'))\nprint(open('data/input.txt').read())",
      files: { "lib/__init__.py": "", "lib/util.py": "def greet(name):\n    return f'hello {name}'\n", "data/input.txt": "42" },
    });
    expect(response).toMatchObject({ status: "RUN_STATUS_OK", stdout: "hello files\n42\n" });
  });

  it("kills a program that floods its output past the cap", async () => {
    const response = await server.client.run({ language: "bash", code: "yes aurea", timeout: 20 });
    expect(response).toMatchObject({ status: "RUN_STATUS_OUTPUT_LIMIT", stdout_truncated: true, success: false });
    expect((response.stdout as string).length).toBe(64 * 1024);
    expect(response.stdout as string).toMatch(/^(aurea\n)+/);
  });

  it("answers INVALID_ARGUMENT naming each bad field", async () => {
    const error = (await server.client
      .run({ language: "intercal", code: "", timeout: -1 })
      .catch((e: unknown) => e)) as grpc.ServiceError;
    expect(error.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(error.details).toContain('language: unknown language "intercal"');
    expect(error.details).toContain("code: is required");
    expect(error.details).toContain("timeout: must be a positive");
  });

  it("answers INVALID_ARGUMENT for limits above the server maximum", async () => {
    const error = (await server.client
      .run({ language: "bash", code: "true", limits: { cpu: 64 } })
      .catch((e: unknown) => e)) as grpc.ServiceError;
    expect(error.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(error.details).toMatch(/^limits\.cpu: 64 cores is above the server maximum/);
  });

  it("reports health", async () => {
    const health = await server.client.health();
    expect(health).toMatchObject({
      serving: true,
      docker_reachable: true,
      sandbox_image: "aurea-sandbox:latest",
      sandbox_image_present: true,
      languages: repositoryLanguages.all().map((language) => language.name),
      detail: "",
    });
    expect(health.docker_version).not.toBe("");
  });
});

describe("network isolation", () => {
  it("sees only loopback, no routes, and cannot reach a listener on the engine's bridge address", async () => {
    const gateway = await bridgeGatewayAddress();
    let connections = 0;
    const listener = net.createServer((socket) => {
      connections++;
      socket.destroy();
    });
    await new Promise<void>((resolve) => listener.listen(0, gateway, resolve));
    const port = (listener.address() as net.AddressInfo).port;
    try {
      const code = [
        "import os, socket",
        "print(sorted(os.listdir('/sys/class/net')))",
        "print(len(open('/proc/net/route').read().strip().splitlines()) - 1)",
        "s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)",
        "s.settimeout(3)",
        "try:",
        `    s.connect((${JSON.stringify(gateway)}, ${port}))`,
        "    print('connected')",
        "except OSError as e:",
        "    print('failed', e.errno)",
      ].join("\n");
      const response = await server.client.run({ language: "python", code });
      expect(response.status).toBe("RUN_STATUS_OK");
      const [interfaces, routes, connect] = (response.stdout as string).trim().split("\n");
      expect(interfaces).toBe("['lo']");
      expect(routes).toBe("0");
      expect(connect).toBe("failed 101"); // ENETUNREACH
      expect(connections).toBe(0);
    } finally {
      listener.close();
    }
  });
});

describe("Run over HTTP/1.1 JSON (curl's view)", () => {
  it("accepts the original REST body and answers with snake_case fields, defaults included", async () => {
    const reply = await postJson(server.current.baseUrl, runPath, helloRequest);
    expect(reply.status).toBe(200);
    expect(reply.body).toMatchObject(helloResponse);
    expect(typeof reply.body.run_id).toBe("string");
    expect(typeof reply.body.execution_time).toBe("number");
  });

  it("accepts snake_case request fields", async () => {
    const reply = await postJson(server.current.baseUrl, runPath, {
      code: "echo ok",
      language: "bash",
      limits: { memory_bytes: 33554432 },
    });
    expect(reply.body).toMatchObject({ status: "RUN_STATUS_OK", limits: { memory_bytes: "33554432" } });
  });

  it("answers 400 invalid_argument naming the field", async () => {
    const reply = await postJson(server.current.baseUrl, runPath, { code: "print(1)", language: "intercal" });
    expect(reply.status).toBe(400);
    expect(reply.body).toMatchObject({ code: "invalid_argument" });
    expect(reply.body.message).toMatch(/^language: unknown language "intercal"/);
  });

  it("answers invalid_argument for a body that is not a RunRequest", async () => {
    const reply = await postJson(server.current.baseUrl, runPath, { code: 12, language: ["python"] });
    expect(reply.status).toBe(400);
    expect(reply.body.code).toBe("invalid_argument");
  });

  it("reports health", async () => {
    const reply = await postJson(server.current.baseUrl, healthPath, {});
    expect(reply.body).toMatchObject({ serving: true, docker_reachable: true, sandbox_image_present: true });
  });
});

describe("Run over gRPC-Web (HTTP/1.1)", () => {
  it("runs code", async () => {
    const client = createClient(SandboxService, createGrpcWebTransport({ baseUrl: server.current.baseUrl, httpVersion: "1.1" }));
    const response = await client.run(create(RunRequestSchema, { code: "echo web", language: "bash" }));
    expect(response.status).toBe(RunStatus.OK);
    expect(response.stdout).toBe("web\n");
  });
});

describe("with the engine unreachable", () => {
  let offline: RunningAurea;
  let offlineClient: GrpcSandboxClient;

  beforeAll(async () => {
    offline = await startAurea({}, { docker: new Docker({ socketPath: "/nonexistent/docker.sock" }) });
    offlineClient = createGrpcSandboxClient(offline.port);
  });

  afterAll(async () => {
    offlineClient?.close();
    await offline?.stop();
  });

  it("answers Run with UNAVAILABLE at once", async () => {
    const started = performance.now();
    const error = (await offlineClient.run({ language: "bash", code: "true" }).catch((e: unknown) => e)) as grpc.ServiceError;
    expect(error.code).toBe(grpc.status.UNAVAILABLE);
    expect(error.details).toMatch(/container engine unreachable/);
    expect(grpcErrorDetails(error).info).toEqual({ reason: "ENGINE_UNAVAILABLE", domain: "aurea.dev", metadata: {} });
    expect(performance.now() - started).toBeLessThan(1000);
  });

  it("reports not serving in Health, within a second", async () => {
    const started = performance.now();
    const health = await offlineClient.health();
    expect(performance.now() - started).toBeLessThan(1500);
    expect(health).toMatchObject({ serving: false, docker_reachable: false, sandbox_image_present: false });
    expect(health.detail).toMatch(/container engine unreachable/);
  });
});
