import { execFileSync, spawn } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeEach, describe, expect, it } from "vitest";
import { repositoryRoot } from "../../src/config/repository.js";
import { loaderCommand } from "../../src/sandbox/sandbox-scripts.js";
import { goFifo, readyMarker, warmRunMessage } from "../../src/sandbox/supervisor-protocol.js";

/**
 * TypeScript's warm compiler (loaders/tsc.cjs), run here with the machine's node and the
 * repository's own TypeScript, outside any container: the server's own loader argv, its FIFO
 * replaced by the test's. Every compile is made twice, by the loader and by that TypeScript's
 * bin/tsc in a directory of its own, and must print, exit and write the same.
 */

const typescriptDir = join(repositoryRoot(), "node_modules", "typescript");
// As the language's own command line, with less to parse: ES2015's library and no @types (an
// empty folder of type roots, absolute, as the language's own are), so a compile takes a second.
const noTypes = mkdtempSync(join(tmpdir(), "aurea-tsc-no-types-"));
const args = ["--strict", "--target", "es2022", "--lib", "es2015", "--module", "commonjs", "--typeRoots", noTypes, "main.ts"];
const warmUp = "const ready: string = 'warm';\nexport { ready };\n";

let warmDir: string;
let coldDir: string;
beforeEach(() => {
  warmDir = mkdtempSync(join(tmpdir(), "aurea-tsc-warm-"));
  coldDir = mkdtempSync(join(tmpdir(), "aurea-tsc-cold-"));
});
afterEach(() => {
  rmSync(warmDir, { recursive: true, force: true });
  rmSync(coldDir, { recursive: true, force: true });
});
afterAll(() => rmSync(noTypes, { recursive: true, force: true }));

/** The loader's run: ready marker first, then the compile of `code` once "go" is written. */
async function warmCompile(code: string, extra: string[] = []): Promise<{ stdout: string; status: number | null }> {
  const fifo = join(warmDir, ".go");
  execFileSync("mkfifo", [fifo]);
  const argv = loaderCommand(
    { loader: "tsc", launch: ["node"], compiler: typescriptDir, arguments: [...extra, ...args] },
    "main.ts",
    [],
    warmUp,
  ).map((arg) => (arg === goFifo ? fifo : arg));
  const child = spawn(argv[0]!, argv.slice(1), { cwd: warmDir, stdio: ["pipe", "pipe", "inherit"] });
  let stdout = "";
  child.stdout.on("data", (chunk: Buffer) => {
    stdout += chunk.toString("utf8");
  });
  // Everything the compile needs is written up front; the loader reads it only after "go".
  child.stdin.end(warmRunMessage([], [], code));
  while (!stdout.startsWith(readyMarker)) {
    if (child.exitCode !== null) throw new Error(`the loader ended before it was ready: ${stdout}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  writeFileSync(fifo, "go\n");
  const status = await new Promise<number | null>((resolve) => child.once("exit", resolve));
  return { stdout: stdout.slice(readyMarker.length), status };
}

/** TypeScript's own command line on the same code. */
function coldCompile(code: string, extra: string[] = []): { stdout: string; status: number } {
  writeFileSync(join(coldDir, "main.ts"), code);
  try {
    const stdout = execFileSync("node", [join(typescriptDir, "bin", "tsc"), ...extra, ...args], {
      cwd: coldDir,
      encoding: "utf8",
    });
    return { stdout, status: 0 };
  } catch (error) {
    const failed = error as { stdout: string; status: number };
    return { stdout: failed.stdout, status: failed.status };
  }
}

const files = (directory: string) =>
  Object.fromEntries(
    readdirSync(directory)
      .filter((name) => !name.startsWith("."))
      .map((name) => [name, readFileSync(join(directory, name), "utf8")]),
  );

describe("the TypeScript compiler's warm loader", () => {
  it.each([
    ["a clean compile", "const s: string = 'x';\nexport { s };\n", []],
    ["type errors and a missing module", "import x from 'nowhere';\nconst n: number = 'x';\nlet s: string = 5;\n", []],
    ["a syntax error, outputs skipped (--noEmitOnError: exit 1)", "const = ;\n", ["--noEmitOnError"]],
    ["--pretty, which runs tsc itself", "const n: number = 'x';\n", ["--pretty"]],
  ])(
    "%s: the same output, exit status and files as tsc",
    async (_name, code, extra) => {
      const leftBefore = warmUpLeftovers();
      const warm = await warmCompile(code, extra);
      const cold = coldCompile(code, extra);
      expect(warm).toEqual(cold);
      expect(files(warmDir)).toEqual(files(coldDir));
      // Its warm-up's folder is gone.
      expect(warmUpLeftovers()).toEqual(leftBefore);
    },
    60_000,
  );
});

const warmUpLeftovers = () => readdirSync(tmpdir()).filter((name) => name.startsWith("aurea-compiler-warm-up-"));
