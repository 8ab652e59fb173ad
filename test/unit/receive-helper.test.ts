import { execFileSync, spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildWorkspaceArchive } from "../../src/runner/workspace-archive.js";
import { buildHelperWithSanitizers } from "../support/helper-build.js";
import { requireTool } from "../support/required-tools.js";
import { packArchive } from "../support/tar-archives.js";

/**
 * The supervisor's intake of a run (images/helper/aurea-receive.c), compiled here with the host's
 * gcc under AddressSanitizer and UndefinedBehaviorSanitizer and run as root, as the supervisor
 * runs it: it must take exactly its bytes from stdin (the supervisor reads the next command
 * after them), hand the input to fd 6, and leave the files the program's user's.
 */
const user = 64_125;
let dir: string;
let receive: string;
let workspaces = 0;

beforeAll(() => {
  if (process.getuid?.() !== 0) throw new Error("the intake's tests switch users: run them as root, as CI does");
  for (const tool of ["gcc", "tar", "sh"]) requireTool(tool);
  dir = mkdtempSync(join(tmpdir(), "aurea-receive-"));
  execFileSync("chmod", ["0755", dir]);
  receive = buildHelperWithSanitizers("aurea-receive", dir);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Runs the intake on `stdin` in a fresh workspace (the user's); what it left on stdin and fd 6 are read back. */
function intake(stdin: Buffer, archiveBytes: number, inputBytes?: number) {
  const workspace = join(dir, `workspace-${workspaces++}`);
  mkdirSync(workspace);
  execFileSync("chown", [`${user}:${user}`, workspace]);
  const handed = join(dir, `handed-${workspaces}`);
  const rest = join(dir, `rest-${workspaces}`);
  const args = [String(archiveBytes), workspace, `${user}:${user}`, ...(inputBytes === undefined ? [] : [String(inputBytes)])];
  // As the supervisor: fd 6 open for the input, and stdin read on after the intake.
  const script = `"$@" 6>"${handed}"; status=$?; cat > "${rest}"; exit $status`;
  const result = spawnSync("sh", ["-c", script, "intake", receive, ...args], { input: stdin });
  return {
    status: result.status,
    stderr: result.stderr.toString(),
    workspace,
    handed: readFileSync(handed, "utf8"),
    rest: readFileSync(rest, "utf8"),
  };
}

const archiveOf = (files: Record<string, string>) =>
  buildWorkspaceArchive(Object.entries(files).map(([name, text]) => ({ name, content: Buffer.from(text) })));

describe("aurea-receive", () => {
  it("extracts the archive as the program's user, hands the input to fd 6, and reads nothing past them", async () => {
    const archive = await archiveOf({ "main.py": "print(1)\n", "pkg/mod.py": "x = 1\n" });
    const result = intake(Buffer.concat([archive, Buffer.from("the input|next command\n")]), archive.length, "the input|".length);
    expect(result.stderr).toBe("");
    expect(result.status).toBe(0);
    expect(readFileSync(join(result.workspace, "pkg/mod.py"), "utf8")).toBe("x = 1\n");
    expect(statSync(join(result.workspace, "main.py")).uid).toBe(user);
    expect(statSync(join(result.workspace, "pkg")).uid).toBe(user);
    expect(result.handed).toBe("the input|");
    expect(result.rest).toBe("next command\n");
  });

  it("without an input size, takes the archive alone", async () => {
    const archive = await archiveOf({ "a.txt": "a" });
    const result = intake(Buffer.concat([archive, Buffer.from("stdin of the program")]), archive.length);
    expect(result.status).toBe(0);
    expect(result.handed).toBe("");
    expect(result.rest).toBe("stdin of the program");
  });

  it("hands an archive it does not extract itself to GNU tar, as the user", async () => {
    const archive = await packArchive([
      { header: { name: "file.txt", mtime: new Date(0) }, content: "content" },
      { header: { name: "link", type: "symlink", linkname: "file.txt", mtime: new Date(0) } },
    ]);
    const result = intake(Buffer.concat([archive, Buffer.from("rest")]), archive.length);
    expect(result.status).toBe(0);
    expect(readFileSync(join(result.workspace, "link"), "utf8")).toBe("content");
    expect(statSync(join(result.workspace, "file.txt")).uid).toBe(user);
    expect(result.rest).toBe("rest");
  });

  it("fails when its input ends early or the archive is not one", async () => {
    const archive = await archiveOf({ "a.txt": "a" });
    expect(intake(archive.subarray(0, 700), archive.length).status).toBe(1);
    expect(intake(archive, archive.length, 10).status).toBe(1);
    // Not an archive it knows: GNU tar's own status (2) for what is not a tar at all.
    expect(intake(Buffer.alloc(1024, 0x41), 1024).status).toBe(2);
  });

  it("refuses bad arguments with status 2", () => {
    for (const args of [[], ["x", "/w", "1:1"], ["0", "/w", "0:0"], ["0", "/w", "1:1", "-1"]]) {
      expect(spawnSync(receive, args).status, args.join(" ")).toBe(2);
    }
  });
});
