import { execFile } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { useAurea } from "../support/aurea-server.js";
import { requireTool } from "../support/required-tools.js";

/**
 * The Python client (clients/python) installed on its own with Debian's python3 and pip, then its
 * unittest suite and the README's example run against a real server; and its dataclasses compared
 * field by field with the descriptor set `buf build` makes from proto/.
 */

const run = promisify(execFile);
const repoRoot = fileURLToPath(new URL("../..", import.meta.url));
const key = "py-client-key-0123456789";
/** Debian's interpreter, as the issue asks; another python3 on PATH is not what users of Debian run. */
const python = existsSync("/usr/bin/python3") ? "/usr/bin/python3" : "python3";

describe("aurea_client (Python)", () => {
  const server = useAurea({ API_KEYS: `app:${key}` });
  let installed: string;
  beforeAll(async () => {
    requireTool("pip3");
    installed = mkdtempSync(join(tmpdir(), "aurea-client-py-"));
    // No index, no build isolation: the standard library and Debian's setuptools are all it needs.
    await run(
      python,
      ["-m", "pip", "install", "--quiet", "--no-index", "--no-build-isolation", "--target", installed, "./clients/python"],
      {
        cwd: repoRoot,
        timeout: 120_000,
      },
    );
  }, 150_000);
  afterAll(() => {
    if (installed) rmSync(installed, { recursive: true, force: true });
  });
  const env = () => ({
    PATH: process.env.PATH ?? "",
    PYTHONPATH: installed,
    AUREA_URL: server.current.baseUrl,
    AUREA_API_KEY: key,
  });

  it("installs with its type marker and passes its own tests against the server", async () => {
    expect(existsSync(join(installed, "aurea_client", "py.typed"))).toBe(true);
    const result = await run(python, ["-m", "unittest", "discover", "-v", "-s", "clients/python/tests", "-p", "test_*.py"], {
      cwd: repoRoot,
      env: env(),
      timeout: 300_000,
    }).catch((error: { stderr?: string; message: string }) => ({
      stdout: "",
      stderr: error.stderr ?? error.message,
      failed: true,
    }));
    expect("failed" in result ? result.stderr : "").toBe("");
    expect(result.stderr).toMatch(/Ran \d+ tests[\s\S]*\nOK\n$/);
  });

  it("runs the README's example", async () => {
    const readme = readFileSync(join(repoRoot, "README.md"), "utf8");
    const block = /<!-- python-client-example[^>]*-->\n```python\n([\s\S]*?)```/.exec(readme);
    expect(block).not.toBeNull();
    const folder = mkdtempSync(join(tmpdir(), "aurea-example-py-"));
    try {
      writeFileSync(join(folder, "example.py"), block![1]!.replaceAll("http://localhost:8000", server.current.baseUrl));
      const { stdout } = await run(python, [join(folder, "example.py")], { env: env(), timeout: 120_000 });
      expect(stdout).toBe("45\n42\n");
    } finally {
      rmSync(folder, { recursive: true, force: true });
    }
  });

  it("has dataclasses with exactly the fields of the proto messages they mirror", async () => {
    const folder = mkdtempSync(join(tmpdir(), "aurea-descriptors-"));
    try {
      const image = join(folder, "image.json");
      await run("npx", ["buf", "build", "-o", image], { cwd: repoRoot, timeout: 120_000 });
      const descriptors = JSON.parse(readFileSync(image, "utf8")) as {
        file: { package?: string; messageType?: { name: string; field?: { name: string }[] }[] }[];
      };
      const protoFields = new Map<string, string[]>();
      for (const file of descriptors.file) {
        for (const message of file.messageType ?? []) {
          protoFields.set(
            `${file.package}.${message.name}`,
            (message.field ?? []).map((field) => field.name),
          );
        }
      }
      const { stdout } = await run(python, ["clients/python/tests/proto_fields.py"], {
        cwd: repoRoot,
        env: env(),
        timeout: 60_000,
      });
      const pythonFields = JSON.parse(stdout) as Record<string, string[]>;
      expect(Object.keys(pythonFields).length).toBeGreaterThanOrEqual(14);
      for (const [message, fields] of Object.entries(pythonFields)) {
        expect(fields, message).toEqual(protoFields.get(message));
      }
    } finally {
      rmSync(folder, { recursive: true, force: true });
    }
  });
});
