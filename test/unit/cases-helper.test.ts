import { execFileSync, spawnSync } from "node:child_process";
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildWorkspaceArchive } from "../../src/runner/workspace-archive.js";
import { type CaseFrame, CaseFrameParser, caseTag, encodeCaseInput } from "../../src/sandbox/supervisor-protocol.js";
import { buildHelperWithSanitizers } from "../support/helper-build.js";
import { requireTool } from "../support/required-tools.js";
import { packArchive } from "../support/tar-archives.js";

/**
 * The test-case runner (images/helper/aurea-cases.c), compiled here with the host's gcc under
 * AddressSanitizer and UndefinedBehaviorSanitizer, run as root (as in a sandbox, and as CI runs)
 * as PID 1 of fresh PID and IPC namespaces, so its sweep of the program's uid sees only what the
 * test started. Its input is encodeCaseInput's and its frames are read by CaseFrameParser: the
 * protocol the server speaks. Integration tests (judging.test.ts) run the image's build of it.
 */
const user = 64_124;
let dir: string;
let runner: string;

beforeAll(() => {
  if (process.getuid?.() !== 0) throw new Error("the case runner's tests switch users: run them as root, as CI does");
  for (const tool of ["gcc", "unshare", "tar", "bash", "python3"]) requireTool(tool);
  dir = mkdtempSync(join(tmpdir(), "aurea-cases-"));
  execFileSync("chmod", ["0755", dir]);
  runner = buildHelperWithSanitizers("aurea-cases", dir);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface Case {
  /** main.sh, run by bash as the program. */
  readonly script: string;
  readonly stdin?: string | Buffer;
  readonly args?: string[];
  readonly timeoutSeconds?: number;
  readonly cpuSeconds?: number;
  readonly outputCap?: number;
  /** Other files of the workspace. */
  readonly files?: Record<string, string>;
  /** The workspace archive itself, instead of main.sh and files. */
  readonly archive?: Buffer;
}

interface Judged {
  readonly frames: CaseFrame[];
  readonly status: number | null;
  readonly stderr: string;
  readonly malformed: boolean;
  /** Processes of the user left once the runner ended. */
  readonly left: string;
  /** How many times GNU tar was started (with `countTar`). */
  readonly tarStarts: number;
}

let runs = 0;

/** Runs the cases through the runner in a fresh workspace (the user's, mode 0700); `raw` is appended as is. */
async function judge(
  cases: readonly Case[],
  options: { processes?: string; raw?: Buffer; program?: string[]; countTar?: boolean } = {},
): Promise<Judged> {
  const root = join(dir, `run-${runs++}`);
  const workspace = join(root, "workspace");
  mkdirSync(workspace, { recursive: true });
  execFileSync("chown", [`${user}:${user}`, workspace]);
  execFileSync("chmod", ["0700", workspace]);
  execFileSync("chmod", ["0755", root]);
  const blocks: Buffer[] = [];
  for (const testCase of cases) {
    const files = Object.entries({ "main.sh": testCase.script, ...testCase.files }).map(([name, text]) => ({
      name,
      content: Buffer.from(text),
    }));
    blocks.push(
      encodeCaseInput({
        archive: testCase.archive ?? (await buildWorkspaceArchive(files)),
        args: testCase.args ?? [],
        stdin: Buffer.from(testCase.stdin ?? ""),
        timeoutSeconds: testCase.timeoutSeconds ?? 10,
        cpuSeconds: testCase.cpuSeconds ?? 0,
        outputCap: testCase.outputCap ?? 4096,
      }),
    );
  }
  if (options.raw) blocks.push(options.raw);
  const argv = [
    runner,
    workspace,
    join(root, "private"),
    `${user}:${user}`,
    options.processes ?? "-",
    caseTag,
    ...(options.program ?? ["bash", "main.sh"]),
  ];
  // With countTar, /usr/bin/tar is (in this mount namespace only) a script that counts its starts.
  const tarCount = join(root, "tar-starts");
  if (options.countTar) {
    writeFileSync(tarCount, "");
    chmodSync(tarCount, 0o666);
    writeFileSync(join(root, "counting-tar"), `#!/bin/sh\necho started >> ${tarCount}\nexec ${join(root, "real-tar")} "$@"\n`, {
      mode: 0o755,
    });
    copyFileSync("/usr/bin/tar", join(root, "real-tar"));
    chmodSync(join(root, "real-tar"), 0o755);
  }
  const countTar = options.countTar ? `mount --bind ${join(root, "counting-tar")} /usr/bin/tar || exit 99; ` : "";
  // The runner is PID 1 of its namespace; a shell after it counts what the user left.
  const script = `${countTar}"$@"; status=$?; echo "left=$(ps -e -o uid=,comm= | awk -v u=${user} '$1 == u {print $2}' | tr '\\n' ' ')" >&2; exit $status`;
  const result = spawnSync(
    "unshare",
    ["--pid", "--fork", "--mount-proc", "--ipc", "--mount", "bash", "-c", script, "cases", ...argv],
    {
      input: Buffer.concat(blocks),
      timeout: 60_000,
      maxBuffer: 64 * 1024 * 1024,
    },
  );
  const frames: CaseFrame[] = [];
  const parser = new CaseFrameParser((frame) => frames.push(frame));
  parser.push(result.stdout);
  const stderr = result.stderr.toString();
  const left = /left=(.*)/.exec(stderr)?.[1]?.trim() ?? "?";
  const tarStarts = options.countTar ? readFileSync(tarCount, "utf8").split("\n").filter(Boolean).length : 0;
  return {
    frames,
    status: result.status,
    stderr: stderr.replace(/left=.*\n?/, ""),
    malformed: parser.malformed,
    left,
    tarStarts,
  };
}

const text = (frame: CaseFrame | undefined) => frame?.stdout.toString() ?? "";

describe("aurea-cases", () => {
  it("runs each case as the user, with exactly its stdin and args, in the workspace, and ends at end of input", async () => {
    const script = [
      'echo "uid=$(id -u) gid=$(id -g) groups=$(id -G) cwd=$PWD args=$*"',
      "grep -E '^Cap(Inh|Prm|Eff|Bnd|Amb):' /proc/self/status | awk '{print $2}' | sort -u | tr '\\n' ' '; echo",
      'echo "stdin=$(cat)"',
      'echo "by-name=$(cat /dev/stdin | wc -c)"',
      // As in a run: the output pipes are the runner's, which the program cannot open by name.
      "(echo through-dev-stdout > /dev/stdout) 2>/dev/null || echo no-dev-stdout",
      "echo to-stderr >&2",
    ].join("\n");
    const judged = await judge([
      { script, stdin: "first input", args: ["a b", "c"] },
      { script, stdin: "", args: [] },
    ]);
    expect(judged.stderr).toBe("");
    expect(judged.status).toBe(0);
    expect(judged.frames.map((frame) => frame.index)).toEqual([0, 1]);
    const [first, second] = judged.frames;
    expect(text(first)).toContain(`uid=${user} gid=${user} groups=${user} cwd=`);
    expect(text(first)).toContain("/workspace args=a b c\n");
    expect(text(first)).toContain("\n0000000000000000 \n");
    expect(text(first)).toContain("stdin=first input\nby-name=0\nno-dev-stdout\n");
    expect(first?.stderr.toString()).toBe("to-stderr\n");
    expect(first).toMatchObject({ status: 0, timedOut: false, oomKills: 0 });
    expect(first?.userSeconds).toBeGreaterThanOrEqual(0);
    expect(first?.maxRssKilobytes).toBeGreaterThan(0);
    expect(text(second)).toContain("stdin=\n");
    expect(text(second)).toContain("args=\n");
  });

  it("reports exit statuses and signals, kills at the wall limit, and holds the CPU limit", async () => {
    const judged = await judge([
      { script: "exit 3" },
      { script: "kill -SEGV $$" },
      { script: "echo before; exec sleep 30", timeoutSeconds: 0.5 },
      { script: "while :; do :; done", cpuSeconds: 1, timeoutSeconds: 10 },
      { script: "echo after" },
    ]);
    const [exited, signalled, slept, spun, after] = judged.frames;
    expect(exited).toMatchObject({ status: 3, timedOut: false });
    expect(signalled).toMatchObject({ status: 128 + 11, timedOut: false });
    expect(slept).toMatchObject({ status: 128 + 9, timedOut: true });
    expect(text(slept)).toBe("before\n");
    expect(slept?.wallMicroseconds).toBeGreaterThanOrEqual(500_000);
    expect(slept?.wallMicroseconds).toBeLessThan(5_000_000);
    // SIGXCPU at the soft limit.
    expect(spun).toMatchObject({ status: 128 + 24, timedOut: false });
    // The kernel's split into user and system time is sampled: on a loaded machine it read 0.88 s.
    expect((spun?.userSeconds ?? 0) + (spun?.systemSeconds ?? 0)).toBeGreaterThanOrEqual(0.5);
    expect(text(after)).toBe("after\n");
    expect(judged.status).toBe(0);
  });

  it("keeps output up to its cap plus one byte, then breaks the pipe", async () => {
    const judged = await judge([
      { script: "yes", outputCap: 1000 },
      { script: "yes >&2", outputCap: 100 },
      { script: "head -c 300000 /dev/zero", outputCap: 1_000_000 },
    ]);
    const [flooded, flooded2, large] = judged.frames;
    expect(flooded?.stdout.length).toBe(1001);
    expect(flooded?.status).toBe(128 + 13);
    expect(flooded2?.stderr.length).toBe(101);
    expect(large?.stdout.length).toBe(300_000);
    expect(large?.status).toBe(0);
  });

  it("reads all of a case's stdin whatever the program takes, so the next case gets its own", async () => {
    const big = Buffer.alloc(3 * 1024 * 1024, "x");
    const judged = await judge([
      { script: "head -c 5", stdin: big },
      { script: "exit 0", stdin: big },
      { script: "exec 0<&-; echo closed", stdin: big },
      { script: "wc -c", stdin: big },
      { script: "cat", stdin: "mine" },
    ]);
    expect(judged.frames.map(text)).toEqual(["xxxxx", "", "closed\n", `${big.length}\n`, "mine"]);
  });

  it("leaves nothing of a case for the next: processes, files in the workspace, /tmp and /dev/shm, modes", async () => {
    const leave = [
      "sleep 300 & disown",
      "setsid sleep 301 < /dev/null > /dev/null 2>&1 &",
      "(sleep 302 & kill -STOP $!) ",
      "bash -c 'trap \"\" TERM HUP; sleep 303' < /dev/null > /dev/null 2>&1 &",
      "echo leftover > left.txt; mkdir -p deep/locked; chmod 000 deep/locked deep",
      `touch /tmp/aurea-test-${user} /dev/shm/aurea-test-${user}`,
      "echo '# changed' >> main.sh",
      "chmod 000 .",
      "echo left",
      "",
    ].join("\n");
    const look = [
      "ls -A | tr '\\n' ' '; echo",
      `ls /tmp/aurea-test-${user} /dev/shm/aurea-test-${user} 2>&1 | wc -l`,
      "ps -e -o uid=,comm= | awk -v u=$(id -u) '$1 == u {print $2}' | sort | tr '\\n' ' '; echo",
      "stat -c %a .",
    ].join("\n");
    const judged = await judge([{ script: leave }, { script: look }]);
    expect(judged.stderr).toBe("");
    const [left, looked] = judged.frames;
    expect(text(left)).toBe("left\n");
    const lines = text(looked).split("\n");
    expect(lines[0]).toBe("main.sh ");
    // ls prints two "No such file" lines: neither file is there.
    expect(lines[1]).toBe("2");
    // Only the look itself: its bash, ps, awk, sort, tr.
    expect(lines[2]).not.toContain("sleep");
    expect(lines[3]).toBe("700");
    expect(judged.left).toBe("");
  });

  it("holds a case to the process limit, and the next case still runs", async () => {
    // main.sh holds Python here: the program is python3.
    const forks = [
      "import os, time",
      "forked = 0",
      "for _ in range(40):",
      "    try:",
      "        if os.fork() == 0:",
      "            time.sleep(30)",
      "            os._exit(0)",
      "        forked += 1",
      "    except BlockingIOError:",
      "        break",
      "print('forked', forked)",
    ].join("\n");
    const judged = await judge([{ script: forks }, { script: "print('next')" }], {
      processes: "10",
      program: ["python3", "main.sh"],
    });
    const [bomb, next] = judged.frames;
    expect(text(bomb)).toBe("forked 9\n");
    expect(text(next)).toBe("next\n");
    expect(judged.left).toBe("");
  });

  it("extracts Aurea's own archives itself, exactly as tar does, and hands any other archive to tar", async () => {
    const longName = `src/${"a-long-directory-name/".repeat(6)}${"n".repeat(90)}.txt`;
    const files = [
      { name: "main.sh", content: Buffer.from(`find . -mindepth 1 -printf '%p %y %m %s %T@\\n' | sort; cat ${longName}`) },
      { name: "bin/tool", content: Buffer.from("#!/bin/sh\n"), executable: true },
      { name: "empty.txt", content: Buffer.alloc(0) },
      { name: longName, content: Buffer.from("deep\n") },
      { name: "data/blocks.bin", content: Buffer.alloc(5000, 7) },
    ];
    const simple = await buildWorkspaceArchive(files);
    // The same files after a symbolic link: not an archive Aurea builds.
    const linked = await packArchive([{ header: { name: "link", type: "symlink", linkname: "main.sh", mtime: new Date(0) } }]);
    const tarOnly = Buffer.concat([linked.subarray(0, linked.length - 1024), simple]);
    const judged = await judge(
      [
        { script: "", archive: simple },
        { script: "", archive: simple },
        { script: "", archive: tarOnly },
      ],
      { countTar: true },
    );
    expect(judged.stderr).toBe("");
    const [first, second, third] = judged.frames.map(text);
    expect(first).toContain("./bin/tool f 755 10 0.0000000000\n");
    expect(first).toContain("./empty.txt f 644 0 0.0000000000\n");
    expect(first).toContain("./data/blocks.bin f 644 5000 0.0000000000\n");
    expect(first).toContain("./src d 755 ");
    expect(first).toContain(`./${longName} f 644 5 0.0000000000\n`);
    expect(first?.endsWith("deep\n")).toBe(true);
    expect(second).toBe(first);
    // The same files through tar (and the link), with the same modes and times.
    expect(third).toBe(first?.replace("./main.sh", "./link l 777 7 0.0000000000\n./main.sh"));
    expect(judged.tarStarts).toBe(1);
  });

  it("says 127 with a message for a program that is not there", async () => {
    const judged = await judge([{ script: "" }], { program: ["/nonexistent/program"] });
    expect(judged.frames[0]?.status).toBe(127);
    expect(judged.frames[0]?.stderr.toString()).toContain("/nonexistent/program");
  });

  it.each([
    ["a header that is not the protocol", "1 2 x 4 5 6 7\n"],
    ["a header with a field missing", "0 0 0 1 0 100\n"],
    ["a header cut short", "0 0 0 1 0"],
    ["a case's input cut short", "0 0 100 1 0 100 1000000\nshort"],
    ["a header too long", `${"1".repeat(300)}\n`],
  ])("exits 125 at %s, after the cases before it", async (_name, raw) => {
    const judged = await judge([{ script: "echo fine" }], { raw: Buffer.from(raw) });
    expect(judged.frames.map(text)).toEqual(["fine\n"]);
    expect(judged.status).toBe(125);
  });

  it("refuses bad arguments with status 2", () => {
    for (const args of [[], ["/w", "/p", "0:0", "-", "tag", "true"], ["/w", "/p", "10:10", "x", "tag", "true"]]) {
      const result = spawnSync(runner, args);
      expect(result.status, args.join(" ")).toBe(2);
    }
  });
});
