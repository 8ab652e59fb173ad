import { create } from "@bufbuild/protobuf";
import { ConnectError, createClient } from "@connectrpc/connect";
import { createConnectTransport, createGrpcWebTransport } from "@connectrpc/connect-node";
import type * as grpc from "@grpc/grpc-js";
import { describe, expect, it, vi } from "vitest";
import { RunRequestSchema, SandboxService } from "../../gen/aurea/sandbox/v1/sandbox_pb.js";
import { startAurea, useAurea } from "../support/aurea-server.js";
import { connectErrorDetails, grpcErrorDetails } from "../support/error-details.js";
import { createGrpcSandboxClient } from "../support/grpc-js-client.js";
import { postJson } from "../support/http-json.js";

/**
 * Errors a program can read field by field (src/service/rpc-errors.ts): a google.rpc.BadRequest
 * with one violation per problem on every INVALID_ARGUMENT, and a google.rpc.ErrorInfo with a
 * reason on the refusals a caller acts on; over gRPC, Connect, gRPC-Web and the REST routes.
 */

const bad = { language: "nope", code: " ", timeout: -1 };
const badFields = ["language", "code", "timeout"];

describe("INVALID_ARGUMENT with a BadRequest detail", () => {
  const server = useAurea();

  it("over gRPC: one violation per problem, named by its field path, besides the message", async () => {
    const client = createGrpcSandboxClient(server.current.port);
    try {
      const error = (await client.run(bad).catch((e: unknown) => e)) as grpc.ServiceError;
      expect(error.details).toMatch(/^language: unknown language "nope".*; code: is required.*; timeout: must be a positive/);
      const { violations, info } = grpcErrorDetails(error);
      expect(violations.map((v) => v.field)).toEqual(badFields);
      expect(violations[2]?.description).toBe("must be a positive number of seconds, got -1");
      expect(info).toBeUndefined();

      const cases = (await client
        .run({
          language: "python",
          code: "print(input())",
          tests: [
            { stdin: Buffer.from("1"), expected_stdout: "1" },
            { stdin: Buffer.from("2"), timeout: -3 },
          ],
        })
        .catch((e: unknown) => e)) as grpc.ServiceError;
      expect(cases.details).toBe("tests[1].timeout: must be a positive number of seconds, got -3");
      expect(grpcErrorDetails(cases).violations).toEqual([
        { field: "tests[1].timeout", description: "must be a positive number of seconds, got -3" },
      ]);

      const session = (await client.call("CreateSession", { language: "" }).catch((e: unknown) => e)) as grpc.ServiceError;
      expect(grpcErrorDetails(session).violations.map((v) => v.field)).toEqual(["language"]);
    } finally {
      client.close();
    }
  });

  it("over Connect and gRPC-Web, read with connect-es's findDetails", async () => {
    const baseUrl = server.current.baseUrl;
    for (const transport of [
      createConnectTransport({ baseUrl, httpVersion: "1.1" }),
      createConnectTransport({ baseUrl, httpVersion: "1.1", useBinaryFormat: true }),
      createGrpcWebTransport({ baseUrl, httpVersion: "1.1" }),
    ]) {
      const client = createClient(SandboxService, transport);
      const error = await client.run(create(RunRequestSchema, bad)).catch((e: unknown) => ConnectError.from(e));
      expect(connectErrorDetails(error as ConnectError).violations.map((v) => v.field)).toEqual(badFields);
    }
  });

  it("on the REST routes: Connect's error JSON, with a readable copy of each detail", async () => {
    const run = await postJson(server.current.baseUrl, "/run", bad);
    expect(run.status).toBe(400);
    const [detail] = run.body.details as { type: string; value: string; debug: { field_violations: { field: string }[] } }[];
    expect(detail?.type).toBe("google.rpc.BadRequest");
    expect(detail?.debug.field_violations.map((v) => v.field)).toEqual(badFields);

    // A body that is not JSON is wrong as a whole: one violation with no field path.
    const response = await fetch(`${server.current.baseUrl}/sessions`, { method: "POST", body: "{not json" });
    const body = (await response.json()) as { code: string; message: string; details: { debug: unknown }[] };
    expect(response.status).toBe(400);
    expect(body).toMatchObject({ code: "invalid_argument", message: "request body is not JSON" });
    expect(body.details[0]?.debug).toEqual({ field_violations: [{ field: "", description: "request body is not JSON" }] });

    const build = await postJson(server.current.baseUrl, "/build-image", { family: "cobol" });
    expect(build.status).toBe(400);
    expect(build.body).toMatchObject({ success: false, code: "invalid_argument" });
    const [buildDetail] = build.body.details as { debug: { field_violations: { field: string }[] } }[];
    expect(buildDetail?.debug.field_violations[0]?.field).toBe("family");
  });
});

describe("refusals with an ErrorInfo reason", () => {
  it("QUEUE_FULL, KEY_QUOTA and SESSION_LIMIT, in Aurea's domain", async () => {
    const alice = "alice-key-0123456789abcdef";
    const bob = "bob-key-0123456789abcdef";
    const aurea = await startAurea({
      API_KEYS: `alice:${alice}:1,bob:${bob}`,
      MAX_CONCURRENT_RUNS: "1",
      MAX_QUEUED_RUNS: "0",
      MAX_SESSIONS: "0",
    });
    const alices = createGrpcSandboxClient(aurea.port, { authorization: `Bearer ${alice}` });
    const bobs = createGrpcSandboxClient(aurea.port, { authorization: `Bearer ${bob}` });
    try {
      const running = alices.run({ language: "bash", code: "sleep 1; echo done" });
      await vi.waitFor(() => expect(aurea.load().running).toBe(1));
      const quota = (await alices.run({ language: "bash", code: "true" }).catch((e: unknown) => e)) as grpc.ServiceError;
      expect(grpcErrorDetails(quota).info).toEqual({ reason: "KEY_QUOTA", domain: "aurea.dev", metadata: {} });
      const full = (await bobs.run({ language: "bash", code: "true" }).catch((e: unknown) => e)) as grpc.ServiceError;
      expect(grpcErrorDetails(full).info?.reason).toBe("QUEUE_FULL");
      expect(await running).toMatchObject({ status: "RUN_STATUS_OK" });

      const session = (await bobs.call("CreateSession", { language: "bash" }).catch((e: unknown) => e)) as grpc.ServiceError;
      expect(session.details).toMatch(/MAX_SESSIONS/);
      expect(grpcErrorDetails(session).info?.reason).toBe("SESSION_LIMIT");
    } finally {
      alices.close();
      bobs.close();
      await aurea.stop();
    }
  });
});
