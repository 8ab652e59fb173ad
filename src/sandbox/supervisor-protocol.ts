/**
 * The protocol between Aurea and the programs it puts in a sandbox (programs/supervisor.sh, the
 * warm loaders in programs/loaders/, the case runner and the session agent): the fixed paths,
 * the marker tags, the header line the supervisor reads, the report it writes, the run message a
 * warm loader reads, the counters they all read and how they all start a program. Each is
 * decided here once and reaches the scripts through their argv, or is checked against them.
 */

/** The program's working directory: a size-capped tmpfs, writable even with a read-only root. */
export const workspaceDir = "/workspace";

/**
 * The sandbox's counters of limits hit, as every program inside reads them: the supervisor per
 * run (programs/supervisor.sh), the case runner per case (images/helper/aurea-cases.c, OOM kills only) and the
 * session agent per exec (session-agent/agent_counters.py). Each counter is the first of its
 * files that can be read (cgroup v1, then v2), as one number or as a "key value" line's value.
 * Described here once; test/unit/supervisor-protocol.test.ts checks each program reads exactly these.
 */
export const sandboxCounterFiles = {
  oomKills: [
    { path: "/sys/fs/cgroup/memory/memory.oom_control", key: "oom_kill" },
    { path: "/sys/fs/cgroup/memory.events", key: "oom_kill" },
  ],
  pidsRefused: [
    { path: "/sys/fs/cgroup/pids/pids.events", key: "max" },
    { path: "/sys/fs/cgroup/pids.events", key: "max" },
  ],
  memoryAtLimit: [
    { path: "/sys/fs/cgroup/memory/memory.failcnt", key: undefined },
    { path: "/sys/fs/cgroup/memory.events", key: "max" },
  ],
} as const;

/**
 * How a program is started as the sandbox user, by every program inside that starts one: no
 * supplementary group, the user's gid and uid, no inheritable capability and an empty bounding
 * set (the switch from root empties the other sets). supervisor.sh runs setpriv with these
 * flags; the case runner (images/helper/aurea-cases.c, become_program_user) and the session agent
 * (agent_processes.drop_to_program_user) take the same steps in-process.
 */
export const programUserSetprivFlags = ["--clear-groups", "--inh-caps=-all", "--bounding-set=-all"] as const;

/** The core image's test-case runner (images/helper/aurea-cases.c). */
export const caseRunnerHelper = "/usr/local/lib/aurea/aurea-cases";

/** The core image's helper that runs a command with POSIX message queues denied (images/helper/). */
export const noMessageQueuesHelper = "/usr/local/lib/aurea/aurea-no-mqueue";

/**
 * Node.js's bootstrapped state, saved by the core image's build (`node --build-snapshot` of an
 * empty script, Dockerfile.sandbox): Debian's Node.js is built without its own startup snapshot,
 * so every start bootstraps from scratch (80 ms of CPU here); the JavaScript loader starts from
 * this one instead (48 ms), once per run in a recycled container.
 */
export const nodeStartupSnapshot = "/usr/local/lib/aurea/node-startup.blob";

/** The FIFO a warm container's supervisor and loader meet at (on the /tmp tmpfs). */
export const goFifo = "/tmp/.aurea-go";

/** The supervisor's own directory (its relays' pipes), which only root may enter. */
export const supervisorDir = "/tmp/.aurea-supervisor";

/** The test-case runner's own directory (each case's output), which only root may enter. */
export const casesDir = "/tmp/.aurea-cases";

/** Tag of the supervisor's report on stdout: NUL, tag, ":", nonce, " ", report line. */
export const reportTag = "aurea-usage";
/** Tag of the last bytes on stderr: NUL, tag, ":", nonce. */
export const stderrEndTag = "aurea-end";
/** Tag of a warm loader's ready line: NUL, tag, newline. */
export const readyTag = "aurea-ready";

/**
 * Written by a loader on stdout once its interpreter is up, just before it waits on the FIFO: the
 * pool hands out a container only after reading it. Nothing else is written before a run.
 */
export const readyMarker = `\0${readyTag}\n`;

/** Skipped entries the artifact manifest may list beyond the artifact count cap. */
export const manifestExtraEntries = 100;

/**
 * How the supervisor starts the program: at once (`cold`), by releasing a waiting loader (`warm`),
 * as `warm` for one run after another with a scrub between them (`recycle`), or through the
 * test-case runner (`cases`, images/helper/aurea-cases.c), once per case.
 */
export type SupervisorMode = "cold" | "warm" | "recycle" | "cases";

/**
 * Most bytes of a recycled container's run input (the loader's message and the program's stdin):
 * the supervisor writes it into a pipe before the program starts, which must never wait for a
 * program that does not read, so it has to fit the pipe's buffer (64 KiB on Linux and gVisor).
 */
export const recycledInputLimitBytes = 60 * 1024;

/** What the server writes on a recycled container's stdin after a run: scrub, then get ready again. */
export function nextRunCommand(nonce: string): Buffer {
  return Buffer.from(`next ${nonce}\n`, "ascii");
}

/**
 * Everything a recycled container writes after `nextRunCommand` when its scrub proved it clean:
 * the scrub's verdict, then the next loader's ready marker. A dirty scrub writes
 * `scrub dirty STEP` instead and exits.
 */
export function cleanScrubAnswer(nonce: string): Buffer {
  return Buffer.from(`\0${reportTag}:${nonce} scrub clean\n${readyMarker}`, "latin1");
}

/** Tag of the test-case runner's frame on stdout: NUL, tag, " ", the case's numbers, newline, its output. */
export const caseTag = "aurea-case";

/** One test case as the case runner reads it (images/helper/aurea-cases.c). */
export interface CaseInput {
  /** The workspace as the case starts it: the post-compile files, again for every case. */
  readonly archive: Buffer;
  readonly args: readonly string[];
  readonly stdin: Uint8Array;
  readonly timeoutSeconds: number;
  /** Whole CPU seconds (RLIMIT_CPU); 0 for none. */
  readonly cpuSeconds: number;
  /** Bytes kept of each of stdout and stderr; one more ends the program. */
  readonly outputCap: number;
}

/** A case's bytes on the case runner's stdin: header line, archive, NUL-terminated args, stdin. */
export function encodeCaseInput(input: CaseInput): Buffer {
  const args = Buffer.concat(input.args.map((arg) => Buffer.from(`${arg}\0`, "utf8")));
  const header = [
    input.archive.length,
    args.length,
    input.stdin.length,
    input.timeoutSeconds,
    input.cpuSeconds,
    input.outputCap,
    Math.round(input.timeoutSeconds * 1e6),
  ];
  return Buffer.concat([Buffer.from(`${header.join(" ")}\n`, "ascii"), input.archive, args, Buffer.from(input.stdin)]);
}

/** What the case runner reported for one case. */
export interface CaseFrame {
  readonly index: number;
  /** The program's exit status, or 128 + N when signal N ended it (SIGKILL at the wall limit too: see timedOut). */
  readonly status: number;
  readonly wallMicroseconds: number;
  /** CPU seconds and peak resident kilobytes of the program and the children it waited for (wait4); undefined when not reported. */
  readonly userSeconds: number | undefined;
  readonly systemSeconds: number | undefined;
  readonly maxRssKilobytes: number | undefined;
  readonly timedOut: boolean;
  /** OOM kills in the container's cgroup during the case. */
  readonly oomKills: number;
  readonly stdout: Buffer;
  readonly stderr: Buffer;
}

const caseFrameStart = Buffer.from(`\0${caseTag} `, "ascii");
/** Longest a frame's header line may be. */
const maxCaseHeaderBytes = 256;

/**
 * Reads the case runner's frames from its stdout as bytes arrive. Frames carry their own lengths,
 * counted by the runner: the program's bytes are only ever inside them.
 */
export class CaseFrameParser {
  private buffered = Buffer.alloc(0);
  private broken = false;

  constructor(private readonly onFrame: (frame: CaseFrame) => void) {}

  /** True once the stream held something that is not a frame (nothing after it is trusted). */
  get malformed(): boolean {
    return this.broken;
  }

  push(chunk: Buffer): void {
    if (this.broken) return;
    this.buffered = this.buffered.length > 0 ? Buffer.concat([this.buffered, chunk]) : Buffer.from(chunk);
    for (;;) {
      const start = Math.min(this.buffered.length, caseFrameStart.length);
      if (!this.buffered.subarray(0, start).equals(caseFrameStart.subarray(0, start))) {
        this.broken = true;
        return;
      }
      if (this.buffered.length < caseFrameStart.length) return;
      if (!this.buffered.subarray(0, caseFrameStart.length).equals(caseFrameStart)) {
        this.broken = true;
        return;
      }
      const lineEnd = this.buffered.indexOf(0x0a, caseFrameStart.length);
      if (lineEnd < 0) {
        if (this.buffered.length > maxCaseHeaderBytes) this.broken = true;
        return;
      }
      const fields = this.buffered.subarray(caseFrameStart.length, lineEnd).toString("ascii").split(" ");
      const number = (index: number) => {
        const value = Number(fields[index]);
        return Number.isFinite(value) ? value : undefined;
      };
      const outBytes = number(8);
      const errBytes = number(9);
      if (fields.length !== 10 || outBytes === undefined || errBytes === undefined) {
        this.broken = true;
        return;
      }
      const end = lineEnd + 1 + outBytes + errBytes;
      if (this.buffered.length < end) return;
      this.onFrame({
        index: number(0) ?? -1,
        status: number(1) ?? -1,
        wallMicroseconds: number(2) ?? 0,
        userSeconds: number(3),
        systemSeconds: number(4),
        maxRssKilobytes: number(5),
        timedOut: fields[6] === "1",
        oomKills: number(7) ?? 0,
        stdout: this.buffered.subarray(lineEnd + 1, lineEnd + 1 + outBytes),
        stderr: this.buffered.subarray(lineEnd + 1 + outBytes, end),
      });
      this.buffered = this.buffered.subarray(end);
    }
  }
}

/**
 * Where the program's output goes: straight to the container's stdout and stderr (`direct`), or
 * through pipes in the sandbox that the supervisor's relays copy out (`relay`; runtimes.ts says
 * which runtime needs it).
 */
export type OutputPath = "direct" | "relay";

/** What the supervisor collects from the workspace after the program ends. */
export interface ArtifactCaps {
  readonly maxFiles: number;
  readonly maxFileBytes: number;
  readonly maxTotalBytes: number;
}

/** Tar's own bytes per file, generously: a header, a GNU long-name header and name, padding. */
const tarOverheadPerFile = 6 * 1024;

/** Most bytes of tar the supervisor sends for these caps. */
export function maxArtifactTarBytes(caps: ArtifactCaps): number {
  return caps.maxTotalBytes + (caps.maxFiles + 2) * tarOverheadPerFile;
}

/** Most bytes a trailer can take: report line, manifest, tar. */
export function maxTrailerBytes(caps: ArtifactCaps | undefined): number {
  const reportBytes = 1024;
  if (!caps) return reportBytes;
  const manifestBytes = (caps.maxFiles + manifestExtraEntries + 1) * (4096 + 32);
  return reportBytes + manifestBytes + maxArtifactTarBytes(caps);
}

/**
 * The line the supervisor expects before the archive; `inputBytes`, in recycle mode only, counts
 * the run's input that follows the archive (everything after it is the server's next command).
 */
export function supervisorHeader(
  archiveBytes: number,
  nonce: string,
  artifacts: ArtifactCaps | undefined,
  inputBytes?: number,
): Buffer {
  const collect = artifacts ? `1 ${artifacts.maxFiles} ${artifacts.maxFileBytes} ${maxArtifactTarBytes(artifacts)}` : "0 0 0 0";
  const input = inputBytes === undefined ? "" : ` ${inputBytes}`;
  return Buffer.from(`${archiveBytes} ${nonce} ${collect}${input}\n`, "ascii");
}

/** Bytes the supervisor writes last on stderr, after every other process is dead. */
export function stderrEndMarker(nonce: string): Buffer {
  return Buffer.from(`\0${stderrEndTag}:${nonce}`, "ascii");
}

/** Bytes that begin the usage trailer for a given nonce. */
export function trailerMarker(nonce: string): Buffer {
  return Buffer.from(`\0${reportTag}:${nonce} `, "ascii");
}

/** What the supervisor reported after the program ended. */
export type SupervisorReport =
  | { readonly kind: "setup-failed" }
  | {
      readonly kind: "finished";
      readonly status: number;
      /** Peak memory of the container's cgroup in bytes, if the runtime exposes it. */
      readonly peakMemoryBytes: number | undefined;
      /** CPU time of the container's cgroup in nanoseconds, if exposed. */
      readonly cpuTimeNs: number | undefined;
      /** Processes the kernel's OOM killer ended, if exposed. */
      readonly oomKills: number | undefined;
      /** Forks the cgroup refused at its pids limit, if exposed. */
      readonly pidsRefused?: number | undefined;
      /** Times memory use reached the cgroup's limit, if exposed. */
      readonly memoryAtLimit?: number | undefined;
      /** The workspace's free blocks and free file slots after the run, if they could be read. */
      readonly workspaceFreeBlocks?: number | undefined;
      readonly workspaceFreeFiles?: number | undefined;
    };

/** A trailer split into the report line and what follows it (manifest and tar, if collected). */
export function splitTrailer(region: Buffer): { reportText: string; rest: Buffer } {
  const newline = region.indexOf(0x0a);
  if (newline < 0) return { reportText: region.toString("latin1"), rest: Buffer.alloc(0) };
  return { reportText: region.subarray(0, newline).toString("latin1"), rest: region.subarray(newline + 1) };
}

/**
 * Parses the report line: `ok STATUS PEAK CPU OOM_KILLS [PIDS_REFUSED MEMORY_AT_LIMIT FREE_BLOCKS
 * FREE_FILES]`, "-" for what could not be read, or `setup-failed`. Undefined when it is neither.
 */
export function parseSupervisorReport(text: string): SupervisorReport | undefined {
  const fields = text.trim().split(" ");
  if (fields[0] === "setup-failed" && fields.length === 1) return { kind: "setup-failed" };
  if (fields[0] !== "ok" || (fields.length !== 5 && fields.length !== 9)) return undefined;
  const count = (field: string | undefined) => (field && /^\d+$/.test(field) ? Number(field) : undefined);
  const status = count(fields[1]);
  if (status === undefined) return undefined;
  return {
    kind: "finished",
    status,
    peakMemoryBytes: count(fields[2]),
    cpuTimeNs: count(fields[3]),
    oomKills: count(fields[4]),
    ...(fields.length === 9
      ? {
          pidsRefused: count(fields[5]),
          memoryAtLimit: count(fields[6]),
          workspaceFreeBlocks: count(fields[7]),
          workspaceFreeFiles: count(fields[8]),
        }
      : {}),
  };
}

/**
 * The message a warm loader reads before the program's stdin: a length line, then NUL-terminated
 * fields (argument count, arguments, environment count, entries, and "1" with the code or "0").
 * `code`, when given, is written to the code file by the loader instead of coming in the archive.
 */
export function warmRunMessage(args: readonly string[], env: readonly string[], code?: string): Buffer {
  const fields = [String(args.length), ...args, String(env.length), ...env, ...(code === undefined ? ["0"] : ["1", code])];
  const payload = Buffer.concat(fields.map((field) => Buffer.from(`${field}\0`, "utf8")));
  return Buffer.concat([Buffer.from(`${payload.length}\n`, "ascii"), payload]);
}
