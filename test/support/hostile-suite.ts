import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startAurea, type RunningAurea } from "./aurea-server.js";
import { noContainersWithin, removalBoundMs } from "./containers.js";
import { createGrpcSandboxClient, type GrpcResponse, type GrpcSandboxClient } from "./grpc-js-client.js";

export const runtimes = ["runc", "runsc"] as const;
export type Runtime = (typeof runtimes)[number];

/** Set (to the gateway's upstream network) while the families run again with a network policy. */
export const hostilePolicyVariable = "AUREA_HOSTILE_NETWORK_POLICY";

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
  /**
   * Why the case is not also run as an Exec in a session, when it is not: what it checks exists
   * only for a run (a request field sessions do not take, a report only a run's supervisor makes).
   */
  readonly notInSession?: string;
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
export function hostileSuite(
  family: string,
  cases: readonly HostileCase[],
  env: Record<string, string> = {},
  /** A network policy every run and session of the suite gets (`{ allow: [...] }`); none by default. */
  network?: { readonly allow: readonly string[] },
): HostileContext {
  // test/adversarial/with-a-network-policy.test.ts runs every family again with a policy set: the
  // upstream network it made is named here, and every run and session gets `pkgs.test` on it.
  const policyUpstream = process.env[hostilePolicyVariable];
  if (policyUpstream) {
    env = { ...env, EGRESS_ALLOWED: "*.test", EGRESS_UPSTREAM_NETWORK: policyUpstream };
    network ??= { allow: ["pkgs.test"] };
    family = `${family}, with a network policy`;
  }
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
        const response = await client.run({ timeout: 20, ...hostile.request, runtime, ...(network ? { network } : {}) });
        const elapsed = performance.now() - started;
        await hostile.check(response, runtime);
        expect(elapsed, "elapsed ms").toBeLessThan(hostile.maxMs ?? 10_000);
        expect(await client.health()).toMatchObject({ serving: true });
        await noContainersWithin(hostile.removalMs ?? removalBoundMs[runtime]);
      });
    }
  });
  // The same hostile programs as Execs in a session: the case's own checks hold for the exec's
  // answer, the session survives it or says why not, and nothing is left once it is closed.
  describe.each(runtimes)(`${family} in a session under %s`, (runtime) => {
    for (const hostile of cases) {
      if ((hostile.runtimes && !hostile.runtimes.includes(runtime)) || hostile.notInSession) continue;
      it(hostile.name, async () => {
        const {
          language,
          limits,
          files,
          binary_files,
          code,
          stdin,
          args,
          env,
          timeout = 20,
          readonly,
          ...rest
        } = hostile.request;
        // A session's root is always read-only, as a run's by default.
        expect([...Object.keys(rest), ...(readonly === false ? ["readonly"] : [])], "fields a session cannot take").toEqual([]);
        const created = await client.call(
          "CreateSession",
          { language, limits, files, binary_files, runtime, ...(network ? { network } : {}) },
          120_000,
        );
        const session_id = created.session_id as string;
        try {
          const started = performance.now();
          const response = await client.call("Exec", { session_id, code, stdin, args, env, timeout }, 120_000);
          const elapsed = performance.now() - started;
          await hostile.check(response, runtime);
          expect(elapsed, "elapsed ms").toBeLessThan(hostile.maxMs ?? 10_000);
          const after = await client.call("Exec", { session_id, command: ["true"] }).catch((error: { code: number }) => error);
          if ("code" in after) expect(after.code, "a session that cannot go on says so").toBe(9 /* FAILED_PRECONDITION */);
          else expect(after.status).toBe("RUN_STATUS_OK");
        } finally {
          await client.call("CloseSession", { session_id }).catch(() => undefined);
        }
        expect(await client.health()).toMatchObject({ serving: true, sessions: 0 });
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

/** Raw and packet sockets are refused, with a network or without. */
export const rawSocketsRefused: HostileCase = {
  name: "is refused raw and packet sockets",
  request: {
    language: "python",
    code: [
      "import socket, errno",
      "for family, kind, proto in [(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP), (socket.AF_PACKET, socket.SOCK_RAW, 0)]:",
      "    try:",
      "        socket.socket(family, kind, proto)",
      "        print('opened')",
      "    except OSError as e:",
      "        print(errno.errorcode.get(e.errno, e.errno))",
    ].join("\n"),
  },
  check(response) {
    const results = (response.stdout as string).trim().split("\n");
    expect(results).toHaveLength(2);
    for (const result of results) expect(["EPERM", "EACCES", "EAFNOSUPPORT"]).toContain(result);
  },
};
