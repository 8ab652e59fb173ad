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

/** Callers, one API key each: a test that counts a caller's containers has a caller of its own. */
const callers = ["alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy", "ken"] as const;
type Caller = (typeof callers)[number];
const keyOf = (caller: Caller) => `${caller}-key-0123456789abcdef`;

/** Python that prints its container's id (from its cgroup) on the first line. */
const printContainer = ["import re", "print(re.search(r'[0-9a-f]{64}', open('/proc/self/cgroup').read()).group(0))"].join("\n");

const containerOf = (response: GrpcResponse) => (response.stdout as string).split("\n")[0] ?? "";

/**
 * What a run leaves for the next one when it tries to: everything issue #26 lists. A POSIX
 * message queue is created where the runtime allows one (runc); under runsc recycling denies them.
 */
const leaveEverything = `${printContainer}
import ctypes, os, socket, subprocess, sys, time
libc = ctypes.CDLL(None, use_errno=True)
# Files in every writable place, a FIFO among them.
for place in ('/workspace', '/tmp', '/dev/shm'):
    open(f'{place}/left-by-run-1', 'w').write('secret')
os.mkfifo('/tmp/fifo')
os.makedirs('/workspace/locked/deeper'); os.chmod('/workspace/locked', 0)
os.chmod('/workspace', 0o777)
try:
    os.setxattr('/workspace', 'user.note', b'run 1')
except OSError:
    pass  # gVisor's tmpfs keeps no user attributes
# System V IPC, and a POSIX message queue.
for flag in ('-M', '-S', '-Q'):
    subprocess.run(['ipcmk', flag, '1' if flag == '-S' else '4096'], check=True, stdout=subprocess.DEVNULL)
rt = ctypes.CDLL('librt.so.1', use_errno=True)
rt.mq_open.restype = ctypes.c_int
queue = rt.mq_open(b'/left-by-run-1', os.O_CREAT | os.O_RDWR, 0o600, None)
print('queue', 'made' if queue >= 0 else os.strerror(ctypes.get_errno()))
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
    listener = socket.socket(); listener.bind(('127.0.0.1', 0)); listener.listen()
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
import ctypes, os, time
time.sleep(2)  # past the moment the earlier run's sleeper would have written
mine = str(os.getpid())
others = [pid for pid in os.listdir('/proc') if pid.isdigit() and pid != mine and os.stat(f'/proc/{pid}').st_uid == os.getuid()]
print('processes', len(others))
for place in ('/workspace', '/tmp', '/dev/shm', '/dev/mqueue'):
    print(place, sorted(name for name in os.listdir(place) if not name.startswith('.aurea-')) if os.path.exists(place) else 'absent')
print('workspace', oct(os.stat('/workspace').st_mode & 0o7777), os.listxattr('/workspace'))
# System V objects as the IPC namespace counts them (ipcs lists none under gVisor, whose *_STAT
# calls take ids, not indexes): pages of shared memory, semaphore sets, message queues.
libc = ctypes.CDLL(None, use_errno=True)
info = ctypes.create_string_buffer(256)
libc.shmctl(0, 14, info); pages = int.from_bytes(info.raw[8:16], 'little')
libc.semctl(0, 0, 19, info); sets = int.from_bytes(info.raw[28:32], 'little')
libc.msgctl(0, 12, info); queues = int.from_bytes(info.raw[0:4], 'little')
print('ipc', pages, sets, queues)
rt = ctypes.CDLL('librt.so.1', use_errno=True)
rt.mq_open.restype = ctypes.c_int
print('queue', 'open' if rt.mq_open(b'/left-by-run-1', os.O_RDWR, 0, None) >= 0 else 'none')
tables = [f'/proc/net/{t}' for t in ('unix', 'tcp', 'tcp6', 'udp', 'udp6')]
print('sockets', sum(len(open(t).read().splitlines()) - 1 for t in tables if os.path.exists(t)))
print('cwd', os.getcwd(), 'env', sorted(k for k in os.environ if k.startswith('LEFT')))
`;

/** Lines every fresh container shows, under both runtimes. */
const nothingLeft = [
  "/tmp []",
  "/dev/shm []",
  "ipc 0 0 0",
  "queue none",
  "sockets 0",
  "cwd /workspace env []",
  "/workspace ['main.py']",
];

const runOf = (stdout: unknown) => (stdout as string).slice(65);

describe.each(["runc", "runsc"] as const)("recycled sandboxes (%s)", (runtime) => {
  let aurea: RunningAurea;
  const clients = new Map<Caller, GrpcSandboxClient>();
  const as = (caller: Caller) => {
    let client = clients.get(caller);
    if (!client) {
      client = createGrpcSandboxClient(aurea.port, { authorization: `Bearer ${keyOf(caller)}` });
      clients.set(caller, client);
    }
    return client;
  };

  function origin(response: GrpcResponse): unknown {
    return aurea.logs().find((entry) => entry.run_id === response.run_id && entry.msg === "run finished")?.container;
  }

  /** Waits for every scrub to end (a run's container is handed back before its answer is sent). */
  async function scrubbed(): Promise<void> {
    await vi.waitFor(() => expect(aurea.load().scrubbing).toBe(0), { timeout: 20_000 });
  }

  /** The container a run of `code` took, and where from. */
  async function containerRun(client: GrpcSandboxClient, request: Record<string, unknown> = {}) {
    const response = await client.run({ language: "python", code: printContainer, ...request });
    return { response, container: containerOf(response), origin: origin(response) };
  }

  beforeAll(async () => {
    aurea = await startAurea({
      API_KEYS: callers.map((caller) => `${caller}:${keyOf(caller)}`).join(","),
      WARM_POOL_SIZE: "1",
      RECYCLE_MAX_RUNS: "3",
      SANDBOX_RUNTIME: runtime,
      SANDBOX_OUTPUT_LIMIT: "64k",
    });
    // One warm container for each of the core languages.
    await vi.waitFor(() => expect(aurea.load().warm).toBe(3), { timeout: 60_000 });
  }, 90_000);
  afterAll(async () => {
    for (const client of clients.values()) client.close();
    await aurea.stop();
    await noContainersWithin(removalBoundMs[runtime]);
  });

  it("gives the caller's next run the same container, with nothing of the last run left in it", async () => {
    // Both runs (and bob's) set environment variables of their own, so all take containers of the
    // exec loader's shape (warm-shape.ts, warmLoaderFor): the second can be the first's container.
    const first = await as("alice").run({ language: "python", code: leaveEverything, env: { LEFT: "1" } });
    expect(first.stderr).toBe("");
    expect(first).toMatchObject({ status: "RUN_STATUS_OK" });
    expect(first.stdout as string).toMatch(
      runtime === "runc" ? /\nqueue made\nleft \d+\n$/ : /\nqueue Operation not permitted\nleft \d+\n$/,
    );
    await scrubbed();
    const second = await as("alice").run({ language: "python", code: lookAround, env: { LOOKING: "1" } });
    expect(containerOf(second)).toBe(containerOf(first));
    expect(origin(second)).toBe("recycled");
    for (const line of nothingLeft) expect(runOf(second.stdout)).toContain(`${line}\n`);
    // Exactly what another caller's run sees in a container no run has touched.
    const fresh = await as("bob").run({ language: "python", code: lookAround, env: { LOOKING: "1" } });
    expect(origin(fresh)).toBe("warm");
    expect(containerOf(fresh)).not.toBe(containerOf(first));
    expect(runOf(second.stdout)).toBe(runOf(fresh.stdout));
  });

  it("gives a recycled run its stdin to the end, its files, arguments and environment", async () => {
    const request = (word: string) => ({
      code: `${printContainer}\nimport os, sys\nprint(sys.stdin.read(), sys.argv[1:], os.environ['WORD'], open('data.txt').read())`,
      stdin: Buffer.from(`stdin of ${word}`),
      args: [word, "two words"],
      env: { WORD: word },
      files: { "data.txt": `file of ${word}` },
    });
    const first = await containerRun(as("judy"), request("one"));
    await scrubbed();
    const second = await containerRun(as("judy"), request("two"));
    expect(second).toMatchObject({ origin: "recycled", container: first.container });
    expect(runOf(first.response.stdout)).toBe("stdin of one ['one', 'two words'] one file of one\n");
    expect(runOf(second.response.stdout)).toBe("stdin of two ['two', 'two words'] two file of two\n");
  });

  it("counts usage per run: the next run's CPU time and peak memory are its own", async () => {
    const heavy = await containerRun(as("carol"), {
      code: `${printContainer}\nimport time\nblock = bytearray(150 << 20)\nend = time.process_time() + 0.4\nwhile time.process_time() < end: pass`,
    });
    expect(heavy.response.status).toBe("RUN_STATUS_OK");
    await scrubbed();
    const light = await containerRun(as("carol"));
    expect(light.container).toBe(heavy.container);
    const usage = (response: GrpcResponse) => response.usage as { cpu_time: number; peak_memory_bytes: string };
    expect(usage(heavy.response).cpu_time).toBeGreaterThan(0.35);
    expect(usage(light.response).cpu_time).toBeGreaterThan(0);
    expect(usage(light.response).cpu_time).toBeLessThan(0.2);
    if (runtime === "runc") {
      // gVisor reports no peak at all (runtimes.ts).
      expect(Number(usage(heavy.response).peak_memory_bytes)).toBeGreaterThan(150 << 20);
      expect(Number(usage(light.response).peak_memory_bytes)).toBeLessThan(60 << 20);
    }
  });

  it("starts a recyclable container for a run that finds none waiting, which then serves the caller", async () => {
    const firsts = await Promise.all([1, 2, 3].map(() => containerRun(as("ken"))));
    for (const first of firsts) expect(first.response.status).toBe("RUN_STATUS_OK");
    await scrubbed();
    const seconds = await Promise.all([1, 2, 3].map(() => containerRun(as("ken"))));
    // Each of the three served again: none was a one-run cold container.
    expect(new Set(seconds.map((second) => second.container))).toEqual(new Set(firsts.map((first) => first.container)));
    for (const second of seconds) expect(second.origin).toBe("recycled");
  });

  it("never gives one caller's container to another", async () => {
    const mine = await containerRun(as("dave"));
    await scrubbed();
    const theirs = await containerRun(as("erin"));
    expect(theirs.container).not.toBe(mine.container);
    await scrubbed();
    const mineAgain = await containerRun(as("dave"));
    expect(mineAgain).toMatchObject({ origin: "recycled", container: mine.container });
  });

  it.each([
    ["timed out", { code: `${printContainer}\nimport time; time.sleep(30)`, timeout: 1 }, "RUN_STATUS_TIMEOUT"],
    ["was cut at the output limit", { code: `${printContainer}\nprint('x' * 100_000)` }, "RUN_STATUS_OUTPUT_LIMIT"],
    [
      "reached its memory limit",
      { code: `${printContainer}\nb = bytearray(200 << 20)`, limits: { memory_bytes: 64 << 20 } },
      "RUN_STATUS_MEMORY_LIMIT",
    ],
  ])("removes a container whose run %s", async (_what, request, status) => {
    const ended = await containerRun(as("frank"), request);
    expect(ended.response.status).toBe(status);
    await scrubbed();
    const next = await containerRun(as("frank"), "limits" in request ? { limits: request.limits } : {});
    expect(next.container).not.toBe(ended.container);
  });

  it("removes a container after RECYCLE_MAX_RUNS runs", async () => {
    const seen: string[] = [];
    for (let run = 0; run < 4; run++) {
      await scrubbed();
      seen.push((await containerRun(as("grace"))).container);
    }
    expect(new Set(seen.slice(0, 3)).size).toBe(1);
    expect(seen[3]).not.toBe(seen[0]);
  });

  it("runs a program whose input does not fit a recycled container's pipe cold, whole", async () => {
    const stdin = Buffer.alloc(200_000, "y");
    const big = await containerRun(as("heidi"), {
      code: `${printContainer}\nimport sys\nprint(len(sys.stdin.buffer.read()))`,
      stdin,
    });
    expect(big.origin).toBe("cold");
    expect(big.response.stdout as string).toMatch(/\n200000\n$/);
  });

  it("serves a run that collects artifacts, as its container's last", async () => {
    const collecting = await containerRun(as("ivan"), {
      code: `${printContainer}\nopen('out.txt', 'w').write('kept')`,
      capture_artifacts: true,
    });
    expect(collecting.response).toMatchObject({ status: "RUN_STATUS_OK", artifacts: { "out.txt": "kept" } });
    expect(collecting.origin).toBe("warm");
    await scrubbed();
    const next = await containerRun(as("ivan"));
    expect(next.container).not.toBe(collecting.container);
  });
});

describe("with RECYCLE_SANDBOXES=false", () => {
  it("gives every run a container of its own", async () => {
    const aurea = await startAurea({ WARM_POOL_SIZE: "1", RECYCLE_SANDBOXES: "false" });
    const client = createGrpcSandboxClient(aurea.port);
    try {
      await vi.waitFor(() => expect(aurea.load().warm).toBe(3), { timeout: 30_000 });
      const first = await client.run({ language: "python", code: printContainer });
      await vi.waitFor(() => expect(aurea.load().warm).toBe(3), { timeout: 30_000 });
      const second = await client.run({ language: "python", code: printContainer });
      expect(containerOf(second)).not.toBe(containerOf(first));
      expect(aurea.load().recycled).toBe(0);
    } finally {
      client.close();
      await aurea.stop();
      await noContainersWithin(removalBoundMs.runc);
    }
  });
});
