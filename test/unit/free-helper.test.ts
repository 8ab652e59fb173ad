import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildHelperWithSanitizers } from "../support/helper-build.js";
import { requireTool } from "../support/required-tools.js";

/**
 * The supervisor's free-space probe (images/helper/aurea-free.c), compiled here under
 * AddressSanitizer and UndefinedBehaviorSanitizer: it must say what `stat -f -c '%a %d'` says,
 * which the supervisor falls back to in an image without it.
 */
let dir: string;
let free: string;

beforeAll(() => {
  for (const tool of ["gcc", "stat"]) requireTool(tool);
  dir = mkdtempSync(join(tmpdir(), "aurea-free-"));
  free = buildHelperWithSanitizers("aurea-free", dir);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("aurea-free", () => {
  it("prints the free blocks and free inodes as stat -f does", () => {
    // /proc's numbers never move, so the two reads agree exactly.
    const ours = execFileSync(free, ["/proc"], { encoding: "utf8" });
    const stats = execFileSync("stat", ["-f", "-c", "%a %d", "/proc"], { encoding: "utf8" });
    expect(ours).toBe(stats);
    expect(execFileSync(free, [dir], { encoding: "utf8" })).toMatch(/^\d+ \d+\n$/);
  });

  it("fails with 1 for a path it cannot read, 2 without exactly one argument", () => {
    expect(spawnSync(free, [join(dir, "absent")]).status).toBe(1);
    expect(spawnSync(free, []).status).toBe(2);
    expect(spawnSync(free, ["/", "/"]).status).toBe(2);
  });
});
