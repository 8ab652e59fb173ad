import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { startAurea, type RunningAurea } from "../support/aurea-server.js";
import { noContainersWithin, removalBoundMs } from "../support/containers.js";
import { createGrpcSandboxClient, type GrpcResponse, type GrpcSandboxClient } from "../support/grpc-js-client.js";

/**
 * Recycled sandboxes (runner/recycler.ts): a warm container that served a clean run serves the
 * same caller's next run of the same shape, after its supervisor's scrub (images/helper/
 * aurea-scrub.c) proved nothing of the last run is left. Each run here names its container by
 * the cgroup the engine put it in, so a test knows which runs shared one.
 */

const aliceKey = "alice-key-0123456789abcdef";
const bobKey = "bob-key-0123456789abcdef01";

/** Python that prints its container's id (from its cgroup) on the first line. */
const printContainer = [
  "import re",
  "print(re.search(r'[0-9a-f]{64}', open('/proc/self/cgroup').read()).group(0))",
].join("\n");

const containerOf = (response: GrpcResponse) => (response.stdout as string).split("\n")[0] ?? "";

/** What a run leaves for the next one when it tries to: everything issue #26 lists. */
const leaveEverything = `${printContainer}
import ctypes, os, socket, subprocess, sys, time
libc = ctypes.CDLL(None, use_errno=True)
# Files in every writable place, a FIFO among them.
for place in ('/workspace', '/tmp', '/dev/shm'):
    open(f'{place}/left-by-run-1', 'w').write('secret')
os.mkfifo('/tmp/fifo')
os.makedirs('/workspace/locked/deeper'); os.chmod('/workspace/locked', 0)
os.chmod('/workspace', 0o777)
os.setxattr('/workspace', 'user.note', b'run 1')
# System V IPC, and a POSIX message queue.
for flag in ('-M', '-S', '-Q'):
    subprocess.run(['ipcmk', flag, '1' if flag == '-S' else '4096'], check=True, stdout=subprocess.DEVNULL)
rt = ctypes.CDLL('librt.so.1', use_errno=True)
rt.mq_open.restype = ctypes.c_int
assert rt.mq_open(b'/left-by-run-1', os.O_CREAT | os.O_RDWR, 0o600, None) >= 0, ctypes.get_errno()
# Climb to a high pid, so the daemons below have one.
for _ in range(200):
    if os.fork() == 0:
        os._exit(0)
    os.wait()
def daemon(body):
    if os.fork() == 0:
        os.setsid()
        if os.fork() == 0:
            body()
            os._exit(0)
        os._exit(0)
    os.wait()
def hold_everything():
    fifo = os.open('/tmp/fifo', os.O_RDWR)
    abstract = socket.socket(socket.AF_UNIX); abstract.bind('\\0left-by-run-1'); abstract.listen()
    watch = libc.inotify_init(); libc.inotify_add_watch(watch, b'/tmp', 0xfff)
    stopped = os.fork()
    if stopped == 0:
        time.sleep(1000)
    os.kill(stopped, 19)
    time.sleep(1000)
def later():
    time.sleep(1.5)
    open('/tmp/written-later', 'w').write('from run 1')
daemon(hold_everything)
daemon(later)
time.sleep(0.2)
print('left', os.getpid())
`;

/** Python that reports, after the printed container, everything of an earlier run it can see. */
const lookAround = `${printContainer}
import os, subprocess, time
time.sleep(2)  # past the moment the earlier run's sleeper would have written
mine = str(os.getpid())
others = [pid for pid in os.listdir('/proc') if pid.isdigit() and pid != mine and os.stat(f'/proc/{pid}').st_uid == os.getuid()]
print('processes', len(others))
for place in ('/workspace', '/tmp', '/dev/shm', '/dev/mqueue'):
    print(place, sorted(name for name in os.listdir(place) if not name.startswith('.aurea-')))
print('workspace', oct(os.stat('/workspace').st_mode & 0o7777), os.listxattr('/workspace'))
print('ipc', [line for line in subprocess.run(['ipcs', '-a'], capture_output=True, text=True).stdout.splitlines() if line.startswith('0x')])
print('sockets', sum(len(open(f'/proc/net/{t}').read().splitlines()) - 1 for t in ('unix', 'tcp', 'tcp6', 'udp', 'udp6')))
print('cwd', os.getcwd(), 'env', sorted(k for k in os.environ if k.startswith('LEFT')))
`;

/** What a fresh container shows (its one other process is the program's own stdin feeder). */
const seesNothing = [
  "processes 1",
  "/workspace ['main.py']",
  "/tmp []",
  "/dev/shm []",
  "/dev/mqueue []",
  "workspace 0o700 []",
  "ipc []",
  "sockets 0",
  "cwd /workspace env []",
  "",
].join("\n");

let aurea: RunningAurea;
let alice: GrpcSandboxClient;
let bob: GrpcSandboxClient;

function origin(response: GrpcResponse): unknown {
  return aurea.logs().find((entry) => entry.run_id === response.run_id && entry.msg === "run finished")?.container;
}

/** Runs as alice once her recycled container is ready again (the scrub runs after the answer). */
async function recycledRun(client: GrpcSandboxClient, request: Record<string, unknown>): Promise<GrpcResponse> {
  await vi.waitFor(() => expect(aurea.load().recycled).toBeGreaterThanOrEqual(1), { timeout: 20_000 });
  return client.run(request);
}

describe("recycled sandboxes (runc)", () => {
  beforeAll(async () => {
    aurea = await startAurea({
      API_KEYS: `alice:${aliceKey},bob:${bobKey}`,
      WARM_POOL_SIZE: "1",
      RECYCLE_MAX_RUNS: "3",
    });
    alice = createGrpcSandboxClient(aurea.port, { authorization: `Bearer ${aliceKey}` });
    bob = createGrpcSandboxClient(aurea.port, { authorization: `Bearer ${bobKey}` });
    // One warm container for each of the core languages.
    await vi.waitFor(() => expect(aurea.load().warm).toBe(3), { timeout: 30_000 });
  });
  afterAll(async () => {
    alice.close();
    bob.close();
    await aurea.stop();
    await noContainersWithin(removalBoundMs.runc);
  });

  it("gives the caller's next run the same container, with nothing of the last run left in it", async () => {
    const first = await alice.run({ language: "python", code: leaveEverything, env: { LEFT: "1" } });
    expect(first.stderr).toBe("");
    expect(first).toMatchObject({ status: "RUN_STATUS_OK" });
    expect(first.stdout as string).toMatch(/\nleft \d+\n$/);
    const second = await recycledRun(alice, { language: "python", code: lookAround });
    expect(containerOf(second)).toBe(containerOf(first));
    expect(origin(second)).toBe("recycled");
    expect((second.stdout as string).slice(65)).toBe(seesNothing);
    // Exactly what another caller's run sees in a container no run has touched.
    const fresh = await bob.run({ language: "python", code: lookAround });
    expect(origin(fresh)).toBe("warm");
    expect(containerOf(fresh)).not.toBe(containerOf(first));
    expect((fresh.stdout as string).slice(65)).toBe(seesNothing);
  });
});
