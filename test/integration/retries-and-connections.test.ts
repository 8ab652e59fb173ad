import http2 from "node:http2";
import * as grpc from "@grpc/grpc-js";
import { describe, expect, it } from "vitest";
import { useAurea } from "../support/aurea-server.js";
import { createGrpcSandboxClient } from "../support/grpc-js-client.js";

/** Safe retries with request_id on one server, and the connection lifetime that spreads load. */

describe("a Run with a request_id", () => {
  const server = useAurea({
    API_KEYS: "alice:alice-secret-0123456789,bob:bob-secret-0123456789",
    MAX_CONNECTION_AGE: "1",
    MAX_CONNECTION_AGE_GRACE: "5",
    KEEPALIVE_INTERVAL: "0.5",
  });
  /** Programs run for a request id: each writes one "run finished" line carrying it. */
  const started = (requestId: string) =>
    server.current.logs().filter((line) => line.msg === "run finished" && line.request_id === requestId).length;

  it("runs once however often it is sent: a retry joins the first attempt, a later one gets its result", async () => {
    const alice = createGrpcSandboxClient(server.current.port, { authorization: "Bearer alice-secret-0123456789" });
    const bob = createGrpcSandboxClient(server.current.port, { authorization: "Bearer bob-secret-0123456789" });
    try {
      const request = { language: "bash", code: "sleep 0.5; echo $RANDOM", request_id: "job-42" };
      const [first, joined] = await Promise.all([alice.run(request), alice.run(request)]);
      const later = await alice.run(request);
      expect(first).toMatchObject({ status: "RUN_STATUS_OK" });
      expect(joined).toEqual(first);
      expect(later).toEqual(first);
      expect(started("job-42")).toBe(1);
      // Another caller's request id is its own.
      const bobs = await bob.run(request);
      expect(bobs.run_id).not.toBe(first.run_id);
      expect(started("job-42")).toBe(2);
      await expect(alice.run({ ...request, request_id: "no spaces allowed" })).rejects.toMatchObject({
        code: grpc.status.INVALID_ARGUMENT,
        details: expect.stringContaining("request_id"),
      });
    } finally {
      alice.close();
      bob.close();
    }
  });

  it("sends GOAWAY to a connection past MAX_CONNECTION_AGE, and clients go on over a new one", async () => {
    const session = http2.connect(server.current.baseUrl);
    const goaway = new Promise<number>((resolve) => session.once("goaway", (code) => resolve(code)));
    const opened = performance.now();
    expect(await goaway).toBe(http2.constants.NGHTTP2_NO_ERROR);
    expect(performance.now() - opened).toBeLessThan(2500);
    session.destroy();
    const client = createGrpcSandboxClient(server.current.port, { authorization: "Bearer alice-secret-0123456789" });
    try {
      for (let i = 0; i < 3; i++) {
        expect(await client.run({ language: "bash", code: "echo again" })).toMatchObject({ stdout: "again\n" });
        await new Promise((resolve) => setTimeout(resolve, 700));
      }
    } finally {
      client.close();
    }
  });
});
