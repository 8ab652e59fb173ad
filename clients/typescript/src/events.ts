import type { RunResponse, RunStreamResponse, TestResult } from "./gen/aurea/sandbox/v1/sandbox_pb.js";

/** One event of a streamed run or exec, in the order the server sent them. */
export type RunEvent =
  | { readonly type: "started"; readonly runId: string }
  /** Output as the exact bytes the program wrote, and as text (invalid UTF-8 replaced). */
  | { readonly type: "stdout" | "stderr"; readonly data: Uint8Array; readonly text: string }
  /** A judged test case, as soon as it ends. */
  | { readonly type: "testResult"; readonly result: TestResult }
  /** The last event: the whole result. */
  | { readonly type: "result"; readonly result: RunResponse };

/** The stream's messages as events; a stream that ends without a result is an error. */
export async function* runEvents(stream: AsyncIterable<RunStreamResponse>): AsyncGenerator<RunEvent, RunResponse> {
  // One decoder per stream: a character split across two chunks is decoded whole.
  const decoders = { stdout: new TextDecoder(), stderr: new TextDecoder() };
  for await (const message of stream) {
    const event = message.event;
    switch (event.case) {
      case "started":
        yield { type: "started", runId: event.value.runId };
        break;
      case "stdout":
      case "stderr":
        yield { type: event.case, data: event.value, text: decoders[event.case].decode(event.value, { stream: true }) };
        break;
      case "testResult":
        yield { type: "testResult", result: event.value };
        break;
      case "result":
        yield { type: "result", result: event.value };
        return event.value;
    }
  }
  throw new Error("the stream ended without a result");
}
