import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { requireTool } from "../support/required-tools.js";

/**
 * The session's workspace helper (sandbox/programs/workspace-files.py) run with the machine's own
 * python3 on a temporary folder: reading parts of files, and deleting, following no link.
 */

const script = readFileSync(new URL("../../src/sandbox/programs/workspace-files.py", import.meta.url), "utf8");
let workspace: string;
let outside: string;
beforeEach(() => {
  requireTool("python3");
  workspace = mkdtempSync(join(tmpdir(), "aurea-workspace-"));
  outside = mkdtempSync(join(tmpdir(), "aurea-outside-"));
});
afterEach(() => {
  rmSync(workspace, { recursive: true, force: true });
  rmSync(outside, { recursive: true, force: true });
});

const helper = (...args: string[]) => execFileSync("python3", ["-I", "-S", "-c", script, workspace, ...args]);

/** The ranges answer: a JSON line per range, each followed by its bytes. */
function ranges(output: Buffer): { header: Record<string, unknown>; data: Buffer }[] {
  const read: { header: Record<string, unknown>; data: Buffer }[] = [];
  let rest = output;
  while (rest.length > 0) {
    const newline = rest.indexOf(0x0a);
    const header = JSON.parse(rest.subarray(0, newline).toString()) as Record<string, unknown>;
    const size = Number(header.size ?? 0);
    read.push({ header, data: rest.subarray(newline + 1, newline + 1 + size) });
    rest = rest.subarray(newline + 1 + size);
  }
  return read;
}

describe("the workspace helper", () => {
  it("reads parts of files within a total cap, and names what it will not read", () => {
    const bytes = Buffer.from(Array.from({ length: 1000 }, (_, index) => index % 251));
    writeFileSync(join(workspace, "big.bin"), bytes);
    mkdirSync(join(workspace, "dir"));
    symlinkSync("big.bin", join(workspace, "link"));
    writeFileSync(join(outside, "secret"), "outside");
    symlinkSync(outside, join(workspace, "out"));
    const read = ranges(
      helper(
        "ranges",
        "600",
        "big.bin",
        "100",
        "500",
        "big.bin",
        "900",
        "0",
        "missing",
        "0",
        "1",
        "link",
        "0",
        "1",
        "dir",
        "0",
        "1",
        "out/secret",
        "0",
        "0",
      ),
    );
    expect(read.map(({ header }) => header)).toEqual([
      { path: "big.bin", offset: 100, size: 500, eof: false },
      // 100 bytes were left of the 600: cut short, and not at the end of the file.
      { path: "big.bin", offset: 900, size: 100, eof: true },
      { path: "missing", offset: 0, skipped: "not_found" },
      { path: "link", offset: 0, skipped: "symlink" },
      { path: "dir", offset: 0, skipped: "special" },
      { path: "out/secret", offset: 0, skipped: "symlink" },
    ]);
    expect(read[0]?.data).toEqual(bytes.subarray(100, 600));
    expect(read[1]?.data).toEqual(bytes.subarray(900));
    const capped = ranges(helper("ranges", "50", "big.bin", "0", "0"));
    expect(capped[0]?.header).toEqual({ path: "big.bin", offset: 0, size: 50, eof: false });
  });

  it("deletes files and directories, a link itself, and nothing through a link", () => {
    writeFileSync(join(workspace, "a.txt"), "a");
    mkdirSync(join(workspace, "dir/deep"), { recursive: true });
    writeFileSync(join(workspace, "dir/deep/b.txt"), "b");
    writeFileSync(join(outside, "kept"), "kept");
    symlinkSync(outside, join(workspace, "out"));
    const done = JSON.parse(helper("delete", "a.txt", "dir", "missing", "out/kept", "out").toString()) as Record<
      string,
      string[]
    >;
    expect(done).toEqual({ deleted: ["a.txt", "dir", "out"], missing: ["missing"], through_link: ["out/kept"] });
    expect(existsSync(join(outside, "kept"))).toBe(true);
    expect(existsSync(join(workspace, "dir"))).toBe(false);
  });
});
