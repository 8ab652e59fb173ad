import type { RequestHandlerExtra } from "@modelcontextprotocol/sdk/shared/protocol.js";
import type { ServerNotification, ServerRequest } from "@modelcontextprotocol/sdk/types.js";
import type { RunStreamResponse } from "../../gen/aurea/sandbox/v1/sandbox_pb.js";

/** What the SDK hands a tool's callback besides its arguments. */
export type ToolCallExtra = RequestHandlerExtra<ServerRequest, ServerNotification>;

/** A silent program still sends progress this often, so a client's timeout that resets on progress holds. */
const heartbeatMs = 1000;
/** Output sends progress at most this often. */
const throttleMs = 250;

export interface ProgressReporter {
  /** An event of the run's stream: output counts towards the message. */
  saw(event: RunStreamResponse): void;
  stop(): void;
}

/**
 * Progress notifications while a run streams, when the client asked for them (a progressToken in
 * the call's _meta): seconds elapsed against the timeout, with the output and cases so far in the
 * message. Nothing is sent to a client that did not ask.
 */
export function reportProgress(extra: ToolCallExtra, timeoutSeconds: number): ProgressReporter {
  const progressToken = extra._meta?.progressToken;
  if (progressToken === undefined) return { saw: () => undefined, stop: () => undefined };
  const started = performance.now();
  let outputBytes = 0;
  let casesDone = 0;
  let lastSent = 0;
  let lastProgress = -1;
  const send = () => {
    const now = performance.now();
    // Progress must increase from one notification to the next.
    const progress = Math.max(Math.round(now - started) / 1000, lastProgress + 0.001);
    lastProgress = progress;
    lastSent = now;
    const cases = casesDone > 0 ? `, ${casesDone} test case(s) judged` : "";
    void extra
      .sendNotification({
        method: "notifications/progress",
        params: {
          progressToken,
          progress,
          total: timeoutSeconds,
          message: `running for ${progress.toFixed(1)} s, ${outputBytes} bytes of output${cases}`,
        },
      })
      .catch(() => undefined);
  };
  const heartbeat = setInterval(send, heartbeatMs);
  return {
    saw(event) {
      if (event.event.case === "stdout" || event.event.case === "stderr") outputBytes += event.event.value.length;
      if (event.event.case === "testResult") casesDone += 1;
      if (performance.now() - lastSent >= throttleMs) send();
    },
    stop: () => clearInterval(heartbeat),
  };
}
