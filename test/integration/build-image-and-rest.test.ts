import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import Docker from "dockerode";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { repositoryLanguages } from "../support/languages.js";
import { familyImage } from "../../src/service/image-families.js";
import { startAurea, type RunningAurea } from "../support/aurea-server.js";
import { aureaContainers } from "../support/containers.js";
import { grpcErrorDetails } from "../support/error-details.js";
import { createGrpcSandboxClient, type GrpcSandboxClient } from "../support/grpc-js-client.js";
import { bufCurl } from "../support/buf-curl.js";
import { helloRequest, helloResponse, postJson } from "../support/http-json.js";

const docker = new Docker();
const testTag = "aurea-sandbox:build-test";

/** The base image this machine can build from: the bootstrapped one here, the official elsewhere. */
async function localBaseImage(): Promise<string> {
  for (const candidate of [process.env.SANDBOX_BASE_IMAGE, "aurea-base:trixie", "debian:trixie-slim"]) {
    if (!candidate) continue;
    try {
      await docker.getImage(candidate).inspect();
      return candidate;
    } catch {
      // try the next one
    }
  }
  throw new Error("no base image on the engine; run scripts/ensure-base-image.sh");
}

/** The core image and every family image built under the test tag. */
async function removeTestImage(): Promise<void> {
  for (const image of [testTag, ...repositoryLanguages.families().map((family) => familyImage(testTag, family))]) {
    await docker
      .getImage(image)
      .remove({ force: true })
      .catch(() => undefined);
  }
}

let aurea: RunningAurea;
let client: GrpcSandboxClient;

beforeAll(async () => {
  await removeTestImage();
  aurea = await startAurea({ SANDBOX_IMAGE: testTag, SANDBOX_BASE_IMAGE: await localBaseImage(), HEALTH_CHECK_INTERVAL: "0.2" });
  client = createGrpcSandboxClient(aurea.port);
}, 600_000);

afterAll(async () => {
  client?.close();
  await aurea?.stop();
  await removeTestImage();
  expect(await aureaContainers()).toEqual([]);
});

describe("BuildImage", () => {
  it("builds the missing image, streaming its log, then Health and runs see it", async () => {
    expect(await client.health()).toMatchObject({ serving: false, sandbox_image_present: false });
    const first = client.buildImage({ family: "core" });
    const second = client.buildImage({ family: "core" });
    await Promise.all([first.done, second.done]);
    for (const build of [first, second]) {
      const events = build.messages.map(({ message }) => message.event);
      expect(events.at(-1)).toBe("image_id");
      expect(events.filter((event) => event === "log").length).toBeGreaterThan(3);
      expect(build.messages.some(({ message }) => /^Step \d+\/\d+ : FROM/.test(String(message.log)))).toBe(true);
    }
    const idOf = (build: typeof first) => build.messages.at(-1)!.message.image_id;
    expect(idOf(first)).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(idOf(second)).toBe(idOf(first));
    // Two callers, one build.
    expect(aurea.logs().filter((line) => line.msg === "image build started")).toHaveLength(1);

    expect(await client.health()).toMatchObject({ serving: true, sandbox_image_present: true });
    expect(await client.run({ language: "bash", code: "echo built" })).toMatchObject({ stdout: "built\n" });
  }, 600_000);

  it("answers UNAVAILABLE naming the family and how to build it while a language's image is missing, then builds that family alone", async () => {
    const health = await client.health();
    const families = health.families as { name: string; present: boolean; image: string }[];
    expect(families.find((family) => family.name === "core")).toMatchObject({ present: true, image: testTag });
    expect(families.find((family) => family.name === "dotnet")).toMatchObject({
      present: false,
      image: "aurea-sandbox-dotnet:build-test",
    });
    const code = 'class P { static void Main() { System.Console.WriteLine("built"); } }';
    const refused = (await client.run({ language: "csharp", code }).catch((e: unknown) => e)) as grpc.ServiceError;
    expect(refused.code).toBe(grpc.status.UNAVAILABLE);
    expect(refused.details).toMatch(
      /csharp runs in the "dotnet" image family, whose image is missing .*BuildImage \{"family": "dotnet"\}/,
    );
    const { info } = grpcErrorDetails(refused);
    expect(info).toMatchObject({ reason: "FAMILY_NOT_BUILT", domain: "aurea.dev", metadata: { family: "dotnet" } });
    expect(info?.metadata.build_hint).toMatch(/^build it with BuildImage \{"family": "dotnet"\}/);
    const languages = (await client.listLanguages()).languages as { name: string; available: boolean }[];
    expect(languages.find((language) => language.name === "csharp")?.available).toBe(false);
    expect(languages.find((language) => language.name === "python")?.available).toBe(true);

    const build = client.buildImage({ family: "dotnet" });
    await build.done;
    expect(build.messages.some(({ message }) => /^Step \d+\/\d+ : FROM \$\{CORE_IMAGE\}/.test(String(message.log)))).toBe(true);
    await expect
      .poll(async () => (await client.health()).families, { timeout: 10_000 })
      .toContainEqual(expect.objectContaining({ name: "dotnet", present: true }));
    expect(await client.run({ language: "csharp", code })).toMatchObject({ status: "RUN_STATUS_OK", stdout: "built\n" });
  }, 600_000);

  it("refuses an unknown family as INVALID_ARGUMENT listing the known ones", async () => {
    const build = client.buildImage({ family: "cobol-on-cogs" });
    const error = (await build.done.catch((e: unknown) => e)) as grpc.ServiceError;
    expect(error.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(error.details).toMatch(/^family: unknown image family "cobol-on-cogs"; one of core, /);
  });

  it("names the failing step when a build fails", async () => {
    // A Dockerfile whose second step fails, on a local base: no registry is asked for anything.
    const directory = mkdtempSync(join(tmpdir(), "aurea-broken-build-"));
    const dockerfilePath = join(directory, "Dockerfile");
    writeFileSync(dockerfilePath, "ARG BASE_IMAGE\nFROM ${BASE_IMAGE}\nRUN echo about to fail && exit 3\n");
    const broken = await startAurea(
      { SANDBOX_IMAGE: "aurea-sandbox:broken-test", SANDBOX_BASE_IMAGE: await localBaseImage() },
      { dockerfilePath },
    );
    const brokenClient = createGrpcSandboxClient(broken.port);
    try {
      const build = brokenClient.buildImage({ family: "core" });
      const error = (await build.done.catch((e: unknown) => e)) as grpc.ServiceError;
      expect(error.code).toBe(grpc.status.FAILED_PRECONDITION);
      expect(error.details).toMatch(
        /^building aurea-sandbox:broken-test \(family core\): build failed at Step 3\/3 : RUN echo about to fail && exit 3: .*non-zero code: 3/,
      );
      expect(build.messages.map(({ message }) => message.log)).toContain("about to fail");
    } finally {
      brokenClient.close();
      await broken.stop();
      rmSync(directory, { recursive: true, force: true });
    }
  }, 120_000);
});

describe("BuildImage after a restart on a machine with no registry", () => {
  it("builds with no_cache from the bootstrapped base when the configured one is not there", async () => {
    const tag = "aurea-sandbox:no-registry-test";
    // The defaults, as after a plain restart: SANDBOX_BASE_IMAGE names debian:trixie-slim,
    // which no registry here can provide.
    const restarted = await startAurea({ SANDBOX_IMAGE: tag });
    expect(restarted.config.sandboxBaseImage).toBe("debian:trixie-slim");
    const restartedClient = createGrpcSandboxClient(restarted.port);
    try {
      const build = restartedClient.buildImage({ family: "core", no_cache: true });
      await build.done;
      expect(build.messages.at(-1)?.message.image_id).toMatch(/^sha256:[0-9a-f]{64}$/);
      const started = restarted.logs().find((line) => line.msg === "image build started");
      expect(started).toMatchObject({ no_cache: true, build_args: { BASE_IMAGE: await localBaseImage() } });
    } finally {
      restartedClient.close();
      await restarted.stop();
      await docker
        .getImage(tag)
        .remove({ force: true })
        .catch(() => undefined);
    }
  }, 600_000);
});

describe("BuildImage through buf curl and reflection", () => {
  it("streams the build log and ends with the image id", async () => {
    const messages = await bufCurl(
      [
        "--protocol",
        "grpc",
        "--http2-prior-knowledge",
        "--data",
        '{"family": "core"}',
        `${aurea.baseUrl}/aurea.sandbox.v1.SandboxService/BuildImage`,
      ],
      600_000,
    );
    expect(messages.filter((message) => "log" in message).length).toBeGreaterThan(3);
    expect(messages.at(-1)?.imageId).toMatch(/^sha256:[0-9a-f]{64}$/);
  }, 600_000);
});

describe("the original REST API", () => {
  it("POST /run takes the original body and answers the original shape", async () => {
    const reply = await postJson(aurea.baseUrl, "/run", { ...helloRequest, capture_artifacts: false });
    expect(reply.status).toBe(200);
    expect(reply.body).toMatchObject(helloResponse);
  });

  it("POST /run refuses bad input with 400 naming the field", async () => {
    const reply = await postJson(aurea.baseUrl, "/run", { code: "x", language: "intercal" });
    expect(reply.status).toBe(400);
    expect(reply.body.message).toMatch(/^language: unknown language "intercal"/);
  });

  it("GET /health answers the health JSON", async () => {
    const response = await fetch(`${aurea.baseUrl}/health`);
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ serving: true, docker_reachable: true, sandbox_image: testTag });
  });

  it("POST /build-image maps a failed build as the RPC does: FAILED_PRECONDITION, as Connect's HTTP status", async () => {
    const directory = mkdtempSync(join(tmpdir(), "aurea-broken-rest-build-"));
    const dockerfilePath = join(directory, "Dockerfile");
    writeFileSync(dockerfilePath, "ARG BASE_IMAGE\nFROM ${BASE_IMAGE}\nRUN exit 3\n");
    const broken = await startAurea({ SANDBOX_IMAGE: "aurea-sandbox:broken-rest-test" }, { dockerfilePath });
    try {
      const reply = await postJson(broken.baseUrl, "/build-image", { family: "core" });
      expect(reply.status).toBe(400);
      expect(reply.body).toMatchObject({ success: false, code: "failed_precondition" });
      expect(reply.body.error).toMatch(/build failed at Step 3\/3 : RUN exit 3/);
      expect((reply.body.log as string[]).length).toBeGreaterThan(0);
    } finally {
      await broken.stop();
      rmSync(directory, { recursive: true, force: true });
    }
  }, 120_000);

  it("POST /build-image builds and answers one JSON object", async () => {
    const reply = await postJson(aurea.baseUrl, "/build-image", { family: "core" });
    expect(reply.status).toBe(200);
    expect(reply.body).toMatchObject({ success: true });
    expect(reply.body.image_id).toMatch(/^sha256:/);
    expect((reply.body.log as string[]).length).toBeGreaterThan(3);
  }, 600_000);
});
