/**
 * Browser code for the Chromium test: a page on another origin that calls Run and RunStream, and a
 * session's Exec and ExecStream, with @connectrpc/connect-web and shows the streamed output. Bundled by esbuild at test time.
 */
import { createClient, type Transport } from "@connectrpc/connect";
import { createConnectTransport, createGrpcWebTransport } from "@connectrpc/connect-web";
import { RunStatus, SandboxService, SessionState } from "../../gen/aurea/sandbox/v1/sandbox_pb.js";

const params = new URLSearchParams(location.search);
const baseUrl = params.get("aurea") ?? "";
const protocol = params.get("protocol") ?? "connect";
const transport: Transport = protocol === "grpcweb" ? createGrpcWebTransport({ baseUrl }) : createConnectTransport({ baseUrl });
const client = createClient(SandboxService, transport);

function show(id: string, text: string): void {
  const element = document.getElementById(id);
  if (element) element.textContent = text;
}

async function main(): Promise<void> {
  const unary = await client.run({ language: "python", code: "print('unary from the browser')" });
  show("run", `${unary.status === 1 ? "OK" : unary.status} ${unary.stdout}`);

  const decoder = new TextDecoder();
  let streamed = "";
  let events = "";
  for await (const message of client.runStream({
    language: "bash",
    code: "for i in 1 2 3; do echo line $i; sleep 0.1; done",
  })) {
    events += `${message.event.case} `;
    if (message.event.case === "stdout") {
      streamed += decoder.decode(message.event.value, { stream: true });
      show("stream", streamed);
    }
    if (message.event.case === "result") show("result", message.event.value.success ? "success" : "failure");
  }
  show("events", events.trim());

  // Test cases: each case's verdict shown as its result streams in, then the run's.
  const encoder = new TextEncoder();
  let judged = "";
  for await (const message of client.runStream({
    language: "python",
    code: "n = int(input())\nprint(5 if n == 2 else n * 2)",
    tests: [1, 2, 3].map((n) => ({ name: `n=${n}`, stdin: encoder.encode(`${n}\n`), expectedStdout: `${n * 2}\n` })),
  })) {
    if (message.event.case === "testResult") {
      const result = message.event.value;
      judged += `${result.name}:${RunStatus[result.status]} `;
      if (result.difference) show("difference", result.difference);
    }
    if (message.event.case === "result") {
      const result = message.event.value;
      judged += `| ${RunStatus[result.status]} ${result.testsPassed}/${result.testsTotal}`;
    }
    show("cases", judged);
  }

  // A session: a variable set by one exec, used by a streamed one, then the session closed.
  const session = await client.createSession({ language: "python", stateful: true });
  await client.exec({ sessionId: session.sessionId, code: "total = 40" });
  let sessionEvents = "";
  let sessionOutput = "";
  for await (const message of client.execStream({
    sessionId: session.sessionId,
    code: "import time\nfor i in range(3):\n    print('cell', i, flush=True)\n    time.sleep(0.1)\ntotal + 2",
  })) {
    sessionEvents += `${message.event.case} `;
    if (message.event.case === "stdout") sessionOutput += decoder.decode(message.event.value, { stream: true });
    if (message.event.case === "result") sessionOutput += `value=${message.event.value.value}`;
    show("session", sessionOutput);
  }
  show("session-events", sessionEvents.trim());
  const closed = await client.closeSession({ sessionId: session.sessionId });
  show("session-closed", String(closed.session?.state === SessionState.CLOSED));
  show("done", "done");
}

main().catch((error: unknown) => show("error", String(error)));
