import { execFile } from "node:child_process";
import { statSync } from "node:fs";
import Docker from "dockerode";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freeLoopbackPort } from "../../bench/support/spawn-server.js";
import { noContainersWithin } from "../support/containers.js";
import { createGrpcHealthClient } from "../support/grpc-health-client.js";
import { createGrpcSandboxClient } from "../support/grpc-js-client.js";
import { requireTool } from "../support/required-tools.js";

/**
 * The server's own image, built here with no registry (scripts/build-server-image.sh), run the
 * way README tells operators to: Debian's docker-compose with compose.yaml, driving this machine's
 * engine through its socket.
 */

const repoRoot = new URL("../..", import.meta.url).pathname;
const image = "aurea:test";
const project = `aureatest${process.pid}`;

function run(command: string, args: string[], env: Record<string, string> = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(command, args, { cwd: repoRoot, env: { ...process.env, ...env }, timeout: 600_000 }, (error, stdout, stderr) =>
      error ? reject(new Error(`${command} ${args.join(" ")}: ${error.message}\n${stderr}`)) : resolve(stdout),
    );
  });
}

let port: number;
let composeEnv: Record<string, string>;

beforeAll(async () => {
  requireTool("docker-compose");
  await run("bash", ["scripts/build-server-image.sh", image]);
  port = await freeLoopbackPort();
  composeEnv = {
    AUREA_IMAGE: image,
    AUREA_PORT: String(port),
    DOCKER_GID: String(statSync("/var/run/docker.sock").gid),
    INSTANCE_NAME: project,
    SANDBOX_BUILD_ON_START: "false",
  };
  await run("docker-compose", ["-p", project, "up", "-d"], composeEnv);
}, 900_000);

afterAll(async () => {
  await run("docker-compose", ["-p", project, "down", "--timeout", "45"], composeEnv).catch(() => undefined);
});

describe("the server image under docker-compose", () => {
  it("serves runs from its container, turns healthy by its gRPC probe, and leaves nothing when taken down", async () => {
    const health = createGrpcHealthClient(port);
    await expect.poll(() => health.check("").catch(() => "DOWN"), { timeout: 60_000, interval: 500 }).toBe("SERVING");
    const client = createGrpcSandboxClient(port);
    expect(await client.run({ language: "python", code: "print('from compose')" })).toMatchObject({
      status: "RUN_STATUS_OK",
      stdout: "from compose\n",
    });
    client.close();
    health.close();
    // The playground was built into the image and is served at / on the same port.
    const page = await fetch(`http://127.0.0.1:${port}/`);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain("Aurea playground");
    expect((await fetch(`http://127.0.0.1:${port}/playground/app.js`)).status).toBe(200);

    const docker = new Docker();
    const [server] = await docker.listContainers({ filters: { label: [`com.docker.compose.project=${project}`] } });
    const details = await docker.getContainer(server?.Id ?? "").inspect();
    // Not root, no capability, read-only root: only the engine's socket (by group) is privileged.
    expect(details.Config.User).toBe("10002:10002");
    expect(details.HostConfig.CapDrop).toEqual(["ALL"]);
    expect(details.HostConfig.ReadonlyRootfs).toBe(true);
    await expect
      .poll(async () => (await docker.getContainer(server?.Id ?? "").inspect()).State.Health?.Status, {
        timeout: 60_000,
        interval: 1000,
      })
      .toBe("healthy");
    const size = (await docker.getImage(image).inspect()).Size;
    expect(size).toBeLessThan(400 * 1024 ** 2);

    await run("docker-compose", ["-p", project, "down", "--timeout", "45"], composeEnv);
    await noContainersWithin(5000);
  }, 300_000);
});
