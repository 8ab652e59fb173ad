import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { describe, expect, it } from "vitest";
import { repositoryLanguages } from "../support/languages.js";
import { startAurea, useAurea } from "../support/aurea-server.js";
import { bufCurl } from "../support/buf-curl.js";
import { fileDescriptorSet, reflect } from "../support/reflection-client.js";

const server = useAurea();

const services = [
  "aurea.sandbox.v1.SandboxService",
  "grpc.health.v1.Health",
  "grpc.reflection.v1.ServerReflection",
  "grpc.reflection.v1alpha.ServerReflection",
];

describe("server reflection", () => {
  it.each(["v1", "v1alpha"] as const)("lists every service over %s", async (version) => {
    const [answer] = await reflect(server.current.port, [{ list_services: "" }], version);
    expect(answer?.list_services_response?.service.map((service) => service.name).sort()).toEqual([...services].sort());
  });

  it("finds the file of a service, a method and a message, and by file name", async () => {
    const answers = await reflect(server.current.port, [
      { file_containing_symbol: "aurea.sandbox.v1.SandboxService" },
      { file_containing_symbol: "aurea.sandbox.v1.SandboxService.RunStream" },
      { file_containing_symbol: "aurea.sandbox.v1.RunResponse" },
      { file_containing_symbol: "grpc.health.v1.HealthCheckResponse.ServingStatus" },
      { file_by_filename: "aurea/sandbox/v1/sandbox.proto" },
      { file_containing_symbol: "no.such.Symbol" },
    ]);
    for (const answer of answers.slice(0, 5))
      expect(answer.file_descriptor_response?.file_descriptor_proto.length).toBeGreaterThan(0);
    expect(answers[5]?.error_response?.error_code).toBe(grpc.status.NOT_FOUND);
  });

  it("gives an independent client what it needs to rebuild every type and call Run", async () => {
    const answers = await reflect(
      server.current.port,
      services.map((symbol) => ({ file_containing_symbol: symbol })),
    );
    const files = answers.flatMap((answer) => answer.file_descriptor_response?.file_descriptor_proto ?? []);
    const definition = protoLoader.loadFileDescriptorSetFromBuffer(fileDescriptorSet(files), {
      keepCase: true,
      enums: String,
      defaults: true,
    });
    for (const name of [
      "aurea.sandbox.v1.RunRequest",
      "aurea.sandbox.v1.RunResponse",
      "aurea.sandbox.v1.RunStreamResponse",
      "aurea.sandbox.v1.ResourceLimits",
      "aurea.sandbox.v1.ResourceUsage",
      "aurea.sandbox.v1.SkippedArtifact",
      "aurea.sandbox.v1.BuildImageResponse",
      "aurea.sandbox.v1.HealthResponse",
      "grpc.health.v1.HealthListResponse",
      "grpc.reflection.v1.ServerReflectionResponse",
    ]) {
      expect(definition[name], name).toBeDefined();
    }
    const SandboxService = (
      grpc.loadPackageDefinition(definition) as unknown as {
        aurea: { sandbox: { v1: { SandboxService: grpc.ServiceClientConstructor } } };
      }
    ).aurea.sandbox.v1.SandboxService;
    const client = new SandboxService(`127.0.0.1:${server.current.port}`, grpc.credentials.createInsecure());
    const response = await new Promise<Record<string, unknown>>((resolve, reject) =>
      (client.Run as (r: unknown, cb: (e: Error | null, r: Record<string, unknown>) => void) => void).call(
        client,
        // protobufjs builds maps from descriptors as their wire form, repeated key/value entries.
        { language: "python", code: "import os; print('rebuilt', os.environ['A'])", env: [{ key: "A", value: "1" }] },
        (error, reply) => (error ? reject(error) : resolve(reply)),
      ),
    );
    client.close();
    expect(response).toMatchObject({ status: "RUN_STATUS_OK", stdout: "rebuilt 1\n" });
  });
});

describe("buf curl with no local proto files (reflection)", () => {
  it("lists the services", async () => {
    const { stdout } = await bufCurlText(["--list-services", "--http2-prior-knowledge", server.current.baseUrl]);
    expect(stdout.trim().split("\n").sort()).toEqual([...services].sort());
  });

  it("lists every method", async () => {
    const { stdout } = await bufCurlText(["--list-methods", "--http2-prior-knowledge", server.current.baseUrl]);
    const methods = stdout.trim().split("\n");
    expect(methods.filter((method) => method.startsWith("aurea.")).sort()).toEqual(
      [
        "BuildImage",
        "CloseSession",
        "CreateSession",
        "DeleteFiles",
        "DeleteSnapshot",
        "Exec",
        "ExecStream",
        "GetSession",
        "Health",
        "ListFiles",
        "ListLanguages",
        "ListSessions",
        "ListSnapshots",
        "PauseSession",
        "ReadFiles",
        "ResumeSession",
        "Run",
        "RunStream",
        "SnapshotSession",
        "UpdateSession",
        "WriteFiles",
      ].map((m) => `aurea.sandbox.v1.SandboxService/${m}`),
    );
    expect(methods).toContain("grpc.health.v1.Health/Watch");
  });

  it.each(["grpc-v1", "grpc-v1alpha"])("calls Run and Health through %s reflection", async (reflectProtocol) => {
    const [run] = await bufCurl([
      "--protocol",
      "grpc",
      "--http2-prior-knowledge",
      "--reflect-protocol",
      reflectProtocol,
      "-d",
      JSON.stringify({ code: "echo reflected", language: "bash" }),
      `${server.current.baseUrl}/aurea.sandbox.v1.SandboxService/Run`,
    ]);
    expect(run).toMatchObject({ status: "RUN_STATUS_OK", stdout: "reflected\n" });
    const [health] = await bufCurl([
      "--protocol",
      "grpc",
      "--http2-prior-knowledge",
      "--reflect-protocol",
      reflectProtocol,
      `${server.current.baseUrl}/grpc.health.v1.Health/Check`,
    ]);
    expect(health).toEqual({ status: "SERVING" });
  });

  it("calls SandboxService.Health and the health service's List through reflection", async () => {
    const [health] = await bufCurl([
      "--protocol",
      "grpc",
      "--http2-prior-knowledge",
      `${server.current.baseUrl}/aurea.sandbox.v1.SandboxService/Health`,
    ]);
    expect(health).toMatchObject({ serving: true, dockerReachable: true, sandboxImagePresent: true });
    const [list] = await bufCurl([
      "--protocol",
      "grpc",
      "--http2-prior-knowledge",
      `${server.current.baseUrl}/grpc.health.v1.Health/List`,
    ]);
    const families = Object.fromEntries(
      repositoryLanguages.families().map((family) => [`aurea.family.${family}`, { status: "SERVING" }]),
    );
    expect(list).toEqual({
      statuses: {
        "": { status: "SERVING" },
        "aurea.liveness": { status: "SERVING" },
        "aurea.sandbox.v1.SandboxService": { status: "SERVING" },
        ...families,
      },
    });
  });

  it("streams RunStream through reflection", async () => {
    const messages = await bufCurl([
      "--protocol",
      "grpc",
      "--http2-prior-knowledge",
      "-d",
      JSON.stringify({ code: "echo a; echo b >&2", language: "bash" }),
      `${server.current.baseUrl}/aurea.sandbox.v1.SandboxService/RunStream`,
    ]);
    expect(messages[0]).toHaveProperty("started");
    expect(messages.at(-1)).toMatchObject({ result: { status: "RUN_STATUS_OK", stdout: "a\n", stderr: "b\n" } });
  });
});

describe("with reflection switched off", () => {
  it("answers UNIMPLEMENTED to reflection and still serves the API", async () => {
    const quiet = await startAurea({ REFLECTION_ENABLED: "false" });
    try {
      await expect(reflect(quiet.port, [{ list_services: "" }])).rejects.toMatchObject({ code: grpc.status.UNIMPLEMENTED });
      const [run] = await bufCurl([
        "--schema",
        "proto",
        "--protocol",
        "grpc",
        "--http2-prior-knowledge",
        "-d",
        JSON.stringify({ code: "echo ok", language: "bash" }),
        `${quiet.baseUrl}/aurea.sandbox.v1.SandboxService/Run`,
      ]);
      expect(run).toMatchObject({ stdout: "ok\n" });
    } finally {
      await quiet.stop();
    }
  });
});

async function bufCurlText(args: string[]): Promise<{ stdout: string }> {
  const { execFile } = await import("node:child_process");
  const { fileURLToPath } = await import("node:url");
  const buf = fileURLToPath(new URL("../../node_modules/.bin/buf", import.meta.url));
  return new Promise((resolve, reject) =>
    execFile(buf, ["curl", ...args], { timeout: 30_000 }, (error, stdout, stderr) =>
      error ? reject(new Error(`${error.message}\n${stderr}`)) : resolve({ stdout }),
    ),
  );
}
