import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { useAurea } from "../support/aurea-server.js";
import { createGrpcHealthClient } from "../support/grpc-health-client.js";

/**
 * Runs the commands README.md shows under "Calling it", exactly as written except for the port,
 * against a real server: a README that drifts from the server fails here.
 */
const repoRoot = fileURLToPath(new URL("../..", import.meta.url));
const readme = readFileSync(`${repoRoot}/README.md`, "utf8");
const section = readme.slice(readme.indexOf("## Calling it"), readme.indexOf("\n## ", readme.indexOf("## Calling it") + 5));

function blocks(language: string): string[] {
  return [...section.matchAll(new RegExp(`\`\`\`${language}\\n([\\s\\S]*?)\`\`\``, "g"))].map((match) => match[1]!);
}

/** Shell commands, continuation lines joined. */
const commands = blocks("sh").flatMap((block) =>
  block
    .replace(/\\\n\s*/g, " ")
    .trim()
    .split("\n"),
);

/** What each command's output must show, picked by what the command calls. */
const expectations: [(command: string) => boolean, RegExp][] = [
  [(c) => c.startsWith("curl") && c.includes("SandboxService/Run "), /"stdout":"Hello from sandbox!\\n"/],
  [(c) => c.startsWith("curl") && c.includes("localhost:8000/run "), /^(?=.*"status":"RUN_STATUS_OK")(?=.*"stdout":"hi\\n")/s],
  [(c) => c.startsWith("curl") && c.endsWith("localhost:8000/health"), /"serving":true/],
  [(c) => c.includes("--list-services"), /^aurea\.sandbox\.v1\.SandboxService$/m],
  [(c) => c.endsWith("SandboxService/RunStream"), /"result":[\s\S]*"stdout": "1\\n2\\n3\\n"/],
  [(c) => c.endsWith("SandboxService/Run"), /"stdout": "hi\\n"/],
  [(c) => c.endsWith("Health/Check"), /"status": "SERVING"/],
];

const server = useAurea();

function run(command: string): Promise<string> {
  const local = command.replaceAll("localhost:8000", `127.0.0.1:${server.current.port}`);
  return new Promise((resolve, reject) =>
    execFile("bash", ["-c", local], { cwd: repoRoot, timeout: 60_000 }, (error, stdout, stderr) =>
      error ? reject(new Error(`${local}\n${stderr}`)) : resolve(stdout),
    ),
  );
}

describe("README commands", () => {
  it("shows the commands this test knows how to check", () => {
    expect(commands.length).toBe(7);
  });

  it.each(commands.map((command) => [command.slice(0, 90), command]))("%s", async (_title, command) => {
    const output = await run(command);
    const checks = expectations.filter(([applies]) => applies(command));
    expect(checks, `exactly one expectation for: ${command}`).toHaveLength(1);
    expect(output).toMatch(checks[0]![1]);
  });

  it("the Kubernetes readiness probe is the kubelet's native gRPC health call", async () => {
    const [probe] = blocks("yaml");
    expect(probe).toMatch(/readinessProbe:\n\s+grpc: \{ port: 8000, service: ([\w.]+) \}/);
    expect(readFileSync(`${repoRoot}/deploy/kubernetes/base/daemonset.yaml`, "utf8")).toContain(
      probe!.split("\n").slice(0, 2).join("\n").replace(/^/gm, "          ").trim(),
    );
    const timeoutSeconds = Number(/timeoutSeconds: (\d+)/.exec(probe!)?.[1]);
    // The kubelet calls /grpc.health.v1.Health/Check with the probe's service.
    const service = /service: ([\w.]+)/.exec(probe!)?.[1] ?? "";
    const health = createGrpcHealthClient(server.current.port);
    const started = performance.now();
    expect(await health.check(service)).toBe("SERVING");
    expect(performance.now() - started).toBeLessThan(timeoutSeconds * 1000);
    health.close();
  });
});
