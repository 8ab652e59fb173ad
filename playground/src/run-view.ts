/**
 * Where one run (or one notebook cell) shows up: output streamed in live with stdout and stderr
 * told apart, then the verdict badge, how it ended, time, memory and limits, test results'
 * summary and the files it wrote.
 */
import type { RunResponse } from "../../gen/aurea/sandbox/v1/sandbox_pb.js";
import { artifactItems, ObjectUrls } from "./artifacts.js";
import { cellResultElement } from "./cell-results.js";
import { h, show } from "./dom.js";
import { describeExit, describeLimits, describeLimitsHit, describeVerdict, formatBytes, formatSeconds } from "./format.js";

export interface RunViewElements {
  readonly verdict: HTMLElement;
  readonly runId: HTMLElement;
  readonly output: HTMLElement;
  readonly compileBox: HTMLElement;
  readonly compileOutput: HTMLElement;
  readonly facts: HTMLElement;
  readonly artifactsBox: HTMLElement;
  readonly artifacts: HTMLElement;
  readonly error: HTMLElement;
  /** A notebook cell's displayed results (RunResponse.results); runs have none. */
  readonly results?: HTMLElement;
}

export interface RunView {
  /** Clears the last run and shows this one as running. */
  start(): void;
  started(runId: string): void;
  append(stream: "stdout" | "stderr", bytes: Uint8Array): void;
  finish(response: RunResponse): void;
  /** The run ended without a result: stopped by the user (`cancelled`) or a failed call. */
  fail(message: string, cancelled: boolean): void;
}

export function createRunView(elements: RunViewElements): RunView {
  const urls = new ObjectUrls();
  const decoders = { stdout: new TextDecoder(), stderr: new TextDecoder() };

  function badge(label: string, tone: string, name: string): void {
    elements.verdict.className = `badge ${tone}`;
    elements.verdict.textContent = label;
    elements.verdict.title = name;
    elements.verdict.dataset.status = name;
  }

  function fact(term: string, value: string): void {
    if (value !== "") elements.facts.append(h("dt", { text: term }), h("dd", { text: value }));
  }

  function appendText(stream: "stdout" | "stderr", text: string): void {
    if (text === "") return;
    const last = elements.output.lastElementChild;
    if (last instanceof HTMLSpanElement && last.classList.contains(stream)) {
      last.append(text);
    } else {
      elements.output.append(h("span", { className: stream, text }));
    }
  }

  return {
    start() {
      urls.revokeAll();
      decoders.stdout = new TextDecoder();
      decoders.stderr = new TextDecoder();
      badge("Running…", "running", "RUNNING");
      elements.runId.textContent = "";
      elements.output.replaceChildren();
      elements.compileOutput.replaceChildren();
      elements.facts.replaceChildren();
      elements.artifacts.replaceChildren();
      elements.error.textContent = "";
      elements.results?.replaceChildren();
      for (const box of [elements.compileBox, elements.artifactsBox, elements.error]) show(box, false);
    },
    started(runId) {
      elements.runId.textContent = runId;
    },
    append(stream, bytes) {
      appendText(stream, decoders[stream].decode(bytes, { stream: true }));
    },
    finish(response) {
      appendText("stdout", decoders.stdout.decode());
      appendText("stderr", decoders.stderr.decode());
      // A unary-like result (a cell's value, or a stream that sent no chunks) still shows its output.
      if (elements.output.childElementCount === 0) {
        appendText("stdout", response.stdout);
        appendText("stderr", response.stderr);
      }
      const verdict = describeVerdict(response.status);
      badge(verdict.label, verdict.tone, verdict.name);
      elements.runId.textContent = response.runId;
      const compile = response.compile;
      if (compile && (compile.stdout !== "" || compile.stderr !== "")) {
        elements.compileOutput.replaceChildren(
          h("span", { className: "stdout", text: compile.stdout }),
          h("span", { className: "stderr", text: compile.stderr }),
        );
        show(elements.compileBox, true);
      }
      if (response.value !== "") fact("Value", response.value);
      if (response.exception) fact("Exception", `${response.exception.name}: ${response.exception.value}`);
      if (elements.results) {
        elements.results.replaceChildren(...response.results.map(cellResultElement));
        show(elements.results, response.results.length > 0);
      }
      fact("Ended with", describeExit(response.exitCode, response.signal));
      fact("Wall time", formatSeconds(response.executionTime));
      if (response.usage) {
        fact("CPU time", formatSeconds(response.usage.cpuTime));
        fact("Peak memory", formatBytes(response.usage.peakMemoryBytes));
      }
      if (compile) fact("Compile time", formatSeconds(compile.executionTime));
      if (response.queueTime > 0.001) fact("Queued", formatSeconds(response.queueTime));
      fact("Limits", describeLimits(response.limits, response.timeout));
      fact("Ran into", describeLimitsHit(response.limitsHit));
      const truncated = [response.stdoutTruncated && "stdout", response.stderrTruncated && "stderr"].filter(Boolean);
      if (truncated.length > 0) fact("Cut short", `${truncated.join(" and ")} (over the output limit)`);
      if (response.stateLost) fact("State", "lost: the interpreter was restarted, variables are gone");
      if (response.error !== "") fact("Detail", response.error);
      const items = artifactItems(response, urls);
      elements.artifacts.replaceChildren(...items);
      show(elements.artifactsBox, items.length > 0);
    },
    fail(message, cancelled) {
      appendText("stdout", decoders.stdout.decode());
      appendText("stderr", decoders.stderr.decode());
      if (cancelled) {
        badge("Cancelled", "stopped", "CANCELLED");
      } else {
        badge("Failed", "error", "FAILED");
        elements.error.textContent = message;
        show(elements.error, true);
      }
    },
  };
}
