import { describe, expect, it } from "vitest";
import { installCommand, onPath, readTestTools, requireTool } from "../support/required-tools.js";

describe("the tools the tests need (scripts/test-tools.txt)", () => {
  it("lists every tool the suites call by name, each with a Debian package and a suite", () => {
    const tools = readTestTools();
    expect(tools.map((tool) => tool.command).sort()).toEqual(
      [
        "chromium",
        "docker-compose",
        "gcc",
        "ip",
        "ipcmk",
        "ipcs",
        "pip3",
        "promtool",
        "python3",
        "ruby",
        "setpriv",
        "shellcheck",
        "unshare",
      ].sort(),
    );
    for (const tool of tools) {
      expect(["bookworm", "trixie"]).toContain(tool.suite);
      expect(tool.neededBy).not.toBe("");
    }
  });

  it("names the missing tool, what needs it and the command that installs it, at once", () => {
    const started = performance.now();
    expect(() => requireTool("promtool", "/nonexistent")).toThrow(
      /^promtool is not installed \(needed by the check of the \/metrics text format.*\): run `bash scripts\/prepare-tests.sh` as root, or `apt-get install promtool\/trixie/,
    );
    expect(() => requireTool("ruby", "")).toThrow(/`apt-get install ruby`$/);
    expect(performance.now() - started).toBeLessThan(1000);
  });

  it("passes a tool that is on PATH and refuses one the list does not know", () => {
    expect(onPath("sh")).toBe(true);
    expect(() => requireTool("sh")).not.toThrow();
    expect(() => requireTool("no-such-tool-anywhere")).toThrow(/does not list it/);
  });

  it("reads malformed lines as an error, not as a tool", () => {
    expect(() => readTestTools("lonely\n")).toThrow(/malformed line "lonely"/);
    expect(readTestTools("# a comment\n\nruby ruby bookworm the loader\n")).toEqual([
      { command: "ruby", debianPackage: "ruby", suite: "bookworm", neededBy: "the loader" },
    ]);
    expect(installCommand({ command: "x", debianPackage: "y", suite: "trixie", neededBy: "" })).toMatch(
      /^apt-get install y\/trixie/,
    );
  });
});
