import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildHelperWithSanitizers } from "../support/helper-build.js";
import { requireTool } from "../support/required-tools.js";

/**
 * The supervisor's output relay (images/helper/aurea-relay.c), compiled here with the host's gcc
 * under AddressSanitizer and UndefinedBehaviorSanitizer (any report fails the run: the sanitizers
 * abort on the first), and driven through real pipes. The image builds the same file with -O2.
 */
let dir: string;
let relay: string;

beforeAll(() => {
  requireTool("gcc");
  requireTool("python3");
  dir = mkdtempSync(join(tmpdir(), "aurea-relay-"));
  relay = buildHelperWithSanitizers("aurea-relay", dir);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/**
 * Runs a Python driver that starts the relay between two pipes of its own making and prints one
 * JSON line of what it saw; `setup` is Python run with `relay` (argv) and `pause` in scope.
 */
function drive(script: string, pause: number): Record<string, unknown> {
  const program = `import fcntl, json, os, subprocess, sys, threading, time\nrelay, pause = sys.argv[1], sys.argv[2]\n${script}`;
  const result = spawnSync("python3", ["-c", program, relay, String(pause)], { encoding: "utf8", timeout: 30_000 });
  expect(result.stderr).toBe("");
  return JSON.parse(result.stdout) as Record<string, unknown>;
}

describe("aurea-relay", () => {
  it("copies every byte, in order, and ends with status 0 at end of input", () => {
    const data = randomBytes(3 * 1024 * 1024 + 17);
    const result = spawnSync(relay, ["2000"], { input: data, maxBuffer: 8 * 1024 * 1024 });
    expect(result.stderr.toString()).toBe("");
    expect(result.status).toBe(0);
    expect(Buffer.compare(result.stdout, data)).toBe(0);
  });

  it("lets lines written one at a time gather into a few blocks while it pauses", () => {
    const seen = drive(
      `
out_r, out_w = os.pipe()
child = subprocess.Popen([relay, pause], stdin=subprocess.PIPE, stdout=out_w)
os.close(out_w)
for i in range(2000):
    os.write(child.stdin.fileno(), b"%d\\n" % i)
child.stdin.close()
reads, data = 0, b""
while True:
    chunk = os.read(out_r, 1 << 20)
    if not chunk:
        break
    reads += 1
    data += chunk
print(json.dumps({"reads": reads, "lines": data.count(b"\\n"), "exact": data == b"".join(b"%d\\n" % i for i in range(2000)), "status": child.wait()}))
`,
      50_000,
    );
    expect(seen).toMatchObject({ lines: 2000, exact: true, status: 0 });
    // One read a line would be 2000; 50 ms pauses leave a handful.
    expect(seen.reads).toBeLessThan(50);
  });

  it("finishes writes its output takes only partly (a full non-blocking pipe), losing nothing", () => {
    const seen = drive(
      `
out_r, out_w = os.pipe()
fcntl.fcntl(out_w, fcntl.F_SETFL, fcntl.fcntl(out_w, fcntl.F_GETFL) | os.O_NONBLOCK)
payload = os.urandom(1 << 20)
child = subprocess.Popen([relay, pause], stdin=subprocess.PIPE, stdout=out_w)
os.close(out_w)
def feed():
    child.stdin.write(payload)
    child.stdin.close()
threading.Thread(target=feed).start()
data = b""
while True:
    time.sleep(0.001)
    chunk = os.read(out_r, 4096)
    if not chunk:
        break
    data += chunk
print(json.dumps({"exact": data == payload, "length": len(data), "status": child.wait()}))
`,
      0,
    );
    expect(seen).toEqual({ exact: true, length: 1 << 20, status: 0 });
  });

  it("ends when its reader is gone, as cat does, instead of blocking the program", () => {
    const seen = drive(
      `
out_r, out_w = os.pipe()
child = subprocess.Popen([relay, pause], stdin=subprocess.PIPE, stdout=out_w)
os.close(out_w)
os.close(out_r)
try:
    child.stdin.write(b"x" * 200000)
    child.stdin.close()
except BrokenPipeError:
    pass
print(json.dumps({"status": child.wait()}))
`,
      0,
    );
    // SIGPIPE (as cat) or status 1 where SIGPIPE is ignored.
    expect([-13, 1]).toContain(seen.status);
  });

  it("refuses a pause that is not a number of microseconds within a second, with status 2", () => {
    for (const args of [[], ["-1"], ["1000001"], ["2ms"], ["1", "2"]]) {
      const result = spawnSync(relay, args, { input: "" });
      expect(result.status, args.join(" ")).toBe(2);
      expect(result.stderr.toString()).toContain("usage: aurea-relay PAUSE_US");
    }
  });
});
