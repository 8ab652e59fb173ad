import { execFileSync, spawn } from "node:child_process";
import { chmodSync, chownSync, existsSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { extract } from "tar-stream";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { baseEnvironment } from "../../src/docker/container-options.js";
import { TrailerSplitter } from "../../src/runner/output-capture.js";
import {
  maxTrailerBytes,
  nodeStartupSnapshot,
  parseSupervisorReport,
  goFifo,
  readyTag,
  reportTag,
  splitTrailer,
  stderrEndMarker,
  stderrEndTag,
  supervisorHeader,
  trailerMarker,
  warmRunMessage,
  workspaceDir,
  type ArtifactCaps,
  type OutputPath,
  type SupervisorMode,
} from "../../src/sandbox/supervisor-protocol.js";
import { buildWorkspaceArchive, type WorkspaceFile } from "../../src/runner/workspace-archive.js";
import { requireTool } from "../support/required-tools.js";
import { loaderCommand, supervisorArgv, type WarmLoader } from "../../src/sandbox/sandbox-scripts.js";

/**
 * The supervisor and the warm loaders run here with the machine's own sh, bash, python3 and node,
 * outside any container, on a temporary workspace. The supervisor ends with `kill -KILL -1`, which
 * outside a PID namespace would signal every process the user may signal: every run is inside a
 * fresh PID namespace (unshare), where it reaches only the run's own processes. As in a sandbox,
 * the supervisor runs as root and the program as uid 10001 (so these tests run as root, as CI does).
 */

const nonce = "0123456789abcdef0123456789abcdef";

const programUser = "10001:10001";
let workspace: string;
beforeEach(() => {
  if (process.getuid?.() !== 0) throw new Error("the supervisor's tests switch users: run them as root, as CI does");
  requireTool("unshare");
  workspace = mkdtempSync(join(tmpdir(), "aurea-supervisor-"));
  // As the sandbox's workspace tmpfs: the program's own, and the supervisor may only pass through.
  chownSync(workspace, 10001, 10001);
  chmodSync(workspace, 0o711);
});
afterEach(() => rmSync(workspace, { recursive: true, force: true }));

interface SupervisedRun {
  /** The program's stdout, without the trailer. */
  readonly stdout: string;
  /** The program's stderr, without the end marker. */
  readonly stderr: string;
  readonly stderrEnded: boolean;
  readonly report: ReturnType<typeof parseSupervisorReport>;
  readonly rest: Buffer;
  readonly exitCode: number | null;
  /** Lines in `ticks` when the supervisor exited and 300 ms later (see "kills leftovers"). */
  readonly ticks: readonly [number, number];
}

async function supervise(options: {
  mode?: SupervisorMode;
  output?: OutputPath;
  /** RLIMIT_NPROC for the program, or "-". */
  processes?: string;
  program: string[];
  files?: WorkspaceFile[];
  /** Bytes after the archive (a warm run's message goes first). */
  after?: Buffer;
  artifacts?: ArtifactCaps;
  archive?: Buffer;
  /** uid:gid of the program (the sandbox user by default). */
  user?: string;
  /** Recycle mode: the run's input counted in the header (what follows it is the next command). */
  inputBytes?: number;
}): Promise<SupervisedRun> {
  const archive = options.archive ?? (options.files ? await buildWorkspaceArchive(options.files) : Buffer.alloc(0));
  const input = Buffer.concat([
    supervisorHeader(archive.length, nonce, options.artifacts, options.inputBytes),
    archive,
    options.after ?? Buffer.alloc(0),
  ]);
  const fifo = join(workspace, ".go");
  // PID 1 of the namespace stays after the supervisor exits, so a leftover the supervisor failed
  // to kill would still be ticking while it counts.
  const init = `sh -c "$0" aurea-supervisor "$@"; status=$?
    count() { if [ -f ticks ]; then wc -l < ticks; else echo 0; fi; }
    count > .ticks-at-exit; sleep 0.3; count > .ticks-later; exit $status`;
  // The server's own argv (sandbox-scripts.ts), with this test's paths: a drift in its order fails here.
  const [, , supervisorText, , ...supervisorArguments] = supervisorArgv({
    mode: options.mode ?? "cold",
    processes: options.processes ?? "-",
    output: options.output ?? "direct",
    program: options.program,
    user: options.user ?? programUser,
    paths: { workspace, goFifo: fifo, supervisorDir: join(workspace, ".supervisor") },
  });
  const argv = ["--pid", "--fork", "sh", "-c", init, supervisorText!, ...supervisorArguments];
  // The sandbox's PATH, as the program would have it: tools the program's user may run.
  const env = { PATH: baseEnvironment.find((entry) => entry.startsWith("PATH="))!.slice(5), LANG: "C.UTF-8" };
  const child = spawn("unshare", argv, { cwd: workspace, env, stdio: ["pipe", "pipe", "pipe"] });
  const stdout: Buffer[] = [];
  const stderr: Buffer[] = [];
  const trailer = new TrailerSplitter(
    trailerMarker(nonce),
    (chunk) => stdout.push(Buffer.from(chunk)),
    maxTrailerBytes(options.artifacts),
  );
  const stderrEnd = new TrailerSplitter(stderrEndMarker(nonce), (chunk) => stderr.push(Buffer.from(chunk)), 64);
  child.stdout.on("data", (chunk: Buffer) => trailer.push(chunk));
  child.stderr.on("data", (chunk: Buffer) => stderrEnd.push(chunk));
  child.stdin.on("error", () => undefined);
  child.stdin.end(input);
  const exitCode = await new Promise<number | null>((resolve) => child.on("close", resolve));
  stderrEnd.end();
  const region = trailer.end();
  const split = region ? splitTrailer(region) : undefined;
  const count = (name: string) => Number(readFileSync(join(workspace, name), "utf8").trim());
  return {
    stdout: Buffer.concat(stdout).toString("utf8"),
    stderr: Buffer.concat(stderr).toString("utf8"),
    stderrEnded: stderrEnd.markerSeen,
    report: split ? parseSupervisorReport(split.reportText) : undefined,
    rest: split?.rest ?? Buffer.alloc(0),
    exitCode,
    ticks: [count(".ticks-at-exit"), count(".ticks-later")],
  };
}

const file = (name: string, content: string): WorkspaceFile => ({ name, content: Buffer.from(content) });

describe("the supervisor, cold", () => {
  it("extracts the files, runs the program with its args and the rest of stdin, and reports its status", async () => {
    const run = await supervise({
      program: ["sh", "main.sh", "one two"],
      files: [file("main.sh", 'cat lib/data.txt; echo "[$1]"; cat; echo oops >&2; exit 7'), file("lib/data.txt", "data\n")],
      after: Buffer.from("from stdin\n"),
    });
    expect(run.stdout).toBe("data\n[one two]\nfrom stdin\n");
    expect(run.stderr).toBe("oops\n");
    expect(run.stderrEnded).toBe(true);
    expect(run.report).toMatchObject({ kind: "finished", status: 7 });
    expect(run.exitCode).toBe(7);
  });

  it("kills every process the program left behind before it reports", async () => {
    const daemon = "(trap '' TERM HUP INT; while :; do echo tick >> ticks; sleep 0.02; done) & sleep 0.1; echo started";
    const run = await supervise({ program: ["sh", "-c", daemon] });
    expect(run.stdout).toBe("started\n");
    expect(run.report).toMatchObject({ kind: "finished", status: 0 });
    expect(run.ticks[0]).toBeGreaterThan(0);
    expect(run.ticks[1]).toBe(run.ticks[0]);
  });

  it("ignores reports the program forges, with or without a nonce of its own", async () => {
    const forged = `printf '\\0${reportTag}:ffff ok 0 1 1 0\\n'; printf '\\0${reportTag}: ok 0 1 1 0\\n'; printf '\\0${stderrEndTag}:ffff' >&2; exit 3`;
    const run = await supervise({ program: ["sh", "-c", forged] });
    expect(run.report).toMatchObject({ kind: "finished", status: 3 });
    expect(run.stdout).toContain(`\0${reportTag}:ffff ok 0 1 1 0\n`);
    expect(run.stderr).toBe(`\0${stderrEndTag}:ffff`);
  });

  it("reports a workspace it could not extract, and never runs the program", async () => {
    const run = await supervise({ program: ["sh", "-c", "echo ran"], archive: Buffer.alloc(1024, 7) });
    expect(run.report).toEqual({ kind: "setup-failed" });
    expect(run.stdout).toBe("");
    expect(run.exitCode).toBe(125);
  });

  it("sends a manifest and a tar of what the program created or changed, inputs left out", async () => {
    const caps: ArtifactCaps = { maxFiles: 10, maxFileBytes: 1024, maxTotalBytes: 4096 };
    const run = await supervise({
      program: ["sh", "-c", "mkdir -p out && echo result > out/r.txt && head -c 2000 /dev/zero > big.bin"],
      files: [file("input.txt", "unchanged")],
      artifacts: caps,
    });
    expect(run.report).toMatchObject({ kind: "finished", status: 0 });
    const manifestEnd = run.rest.indexOf("\0\0");
    const manifest = run.rest.subarray(0, manifestEnd).toString("utf8").split("\0").sort();
    expect(manifest).toEqual(["f 2000 big.bin", "f 7 out/r.txt"]);
    const names: string[] = [];
    const tar = extract();
    tar.on("entry", (header, stream, next) => {
      names.push(header.name);
      stream.resume();
      stream.on("end", next);
    });
    await new Promise<void>((resolve, reject) => {
      tar.on("finish", resolve);
      tar.on("error", reject);
      tar.end(run.rest.subarray(manifestEnd + 2));
    });
    // big.bin is over the per-file cap: listed, not sent.
    expect(names).toEqual(["out/r.txt"]);
  });
});

describe("the supervisor, relaying output through pipes in the sandbox", () => {
  it("copies a single large write whole, on both streams", async () => {
    const write = (fd: number, size: number) => `os.write(${fd}, b'${fd === 1 ? "o" : "e"}' * ${size})`;
    const program = [
      "python3",
      "-c",
      `import os\nn = ${write(1, 300_000)}\nm = ${write(2, 200_000)}\nprint(n, m, file=open('sizes', 'w'))`,
    ];
    const run = await supervise({ output: "relay", program });
    expect(run.stdout).toBe("o".repeat(300_000));
    expect(run.stderr).toBe("e".repeat(200_000));
    expect(run.report).toMatchObject({ kind: "finished", status: 0 });
    expect(readFileSync(join(workspace, "sizes"), "utf8")).toBe("300000 200000\n");
  });

  it("kills the program's leftovers, and still ends once their output is copied", async () => {
    const daemon = "(trap '' TERM HUP INT; while :; do echo tick >> ticks; echo out; sleep 0.02; done) & sleep 0.1; echo started";
    const run = await supervise({ output: "relay", program: ["sh", "-c", daemon] });
    expect(run.stdout.startsWith("out\n") || run.stdout.startsWith("started\n")).toBe(true);
    expect(run.stdout).toContain("started\n");
    expect(run.report).toMatchObject({ kind: "finished", status: 0 });
    expect(run.ticks[1]).toBe(run.ticks[0]);
  });

  it("lets the program open its stdin by name (/dev/stdin), though the container's stdin is root's pipe", async () => {
    const run = await supervise({ program: ["cat", "/dev/stdin"], after: Buffer.from("by name\n") });
    expect(run.stdout).toBe("by name\n");
    expect(run.report).toMatchObject({ kind: "finished", status: 0 });
  });

  it("holds the program to its own process limit, so the supervisor can still fork after a bomb", async () => {
    const forks = [
      "import errno, os, time",
      "children = 0",
      "while True:",
      "    try:",
      "        pid = os.fork()",
      "    except OSError as e:",
      "        print(errno.errorcode[e.errno], children)",
      "        break",
      "    if pid == 0:",
      "        time.sleep(30)",
      "        os._exit(0)",
      "    children += 1",
    ].join("\n");
    // RLIMIT_NPROC counts a uid's processes across the host: a uid no sandbox of the engine tests
    // running alongside uses, so only this program's own count.
    const run = await supervise({ output: "relay", processes: "6", program: ["python3", "-c", forks], user: "10991:10991" });
    // Six processes of the program's user: the program, the `cat` that feeds its stdin, four
    // children; five children when that `cat` already saw the end of the (empty) stdin and exited,
    // which a loaded machine lets happen before the loop reaches the limit.
    expect(run.stdout).toMatch(/^EAGAIN [45]\n$/);
    // The leftovers are killed (a fork of the supervisor's) and the report comes.
    expect(run.report).toMatchObject({ kind: "finished", status: 0 });
  });

  it("runs the program as the sandbox user, not as root, with no capability in any set", async () => {
    const program = ["sh", "-c", "id -u; id -g; id -G; grep -E '^Cap(Inh|Prm|Eff|Bnd|Amb)' /proc/self/status"];
    const run = await supervise({ output: "relay", program });
    const none = (set: string) => `Cap${set}:\t0000000000000000\n`;
    expect(run.stdout).toBe(`10001\n10001\n10001\n${["Inh", "Prm", "Eff", "Bnd", "Amb"].map(none).join("")}`);
  });
});

const fifo = () => join(workspace, ".go");
/**
 * A startup snapshot of this machine's own Node.js, in place of the core image's (which only the
 * image's Node.js can load), built once per Node.js version.
 */
function hostNodeSnapshot(): string {
  const version = execFileSync("node", ["--version"], { encoding: "utf8" }).trim();
  const blob = join(tmpdir(), `aurea-node-startup-${version}.blob`);
  if (!existsSync(blob)) {
    // Built under a name of its own, then renamed: test files building at once never see half a blob.
    const empty = join(tmpdir(), `aurea-empty-${process.pid}.js`);
    writeFileSync(empty, "");
    execFileSync("node", ["--snapshot-blob", `${blob}.${process.pid}`, "--build-snapshot", empty]);
    chmodSync(`${blob}.${process.pid}`, 0o644);
    renameSync(`${blob}.${process.pid}`, blob);
    rmSync(empty);
  }
  return blob;
}
// The server's own loader argv (sandbox-scripts.ts), its fixed paths replaced by this test's.
const loader =
  (kind: WarmLoader, codeFile: string, command: string[] = []) =>
  () =>
    loaderCommand(kind, codeFile, command).map((arg) =>
      arg === goFifo ? fifo() : arg === workspaceDir ? workspace : arg === nodeStartupSnapshot ? hostNodeSnapshot() : arg,
    );
const loaders: [string, string, () => string[]][] = [
  ["bash", "main.sh", loader("exec", "main.sh", ["bash", "main.sh"])],
  ["python", "main.py", loader("python", "main.py")],
  ["node", "main.js", loader("node", "main.js")],
  ["ruby", "main.rb", loader("ruby", "main.rb")],
];

describe("the supervisor, warm, with each loader", () => {
  const programs: Record<string, string> = {
    bash: 'read -r line; echo "$1|$SUFFIX|$line"; exit 4',
    python: "import os, sys\nprint(sys.argv[1] + '|' + os.environ['SUFFIX'] + '|' + sys.stdin.readline().strip())\nsys.exit(4)",
    node: "const line = require('fs').readFileSync(0, 'utf8').split('\\n')[0];\nconsole.log(`${process.argv[2]}|${process.env.SUFFIX}|${line}`);\nprocess.exit(4);",
    ruby: 'line = $stdin.gets.chomp\nputs "#{ARGV[0]}|#{ENV["SUFFIX"]}|#{line}"\nexit 4',
  };

  const cases = loaders.flatMap(([name, codeFile, argv]) =>
    (["direct", "relay"] as const).map((output) => [name, output, codeFile, argv] as const),
  );
  it.each(cases)(
    "%s (%s output): says it is ready, then runs the code it was sent with args, env and stdin",
    async (name, output, codeFile, argv) => {
      requireTool(argv()[0]!);
      const message = warmRunMessage(["a b"], ["SUFFIX=!"], programs[name]);
      const after = Buffer.concat([message, Buffer.from("line\n")]);
      const run = await supervise({ mode: "warm", output, program: argv(), after });
      expect(run.stdout).toBe(`\0${readyTag}\na b|!|line\n`);
      expect(run.report).toMatchObject({ kind: "finished", status: 4 });
      expect(readFileSync(join(workspace, codeFile), "utf8")).toBe(programs[name]);
    },
  );

  const byName: Record<string, string> = {
    bash: "cat /dev/stdin",
    python: "print(open('/dev/stdin').read(), end='')",
    node: "process.stdout.write(require('fs').readFileSync('/dev/stdin', 'utf8'))",
    ruby: "print File.read('/dev/stdin')",
  };
  it.each(loaders.map(([name, , argv]) => [name, argv] as const))(
    "%s: the program opens its stdin by name, though the container's stdin is root's pipe",
    async (name, argv) => {
      requireTool(argv()[0]!);
      const after = Buffer.concat([warmRunMessage([], [], byName[name]), Buffer.from("by name\n")]);
      const run = await supervise({ mode: "warm", program: argv(), after });
      expect(run.stdout).toBe(`\0${readyTag}\nby name\n`);
    },
  );

  it("runs a program that came in the archive when the message carries no code", async () => {
    writeFileSync(join(workspace, "unused"), "");
    const run = await supervise({
      mode: "warm",
      program: loaders[1]![2](),
      files: [file("main.py", "import helper\nprint(helper.X)"), file("helper.py", "X = 42")],
      after: warmRunMessage([], []),
    });
    expect(run.stdout).toBe(`\0${readyTag}\n42\n`);
    expect(run.report).toMatchObject({ kind: "finished", status: 0 });
  });
});

describe("the supervisor, recycling", () => {
  const toTheEnd: Record<string, string> = {
    bash: 'printf "%s|" "$1"; cat',
    python: "import sys\nsys.stdout.write(sys.argv[1] + '|' + sys.stdin.read())",
    node: "process.stdout.write(process.argv[2] + '|' + require('fs').readFileSync(0, 'utf8'))",
    ruby: 'print ARGV[0] + "|" + $stdin.read',
  };
  // Each loader once, the two output paths taken in turn (the warm tests above cover every pair).
  const cases = loaders.map(([name, , argv], index) => [name, index % 2 === 0 ? "direct" : "relay", argv] as const);
  it.each(cases)(
    "%s (%s output): takes exactly its counted input, to its end, reports, then answers the next command",
    async (name, output, argv) => {
      requireTool(argv()[0]!);
      const message = warmRunMessage(["a b"], [], toTheEnd[name]);
      const stdin = Buffer.from("line one\nline two");
      const run = await supervise({
        mode: "recycle",
        output,
        program: argv(),
        files: [file("data.txt", "in the archive")],
        after: Buffer.concat([message, stdin, Buffer.from("next 0123abcd\n")]),
        inputBytes: message.length + stdin.length,
      });
      expect(run.stdout).toBe(`\0${readyTag}\na b|line one\nline two`);
      expect(run.report).toMatchObject({ kind: "finished", status: 0 });
      // Outside the image there is no scrub helper: the supervisor says its scrub failed, and exits.
      expect(run.rest.toString("latin1")).toBe(`\0${reportTag}:0123abcd scrub dirty no-scrub-helper\n`);
      expect(run.exitCode).toBe(0);
    },
  );
});
