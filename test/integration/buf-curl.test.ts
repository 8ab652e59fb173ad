import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startAurea, type RunningAurea } from "../support/aurea-server.js";
import { aureaContainers } from "../support/containers.js";
import { bufCurl } from "../support/buf-curl.js";

let aurea: RunningAurea;

beforeAll(async () => {
  aurea = await startAurea();
});

afterAll(async () => {
  await aurea?.stop();
  expect(await aureaContainers()).toEqual([]);
});

const service = "aurea.sandbox.v1.SandboxService";

describe("buf curl with the local schema", () => {
  it.each([
    ["grpc", ["--protocol", "grpc", "--http2-prior-knowledge"]],
    ["grpcweb", ["--protocol", "grpcweb"]],
    ["connect", ["--protocol", "connect"]],
  ])("calls Run over %s", async (_protocol, flags) => {
    const [response] = await bufCurl([
      "--schema",
      "proto",
      ...flags,
      "-d",
      JSON.stringify({ code: "echo from buf", language: "bash" }),
      `${aurea.baseUrl}/${service}/Run`,
    ]);
    expect(response).toMatchObject({ status: "RUN_STATUS_OK", stdout: "from buf\n", success: true });
  });

  it("consumes RunStream over gRPC", async () => {
    const messages = await bufCurl([
      "--schema",
      "proto",
      "--protocol",
      "grpc",
      "--http2-prior-knowledge",
      "-d",
      JSON.stringify({ code: "echo one; sleep 0.2; echo two", language: "bash" }),
      `${aurea.baseUrl}/${service}/RunStream`,
    ]);
    expect(Object.keys(messages[0] ?? {})).toEqual(["started"]);
    const stdout = messages
      .filter((message) => "stdout" in message)
      .map((message) => Buffer.from(message.stdout as string, "base64").toString())
      .join("");
    expect(stdout).toBe("one\ntwo\n");
    expect(messages.at(-1)).toMatchObject({ result: { status: "RUN_STATUS_OK", stdout: "one\ntwo\n" } });
  });
});
