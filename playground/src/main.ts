/**
 * The playground page: wires the editor, the run options, test cases, the notebook and the output
 * panel to Aurea's RunStream and session RPCs. Served at `/` by src/server/playground-route.ts,
 * built by scripts/build-playground.ts.
 */
import { Code, ConnectError } from "@connectrpc/connect";
import type { LanguageInfo } from "../../gen/aurea/sandbox/v1/sandbox_pb.js";
import { createAureaClient, describeCallError, isCancel, tabKeyStore } from "./aurea-client.js";
import { clearViolations, markViolations } from "./field-marks.js";
import { byId, h, show } from "./dom.js";
import { createNotebook } from "./notebook.js";
import { createRunOptions } from "./run-options.js";
import { createRunView } from "./run-view.js";
import { decodeShareFragment, encodeShareFragment } from "./share-link.js";
import { createTestCases } from "./test-cases.js";
import { createWorkspace } from "./workspace.js";

const keys = tabKeyStore();
const client = createAureaClient(keys);
const encoder = new TextEncoder();
const languageSelect = byId<HTMLSelectElement>("language");
const runButton = byId<HTMLButtonElement>("run");
const stopButton = byId<HTMLButtonElement>("stop");
const serverStatus = byId("server-status");
const languages = new Map<string, LanguageInfo>();
let running: AbortController | undefined;
let mode: "program" | "notebook" = "program";

const runView = createRunView({
  verdict: byId("verdict"),
  runId: byId("run-id"),
  output: byId("output"),
  compileBox: byId("compile"),
  compileOutput: byId("compile-output"),
  facts: byId("facts"),
  artifactsBox: byId("artifacts-box"),
  artifacts: byId("artifacts"),
  error: byId("error"),
});
const options = createRunOptions();
const tests = createTestCases();
const workspace = createWorkspace({ onRun: () => void run(), label: "Program code" }, (text) => {
  runView.start();
  runView.fail(text, false);
});
const notebook = createNotebook({
  client,
  keys,
  onRun: () => void run(),
  fileName: () => languages.get(languageSelect.value)?.fileName ?? "main",
  settings: () => ({
    language: currentLanguage(),
    runtime: options.runtime(),
    files: workspace.files(),
    limits: options.limits(),
    env: options.env(),
  }),
});

function currentLanguage(): LanguageInfo {
  const language = languages.get(languageSelect.value);
  if (!language) throw new Error("no language chosen");
  return language;
}

function setRunning(controller: AbortController | undefined): void {
  running = controller;
  // Nothing to run before the server said which languages it has.
  runButton.disabled = controller !== undefined || languages.size === 0;
  stopButton.disabled = controller === undefined;
  document.body.dataset.running = String(controller !== undefined);
}

async function run(): Promise<void> {
  if (running || languages.size === 0) return;
  const controller = new AbortController();
  setRunning(controller);
  try {
    if (mode === "notebook") await notebook.runCurrent(controller.signal);
    else await runProgram(controller.signal);
  } finally {
    setRunning(undefined);
  }
}

async function runProgram(signal: AbortSignal): Promise<void> {
  const language = currentLanguage();
  const cases = tests.cases();
  const tolerances = tests.tolerances();
  const { files, binaryFiles } = workspace.files();
  runView.start();
  clearViolations();
  tests.startRun();
  // One column (a phone): bring the result into view; the focus stays where it is.
  if (window.matchMedia("(max-width: 62rem)").matches) byId("verdict").scrollIntoView({ block: "start", behavior: "smooth" });
  try {
    const stream = client.runStream(
      {
        language: language.name,
        code: workspace.code(),
        stdin: encoder.encode(options.stdinText()),
        args: options.args(),
        env: options.env(),
        runtime: options.runtime(),
        timeout: options.timeout(),
        limits: options.limits(),
        files,
        binaryFiles,
        captureArtifacts: options.captureArtifacts(),
        tests: cases,
        comparison: cases.length > 0 ? tests.comparison() : 0,
        absoluteTolerance: cases.length > 0 ? tolerances.absolute : 0,
        relativeTolerance: cases.length > 0 ? tolerances.relative : 0,
        stopOnFirstFailure: cases.length > 0 && tests.stopOnFirstFailure(),
      },
      { signal },
    );
    for await (const message of stream) {
      const event = message.event;
      if (event.case === "started") runView.started(event.value.runId);
      else if (event.case === "stdout" || event.case === "stderr") runView.append(event.case, event.value);
      else if (event.case === "testResult") tests.showResult(event.value);
      else if (event.case === "result") {
        runView.finish(event.value);
        if (event.value.testsTotal > 0) {
          tests.showSummary(event.value.testsPassed, event.value.testsTotal, event.value.firstFailedTest);
        }
      }
    }
  } catch (error) {
    // Stop aborts the call: the server sees the stream cancelled and ends the run CANCELLED.
    runView.fail(describeCallError(error, keys), signal.aborted && isCancel(error));
    markViolations(error, "error");
  }
}

stopButton.addEventListener("click", () => running?.abort());
runButton.addEventListener("click", () => void run());
// Ctrl+Enter (Cmd+Enter) from anywhere on the page; the editors handle it themselves first.
document.addEventListener("keydown", (event) => {
  if (event.key === "Enter" && (event.ctrlKey || event.metaKey) && !event.defaultPrevented) {
    event.preventDefault();
    void run();
  }
});

function setMode(next: "program" | "notebook"): void {
  mode = next;
  show(byId("program-mode"), mode === "program");
  show(byId("notebook-mode"), mode === "notebook");
  // The notebook shows each cell's result under the cell; the result panel is for programs (app.css).
  document.body.dataset.mode = mode;
}
for (const radio of document.querySelectorAll<HTMLInputElement>('input[name="mode"]')) {
  radio.addEventListener("change", () => setMode(radio.value === "notebook" ? "notebook" : "program"));
}

languageSelect.addEventListener("change", () => {
  const language = currentLanguage();
  workspace.setLanguage(language);
  options.setLanguage(language);
  void notebook.reset("Language changed: the next cell you run opens a new session.");
});
byId("runtime").addEventListener(
  "change",
  () => void notebook.reset("Runtime changed: the next cell you run opens a new session."),
);

// The key lives in this tab's sessionStorage only; changing it reloads what the server offers.
const keyInput = byId<HTMLInputElement>("api-key");
keyInput.value = keys.get();
byId("key-form").addEventListener("submit", (event) => event.preventDefault());
keyInput.addEventListener("change", () => {
  keys.set(keyInput.value.trim());
  void loadLanguages();
});
byId("api-key-clear").addEventListener("click", () => {
  keyInput.value = "";
  keys.set("");
  void loadLanguages();
});

byId("share").addEventListener("click", async () => {
  const { files, binaryFiles } = workspace.files();
  const fragment = encodeShareFragment({
    language: languageSelect.value,
    code: workspace.code(),
    stdin: options.stdinText(),
    args: options.args(),
    files,
  });
  const left = Object.keys(binaryFiles);
  const leftNote = left.length > 0 ? ` Binary files are not in the link: ${left.join(", ")}.` : "";
  const link = `${location.origin}${location.pathname}#${fragment}`;
  history.replaceState(null, "", link);
  const input = byId<HTMLInputElement>("share-link");
  input.value = link;
  show(byId("share-box"), true);
  input.select();
  const note = byId("share-note");
  try {
    await navigator.clipboard.writeText(link);
    note.textContent = `Copied.${leftNote}`;
  } catch {
    note.textContent = `Select the link and copy it.${leftNote}`;
  }
});

/** Applies a shared link's program, when the page was opened with one. */
function applySharedProgram(): boolean {
  const shared = decodeShareFragment(location.hash);
  const language = shared && languages.get(shared.language);
  if (!shared || !language) return false;
  languageSelect.value = language.name;
  workspace.setLanguage(language, shared.code);
  options.setLanguage(language);
  options.setStdinText(shared.stdin);
  options.setArgs(shared.args);
  workspace.replaceFiles(shared.files);
  return true;
}
window.addEventListener("hashchange", () => applySharedProgram());

/** Whether the languages were loaded once: a reload (a key entered) keeps what is being edited. */
let loadedOnce = false;

async function loadLanguages(): Promise<void> {
  serverStatus.textContent = "Connecting…";
  serverStatus.classList.remove("problem");
  // A fresh server reads every language's version before its first answer (some seconds).
  const slow = setTimeout(() => {
    serverStatus.textContent = "Connecting… a fresh server reads each language's version first, which takes some seconds.";
  }, 1500);
  try {
    const [health, list] = await Promise.all([client.health({}).catch(() => undefined), client.listLanguages({})]);
    const previous = languageSelect.value;
    languages.clear();
    for (const language of list.languages) languages.set(language.name, language);
    languageSelect.replaceChildren(
      ...list.languages.map((language) => {
        const label = `${language.title}${language.version ? ` — ${language.version}` : ""}`;
        const option = h("option", {
          text: language.available ? label : `${label} (image not on the engine yet)`,
          attributes: { value: language.name },
        });
        option.disabled = !language.available;
        return option;
      }),
    );
    options.setRuntimes(list.runtimes, list.defaultRuntime);
    const available = list.languages.filter((language) => language.available).length;
    serverStatus.textContent = `${health ? `Aurea ${health.aureaVersion} · ` : ""}${available} of ${list.languages.length} languages ready`;
    const firstLoad = !loadedOnce;
    loadedOnce = true;
    if (!(firstLoad && applySharedProgram())) {
      const start = languages.get(previous) ?? languages.get("python") ?? list.languages[0];
      if (start) {
        languageSelect.value = start.name;
        workspace.setLanguage(start);
        options.setLanguage(start);
      }
    }
    document.body.dataset.ready = "true";
  } catch (error) {
    languages.clear();
    serverStatus.textContent = describeCallError(error, keys);
    serverStatus.classList.add("problem");
    document.body.dataset.ready = "error";
    // A key is what is missing: the cursor goes where it is typed.
    if (ConnectError.from(error).code === Code.Unauthenticated) keyInput.focus();
  } finally {
    clearTimeout(slow);
  }
  setRunning(running);
}

setMode("program");
setRunning(undefined);
void loadLanguages();
