/**
 * Test cases: the list the user edits (name, input, expected output) and, while a run judges
 * them, each case's verdict and first difference as its result streams in.
 */
import type { MessageInitShape } from "@bufbuild/protobuf";
import { RunStatus, type TestCaseSchema, type TestResult } from "../../gen/aurea/sandbox/v1/sandbox_pb.js";
import { byId, h, show } from "./dom.js";
import { describeExit, describeVerdict, formatBytes, formatSeconds } from "./format.js";

export interface TestCases {
  /** The cases to send; empty when there are none. */
  cases(): MessageInitShape<typeof TestCaseSchema>[];
  comparison(): number;
  /** RunRequest's `absolute_tolerance` and `relative_tolerance`; 0 where a field is left empty. */
  tolerances(): { absolute: number; relative: number };
  stopOnFirstFailure(): boolean;
  /** Clears the results shown, ready for a run. */
  startRun(): void;
  showResult(result: TestResult): void;
  showSummary(passed: number, total: number, firstFailed: string): void;
}

export function createTestCases(): TestCases {
  const list = byId<HTMLOListElement>("test-cases");
  const count = byId("tests-count");
  const results = byId<HTMLOListElement>("test-results");
  const resultsBox = byId("test-results-box");
  const summary = byId("tests-summary");
  const encoder = new TextEncoder();
  let added = 0;

  function updateCount(): void {
    const n = list.children.length;
    count.textContent = n === 0 ? "" : `(${n})`;
  }

  function addCase(): void {
    added += 1;
    const field = (label: string, control: HTMLInputElement | HTMLTextAreaElement) => h("label", { text: label }, control);
    const name = h("input", { className: "case-name", attributes: { value: `case ${added}`, spellcheck: "false" } });
    const input = h("textarea", { className: "case-input", attributes: { rows: "2", spellcheck: "false" } });
    const expected = h("textarea", { className: "case-expected", attributes: { rows: "2", spellcheck: "false" } });
    const remove = h("button", { text: "Remove", attributes: { type: "button" } });
    const item = h(
      "li",
      { className: "test-case" },
      field("Name", name),
      field("Input", input),
      field("Expected output", expected),
      remove,
    );
    remove.addEventListener("click", () => {
      item.remove();
      updateCount();
    });
    list.append(item);
    updateCount();
    name.focus();
    name.select();
  }
  byId("add-test").addEventListener("click", addCase);

  return {
    cases() {
      return Array.from(list.querySelectorAll<HTMLLIElement>(".test-case"), (item) => ({
        name: (item.querySelector(".case-name") as HTMLInputElement).value,
        stdin: encoder.encode((item.querySelector(".case-input") as HTMLTextAreaElement).value),
        expectedStdout: (item.querySelector(".case-expected") as HTMLTextAreaElement).value,
      }));
    },
    comparison: () => Number(byId<HTMLSelectElement>("comparison").value),
    tolerances() {
      const read = (id: string) => {
        const text = byId<HTMLInputElement>(id).value.trim();
        return text === "" ? 0 : Number(text);
      };
      return { absolute: read("absolute-tolerance"), relative: read("relative-tolerance") };
    },
    stopOnFirstFailure: () => byId<HTMLInputElement>("stop-on-first-failure").checked,
    startRun() {
      results.replaceChildren();
      summary.textContent = "";
      show(resultsBox, list.children.length > 0);
    },
    showResult(result) {
      const verdict = describeVerdict(result.status);
      const facts = [formatSeconds(result.executionTime)];
      if (result.usage) facts.push(formatBytes(result.usage.peakMemoryBytes));
      if (result.status !== RunStatus.OK && result.status !== RunStatus.SKIPPED)
        facts.push(describeExit(result.exitCode, result.signal));
      const item = h(
        "li",
        { className: `test-result ${verdict.tone}`, attributes: { "data-case": result.name } },
        h("span", { className: `badge ${verdict.tone}`, text: verdict.label, attributes: { title: verdict.name } }),
        h("span", { className: "case-title", text: result.name }),
        h("span", { className: "case-facts", text: facts.join(" · ") }),
      );
      if (result.difference !== "") item.append(h("pre", { className: "difference", text: result.difference }));
      if (result.stdout !== "" || result.stderr !== "") {
        const details = h("details", {}, h("summary", { text: "Output" }));
        if (result.stdout !== "") details.append(h("pre", { className: "output", text: result.stdout }));
        if (result.stderr !== "") details.append(h("pre", { className: "output stderr", text: result.stderr }));
        item.append(details);
      }
      results.append(item);
      show(resultsBox, true);
    },
    showSummary(passed, total, firstFailed) {
      summary.textContent = `${passed} of ${total} passed${firstFailed ? `; first failed: ${firstFailed}` : ""}`;
    },
  };
}
