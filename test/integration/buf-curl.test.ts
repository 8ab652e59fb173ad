import { describe, expect, it } from "vitest";
import { useAurea } from "../support/aurea-server.js";
import { repositoryLanguages } from "../support/languages.js";
import { bufCurl } from "../support/buf-curl.js";

const server = useAurea();

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
      `${server.current.baseUrl}/${service}/Run`,
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
      `${server.current.baseUrl}/${service}/RunStream`,
    ]);
    expect(Object.keys(messages[0] ?? {})).toEqual(["started"]);
    const stdout = messages
      .filter((message) => "stdout" in message)
      .map((message) => Buffer.from(message.stdout as string, "base64").toString())
      .join("");
    expect(stdout).toBe("one\ntwo\n");
    expect(messages.at(-1)).toMatchObject({ result: { status: "RUN_STATUS_OK", stdout: "one\ntwo\n" } });
  });

  it("lists the languages through reflection, no schema given", async () => {
    const [response] = await bufCurl([
      "--protocol",
      "grpc",
      "--http2-prior-knowledge",
      `${server.current.baseUrl}/${service}/ListLanguages`,
    ]);
    const languages = (response as { languages: { name: string; version: string }[] }).languages;
    expect(languages.map((language) => language.name)).toEqual(repositoryLanguages.all().map((language) => language.name));
    expect(languages.every((language) => language.version !== "")).toBe(true);
  });
});
