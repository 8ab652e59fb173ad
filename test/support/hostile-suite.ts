import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startAurea, type RunningAurea } from "./aurea-server.js";
import { noContainersWithin, removalBoundMs } from "./containers.js";
import { createGrpcSandboxClient, type GrpcResponse, type GrpcSandboxClient } from "./grpc-js-client.js";

export const runtimes = ["runc", "runsc"] as const;
export type Runtime = (typeof runtimes)[number];

/** One hostile program and what must be true after it ran. */
export interface HostileCase {
  readonly name: string;
  readonly request: Record<string, unknown>;
  /** Longest the call may take, milliseconds (default 10 s). */
  readonly maxMs?: number;
  /** Longest the container may take to be gone after the answer, milliseconds (default: `removalBoundMs`). */
  readonly removalMs?: number;
  /** Runtimes to run it under (default both). */
  readonly runtimes?: readonly Runtime[];
  check(response: GrpcResponse, runtime: Runtime): void | Promise<void>;
}

export interface HostileContext {
  aurea(): RunningAurea;
  client(): GrpcSandboxClient;
}

/**
 * Runs each case for real under each runtime against one server, asserting besides the case's
 * own checks the elapsed time, that the server still reports serving, and that no container is
 * left behind.
 */
export function hostileSuite(family: string, cases: readonly HostileCase[], env: Record<string, string> = {}): HostileContext {
  let aurea: RunningAurea;
  let client: GrpcSandboxClient;
  beforeAll(async () => {
    aurea = await startAurea(env);
    client = createGrpcSandboxClient(aurea.port);
  });
  afterAll(async () => {
    client?.close();
    await aurea?.stop();
  });
  describe.each(runtimes)(`${family} under %s`, (runtime) => {
    for (const hostile of cases) {
      if (hostile.runtimes && !hostile.runtimes.includes(runtime)) continue;
      it(hostile.name, async () => {
        const started = performance.now();
        const response = await client.run({ timeout: 20, ...hostile.request, runtime });
        const elapsed = performance.now() - started;
        await hostile.check(response, runtime);
        expect(elapsed, "elapsed ms").toBeLessThan(hostile.maxMs ?? 10_000);
        expect(await client.health()).toMatchObject({ serving: true });
        await noContainersWithin(hostile.removalMs ?? removalBoundMs[runtime]);
      });
    }
  });
  return { aurea: () => aurea, client: () => client };
}

/** Python that prints the errno name of a failing call, or "ok". */
export function pythonErrno(statement: string, setup = ""): string {
  return [
    "import errno, os, socket, ctypes",
    setup,
    "try:",
    `    ${statement}`,
    "    print('ok')",
    "except OSError as e:",
    "    print(errno.errorcode.get(e.errno, e.errno))",
  ].join("\n");
}

/** Python that calls a raw system call by number and prints "ok" or the errno name. */
export function pythonSyscall(number: number, args: readonly number[] = []): string {
  return [
    "import ctypes, errno",
    "libc = ctypes.CDLL(None, use_errno=True)",
    `result = libc.syscall(${[number, ...args].join(", ")})`,
    "print('ok' if result >= 0 else errno.errorcode.get(ctypes.get_errno(), ctypes.get_errno()))",
  ].join("\n");
}
