import type { AgentExit, AgentRequest } from "../../src/session/agent-protocol.js";
import type { FakeInteractive } from "./fake-engine.js";

/**
 * A session's agent (sandbox/programs/session-agent/) in miniature, for the in-memory engine:
 * it speaks the agent's wire (agent-protocol.ts) and answers each exec as the test says, so that
 * Session and SessionManager run without an engine. The real agent has its own tests
 * (session-agent.test.ts, in a PID namespace, and the integration tests in real containers).
 */

/** An exec or cell as the agent received it. */
export type ReceivedExec = Extract<AgentRequest, { op: "exec" | "cell" }> & { readonly payload: Buffer };
/** A command (not a cell) as the agent received it. */
export type ReceivedCommand = Extract<AgentRequest, { op: "exec" }> & { readonly payload: Buffer };

/** How the agent answers an exec: what it writes and how it ends, or never on its own. */
export type ExecAnswer =
  | { readonly stdout?: string; readonly stderr?: string; readonly status?: number; readonly exit?: Partial<AgentExit> }
  | "hang";

export interface FakeAgent {
  /** The program for FakeEngine.interactive. */
  readonly program: FakeInteractive;
  /** Every request received, in order, across the engine's containers. */
  readonly requests: (AgentRequest & { readonly payload: Buffer })[];
}

export function createFakeAgent(answer: (exec: ReceivedExec) => ExecAnswer = () => ({})): FakeAgent {
  const requests: FakeAgent["requests"] = [];
  const program: FakeInteractive = (io) => {
    const send = (header: Record<string, unknown>, data: Buffer | string = "") => {
      const body = Buffer.from(data);
      io.stdout(Buffer.concat([Buffer.from(`${JSON.stringify({ ...header, size: body.length })}\n`), body]));
    };
    const hanging = new Set<string>();
    let times: { expires_at_ms: number; idle_timeout_ms: number } | null = null;
    const handle = (request: AgentRequest & { readonly payload: Buffer }) => {
      requests.push(request);
      switch (request.op) {
        case "hello":
          send({ kind: "ready", id: request.id, execs: hanging.size, kernels: [], times });
          return;
        case "times":
          times = { expires_at_ms: request.expires_at_ms, idle_timeout_ms: request.idle_timeout_ms };
          return;
        case "exec":
        case "cell": {
          const reply = answer(request as ReceivedExec);
          if (reply === "hang") {
            hanging.add(request.id);
            return;
          }
          if (reply.stdout) send({ kind: "stdout", id: request.id }, reply.stdout);
          if (reply.stderr) send({ kind: "stderr", id: request.id }, reply.stderr);
          send({ kind: "exit", id: request.id, status: reply.status ?? 0, wall_ms: 1, ...reply.exit });
          return;
        }
        case "kill":
          if (hanging.delete(request.target)) {
            send({ kind: "exit", id: request.target, status: 137, wall_ms: 1, stopped_by: request.reason });
          }
          return;
        case "close":
          io.exit(0);
          return;
      }
    };
    // The wire: a JSON line carrying `size`, then that many bytes; empty lines are nothing.
    let pending = Buffer.alloc(0);
    let header: (AgentRequest & { size: number }) | undefined;
    return (chunk) => {
      pending = Buffer.concat([pending, chunk]);
      for (;;) {
        if (!header) {
          const newline = pending.indexOf(10);
          if (newline < 0) return;
          const line = pending.subarray(0, newline).toString("utf8").trim();
          pending = pending.subarray(newline + 1);
          if (line !== "") header = JSON.parse(line) as AgentRequest & { size: number };
          continue;
        }
        if (pending.length < header.size) return;
        const payload = Buffer.from(pending.subarray(0, header.size));
        pending = pending.subarray(header.size);
        const { size: _size, ...request } = header;
        header = undefined;
        handle({ ...request, payload } as AgentRequest & { payload: Buffer });
      }
    };
  };
  return { program, requests };
}
