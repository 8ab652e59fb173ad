import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildHelperWithSanitizers } from "../support/helper-build.js";
import { requireTool } from "../support/required-tools.js";

/**
 * The wrapper that denies POSIX message queues (images/helper/aurea-no-mqueue.c), built under
 * the sanitizers and run on the host as an unprivileged user: its filter holds for the command
 * and everything it starts, and nothing else changes. Integration tests (recycling.test.ts) run
 * the image's build of it under gVisor.
 */
let dir: string;
let wrapper: string;

beforeAll(() => {
  requireTool("gcc");
  requireTool("python3");
  dir = mkdtempSync(join(tmpdir(), "aurea-no-mqueue-"));
  wrapper = buildHelperWithSanitizers("aurea-no-mqueue", dir);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/**
 * Python that makes the mq_open and mq_unlink system calls itself (glibc would turn mq_unlink's
 * EPERM into EACCES) and prints what each returned, its argv, and whether a filter is on.
 */
const tryQueues = `
import ctypes, os, sys
numbers = {'x86_64': (240, 241), 'aarch64': (180, 181)}[os.uname().machine]
libc = ctypes.CDLL(None, use_errno=True)
name = ('aurea-test-%d' % os.getpid()).encode()
def outcome(result):
    return 'ok' if result >= 0 else os.strerror(ctypes.get_errno())
opened = outcome(libc.syscall(numbers[0], name, os.O_CREAT | os.O_RDWR, 0o600, None))
unlinked = outcome(libc.syscall(numbers[1], name))
print(opened, unlinked, sys.argv[1:], open('/proc/self/status').read().count('Seccomp:\\t2'))
`;

/** The machine's own Python: root's PATH may lead through a folder nobody may enter. */
const python = "/usr/bin/python3";

function run(args: string[]) {
  // As nobody: the wrapper needs no privilege (it sets no_new_privs itself).
  return spawnSync("setpriv", ["--reuid=65534", "--regid=65534", "--clear-groups", ...args], {
    encoding: "utf8",
    timeout: 30_000,
  });
}

describe("aurea-no-mqueue", () => {
  it("denies every message queue call with EPERM, and runs the command otherwise unchanged", () => {
    const result = run([wrapper, python, "-c", tryQueues, "a b", "c"]);
    expect(result.stderr).toBe("");
    expect(result.stdout).toBe("Operation not permitted Operation not permitted ['a b', 'c'] 1\n");
    expect(result.status).toBe(0);
  });

  it("holds for the processes the command starts, and keeps the command's exit status", () => {
    const result = run([wrapper, "/bin/bash", "-c", `${python} -c "$1" child; exit 3`, "sh", tryQueues]);
    expect(result.stdout).toBe("Operation not permitted Operation not permitted ['child'] 1\n");
    expect(result.status).toBe(3);
  });

  it("leaves queues alone without it (so the test above can fail)", () => {
    const result = run([python, "-c", tryQueues]);
    expect(result.stdout).toBe("ok ok [] 0\n");
  });

  it("says what went wrong when the command cannot run, or none is given", () => {
    const missing = run([wrapper, "/nonexistent/program"]);
    expect(missing.status).toBe(127);
    expect(missing.stderr).toBe("aurea-no-mqueue: /nonexistent/program: No such file or directory\n");
    const bare = run([wrapper]);
    expect(bare.status).toBe(127);
    expect(bare.stderr).toContain("usage: aurea-no-mqueue COMMAND");
  });
});
