import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildHelperWithSanitizers } from "../support/helper-build.js";
import { requireTool } from "../support/required-tools.js";

/**
 * The scrub between two runs of a recycled container (images/helper/aurea-scrub.c), compiled here
 * with the host's gcc under AddressSanitizer and UndefinedBehaviorSanitizer, and run as an
 * unprivileged uid inside fresh PID, IPC, network and mount namespaces (unshare, so these tests
 * run as root, as CI does): its kill(-1) and its proofs then see only what the test made.
 * Integration tests (recycling.test.ts) run the image's build of it inside real sandboxes.
 */
const user = 64_123;
let dir: string;
let scrub: string;

beforeAll(() => {
  if (process.getuid?.() !== 0) throw new Error("the scrub's tests switch users: run them as root, as CI does");
  for (const tool of ["gcc", "unshare", "setpriv", "ipcmk", "ipcs", "python3"]) requireTool(tool);
  dir = mkdtempSync(join(tmpdir(), "aurea-scrub-"));
  execFileSync("chmod", ["0755", dir]);
  scrub = buildHelperWithSanitizers("aurea-scrub", dir);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface Scrubbed {
  /** What the leftovers left, counted before the scrub. */
  readonly before: string;
  /** What the scrub printed and its status. */
  readonly verdict: string;
  readonly status: string;
  /** What the test's own checks found afterwards, as root (one line each). */
  readonly after: string;
  readonly stderr: string;
}

/**
 * In fresh namespaces, as root (PID 1, which reaps orphans as the supervisor does): makes a
 * workspace (the user's, mode 0711), /tmp- and /dev/shm-like directories (root's, 1777) with one
 * file of root's each, runs `asRoot`, then `leftovers` as the user, then the scrub as the user,
 * then prints what is left.
 */
function scrubAfter(leftovers: string, asRoot = ""): Scrubbed {
  const script = `
set -u
cd "$1"; scrub=$2; user=$3
rm -rf ws tmp shm; mkdir ws tmp shm
chown "$user:$user" ws; chmod 0711 ws; chmod 1777 tmp shm
touch tmp/roots-own shm/roots-own
as_user() { setpriv --reuid="$user" --regid="$user" --clear-groups -- "$@"; }
${asRoot}
as_user bash -c "$4" >/dev/null 2>&1 </dev/null
echo "before=processes:$(ps -e -o uid= | grep -c "^ *$user$") ws:$(ls -A ws | wc -l) tmp:$(ls -A tmp | wc -l) ipc:$(ipcs -a | grep -c '^0x') sockets:$(cat /proc/net/unix /proc/net/tcp | wc -l) mode:$(stat -c %a ws)"
verdict=$(as_user "$scrub" 0711 "$PWD/ws" "$PWD/tmp" "$PWD/shm" "$PWD/absent")
status=$?
echo "verdict=$verdict"
echo "status=$status"
echo "processes=$(ps -e -o uid= | grep -c "^ *$user$")"
echo "ws=$(ls -A ws | tr '\\n' ' ')"
echo "tmp=$(ls -A tmp | tr '\\n' ' ')"
echo "shm=$(ls -A shm | tr '\\n' ' ')"
echo "ws_mode=$(stat -c %a ws)"
echo "ws_xattrs=$(python3 -c 'import os, sys; print(len(os.listxattr(sys.argv[1])))' ws)"
echo "ipc=$(ipcs -a | grep -c '^0x')"
`;
  const result = spawnSync(
    "unshare",
    ["--pid", "--fork", "--mount-proc", "--ipc", "--net", "bash", "-c", script, "scrub", dir, scrub, String(user), leftovers],
    { encoding: "utf8", timeout: 60_000 },
  );
  const fields = Object.fromEntries(
    result.stdout
      .trim()
      .split("\n")
      .map((line) => [line.slice(0, line.indexOf("=")), line.slice(line.indexOf("=") + 1)]),
  );
  return {
    before: fields.before ?? "",
    verdict: fields.verdict ?? "",
    status: fields.status ?? "",
    after: ["processes", "ws", "tmp", "shm", "ws_mode", "ws_xattrs", "ipc"].map((key) => `${key}=${fields[key]}`).join("\n"),
    stderr: result.stderr,
  };
}

const nothingLeft = ["processes=0", "ws=", "tmp=roots-own ", "shm=roots-own ", "ws_mode=711", "ws_xattrs=0", "ipc=0"].join("\n");

describe("aurea-scrub", () => {
  it("leaves a sandbox nobody touched clean, and says so", () => {
    const run = scrubAfter("true");
    expect(run.stderr).toBe("");
    expect([run.verdict, run.status]).toEqual(["clean", "0"]);
    expect(run.after).toBe(nothingLeft);
  });

  it("removes everything a hostile run leaves behind, and proves it", () => {
    const run = scrubAfter(`
cd "$PWD/ws"
# Processes: a daemon, a setsid escape, a stopped one, a double fork, a sleeper waking later.
sleep 1000 & disown
setsid sleep 1000 &
sleep 1000 & kill -STOP $!
( ( sleep 1000 & ) & )
nohup bash -c 'while sleep 0.01; do :; done' >/dev/null 2>&1 &
# Files in every writable place, some hard to remove.
echo secret > leftover; mkfifo fifo; ln -s /etc/passwd link; ln leftover hardlink
mkdir -p deep/er/still; echo x > deep/er/still/file; chmod 000 deep/er/still deep/er deep
mkdir locked; touch locked/inside; chmod 000 locked
touch ../tmp/.hidden ../tmp/visible ../shm/sem.leftover; mkdir ../tmp/dir; chmod 000 ../tmp/dir
# The workspace itself: another mode and an extended attribute.
python3 -c 'import os; os.setxattr(".", "user.note", b"from the last run")'
chmod 0777 .
# System V IPC, one of them with no permission for anyone, one given away to root's uid.
ipcmk -M 4096 >/dev/null; ipcmk -M 4096 -p 000 >/dev/null; ipcmk -S 2 >/dev/null; ipcmk -Q >/dev/null
# An abstract Unix socket and a TCP listener, held by a daemon.
python3 -c '
import os, socket, time
a = socket.socket(socket.AF_UNIX); a.bind("\\0aurea-left"); a.listen()
t = socket.socket(); t.bind(("127.0.0.1", 0)); t.listen()
if os.fork() == 0:
    os.setsid(); time.sleep(1000)
' &
# Until both sockets are listed (a fixed pause can lose the race on a loaded machine).
for i in $(seq 200); do [ "$(cat /proc/net/unix /proc/net/tcp | wc -l)" -ge 4 ] && break; sleep 0.05; done
`);
    expect(run.stderr).toBe("");
    // What was there to remove: 6 processes or more (the loop's sleep comes and goes), 6
    // workspace entries, 3 more in /tmp, 4 IPC objects, 2 sockets (besides the two tables'
    // header lines), the workspace's mode changed.
    expect(run.before).toMatch(/^processes:([6-9]|\d\d) ws:6 tmp:4 ipc:4 sockets:4 mode:777$/);
    expect([run.verdict, run.status]).toEqual(["clean", "0"]);
    expect(run.after).toBe(nothingLeft);
  });

  it("leaves files outside the user's own alone: a symlink's target, root's files", () => {
    const run = scrubAfter(`ln -s "$PWD/tmp/roots-own" "$PWD/ws/link-to-root"`);
    expect(run.verdict).toBe("clean");
    expect(run.after).toBe(nothingLeft);
  });

  it("is dirty when a process of the user cannot be ended (a zombie whose parent never reaps it)", () => {
    // A root process outside the user's reach keeps a zombie child of the user's.
    const run = scrubAfter(
      "true",
      `python3 -c '
import os, time
if os.fork() == 0:
    os.setgid(${user}); os.setuid(${user}); os._exit(0)
time.sleep(1000)
' &
# Until the zombie exists (a fixed pause lost the race on a loaded machine).
for i in $(seq 200); do ps -e -o uid=,stat= | grep -q "^ *${user} Z" && break; sleep 0.05; done`,
    );
    expect(run.verdict).toMatch(/^dirty processes \(pid \d+ state Z parent \d+\)$/);
    expect(run.status).toBe("1");
  });

  it("is dirty when the IPC namespace holds an object it may not remove (root's)", () => {
    const run = scrubAfter("true", "ipcmk -M 4096 >/dev/null");
    expect([run.verdict, run.status]).toEqual(["dirty ipc", "1"]);
  });

  it("is dirty when a socket stays open in the network namespace (root's listener)", () => {
    const run = scrubAfter(
      "true",
      `python3 -c 'import socket, time; s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(); time.sleep(1000)' &
      for i in $(seq 200); do [ "$(wc -l < /proc/net/tcp)" -gt 1 ] && break; sleep 0.05; done`,
    );
    expect([run.verdict, run.status]).toEqual(["dirty sockets", "1"]);
  });

  it("is dirty when a tree is deeper than it removes", () => {
    const run = scrubAfter(`cd "$PWD/ws" && for i in $(seq 300); do mkdir d && cd d; done`);
    expect([run.verdict, run.status]).toEqual(["dirty files", "1"]);
  });

  it("refuses to run as root, and says how it is used", () => {
    const asRoot = spawnSync(scrub, ["0711", dir], { encoding: "utf8" });
    expect(asRoot.status).toBe(2);
    expect(asRoot.stderr).toContain("refuses to run as root");
    const bare = spawnSync(scrub, [], { encoding: "utf8" });
    expect(bare.status).toBe(2);
    expect(bare.stderr).toContain("usage");
    const badMode = spawnSync("setpriv", [`--reuid=${user}`, `--regid=${user}`, "--clear-groups", scrub, "9z", dir], {
      encoding: "utf8",
    });
    expect(badMode.status).toBe(2);
  });
});
