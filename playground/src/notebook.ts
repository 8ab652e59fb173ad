/**
 * Notebook mode: a list of cells run one after another in one session (CreateSession, then
 * ExecStream per cell). For a language with a stateful interpreter (`stateful_sessions`) variables
 * live from cell to cell and a cell's last expression is shown as its value; for the others each
 * cell is a program run in the session's workspace, whose files stay. The session opens with
 * the first cell run and closes with the button, a change of language or runtime, or its idle timeout.
 */
import type { EditorView } from "@codemirror/view";
import { Code, ConnectError } from "@connectrpc/connect";
import { type LanguageInfo, SandboxService } from "../../gen/aurea/sandbox/v1/sandbox_pb.js";
import { type AureaClient, authorizationHeaders, describeCallError, isCancel, type KeyStore } from "./aurea-client.js";
import { createEditorState, createEditorView, showState } from "./code-editor.js";
import { byId, h } from "./dom.js";
import type { RunOptions } from "./run-options.js";
import { createRunView, type RunView } from "./run-view.js";
import type { Workspace } from "./workspace.js";

export interface NotebookSettings {
  readonly language: LanguageInfo;
  readonly runtime: string;
  readonly files: ReturnType<Workspace["files"]>;
  readonly limits: ReturnType<RunOptions["limits"]>;
  readonly env: Record<string, string>;
}

export interface Notebook {
  /** Runs the cell that last had focus (the last cell when none had). */
  runCurrent(signal: AbortSignal): Promise<void>;
  /** The language or runtime changed: the next run opens a new session. */
  reset(reason: string): Promise<void>;
  focus(): void;
}

interface Cell {
  readonly view: EditorView;
  readonly run: RunView;
  readonly item: HTMLLIElement;
}

/** Idle seconds after which the server closes a playground session nobody uses. */
const idleTimeoutSeconds = 600;

export function createNotebook(options: {
  client: AureaClient;
  keys: KeyStore;
  settings: () => NotebookSettings;
  /** The language's file name, for a new cell's highlighting (also before languages are loaded). */
  fileName: () => string;
  /** Runs the focused cell from the page's Run button or Ctrl+Enter. */
  onRun: () => void;
}): Notebook {
  const { client, keys } = options;
  const list = byId<HTMLOListElement>("cells");
  const status = byId("session-status");
  const closeButton = byId<HTMLButtonElement>("close-session");
  const cells: Cell[] = [];
  let current: Cell | undefined;
  let session: { id: string; language: string; runtime: string } | undefined;

  function addCell(): Cell {
    const number = cells.length + 1;
    const part = (tag: "span" | "pre" | "dl" | "div" | "ul" | "p", className: string) => h(tag, { className });
    const elements = {
      verdict: h("span", { className: "badge idle", text: "Not run", attributes: { role: "status" } }),
      runId: part("span", "run-id"),
      output: h("pre", { className: "output cell-output", attributes: { tabindex: "0", "aria-label": `Cell ${number} output` } }),
      compileBox: part("div", "compile"),
      compileOutput: part("pre", "output compile"),
      facts: part("dl", "facts"),
      artifactsBox: part("div", "artifacts-box"),
      artifacts: part("ul", "artifacts"),
      error: h("p", { className: "error", attributes: { role: "alert" } }),
      results: h("ul", { className: "cell-results", attributes: { "aria-label": `Cell ${number} results` } }),
    };
    elements.compileBox.append(elements.compileOutput);
    elements.artifactsBox.append(elements.artifacts);
    for (const hidden of [elements.compileBox, elements.artifactsBox, elements.error, elements.results]) hidden.hidden = true;
    const editorHost = h("div", { className: "editor cell-editor" });
    const item = h(
      "li",
      { className: "cell", attributes: { "aria-label": `Cell ${number}` } },
      h(
        "div",
        { className: "cell-head" },
        h("span", { className: "cell-number", text: `[${number}]` }),
        elements.verdict,
        elements.runId,
      ),
      editorHost,
      elements.output,
      elements.results,
      elements.compileBox,
      elements.facts,
      elements.artifactsBox,
      elements.error,
    );
    list.append(item);
    const view = createEditorView(
      editorHost,
      createEditorState(options.fileName(), "", { onRun: options.onRun, label: `Cell ${number} code` }),
    );
    const cell: Cell = { view, run: createRunView(elements), item };
    view.contentDOM.addEventListener("focus", () => {
      current = cell;
    });
    cells.push(cell);
    current = cell;
    return cell;
  }

  function describeSession(info: { id: string; language: string; runtime: string }, stateful: boolean, expires?: Date): string {
    const kind = stateful ? "variables and files kept between cells" : "files kept between cells";
    return `Session ${info.id} · ${info.language} on ${info.runtime} · ${kind}${expires ? ` · ends by ${expires.toLocaleTimeString()}` : ""}`;
  }

  async function ensureSession(signal: AbortSignal): Promise<string> {
    if (session) return session.id;
    const settings = options.settings();
    status.textContent = "Opening a session…";
    const created = await client.createSession(
      {
        language: settings.language.name,
        runtime: settings.runtime,
        stateful: settings.language.statefulSessions,
        files: settings.files.files,
        binaryFiles: settings.files.binaryFiles,
        limits: settings.limits,
        env: settings.env,
        idleTimeout: idleTimeoutSeconds,
      },
      { signal },
    );
    session = { id: created.sessionId, language: settings.language.name, runtime: created.session?.runtime ?? settings.runtime };
    const expires = created.expiresAt ? new Date(Number(created.expiresAt.seconds) * 1000) : undefined;
    status.textContent = describeSession(session, created.session?.stateful ?? false, expires);
    status.dataset.sessionId = session.id;
    closeButton.disabled = false;
    return session.id;
  }

  async function closeSession(reason: string): Promise<void> {
    const closing = session;
    session = undefined;
    closeButton.disabled = true;
    delete status.dataset.sessionId;
    status.textContent = reason;
    if (closing) await client.closeSession({ sessionId: closing.id }).catch(() => undefined);
  }

  closeButton.addEventListener("click", () => void closeSession("Session closed: the next cell you run opens a new one."));
  // Leaving the page closes its session at once rather than at its idle timeout, so reloads do not
  // use up the key's sessions. A keepalive fetch outlives the page; it is CloseSession in Connect's JSON form.
  window.addEventListener("pagehide", () => {
    if (!session) return;
    void fetch(`/${SandboxService.typeName}/${SandboxService.method.closeSession.name}`, {
      method: "POST",
      keepalive: true,
      headers: { "Content-Type": "application/json", ...authorizationHeaders(keys) },
      body: JSON.stringify({ session_id: session.id }),
    }).catch(() => undefined);
    session = undefined;
  });
  byId("add-cell").addEventListener("click", () => addCell().view.focus());
  addCell();

  return {
    async runCurrent(signal) {
      const cell = current ?? cells.at(-1) ?? addCell();
      cell.run.start();
      try {
        const sessionId = await ensureSession(signal);
        for await (const message of client.execStream({ sessionId, code: cell.view.state.doc.toString() }, { signal })) {
          const event = message.event;
          if (event.case === "started") cell.run.started(event.value.runId);
          else if (event.case === "stdout" || event.case === "stderr") cell.run.append(event.case, event.value);
          else if (event.case === "result") cell.run.finish(event.value);
        }
        // The next cell to run is the one after this, made when this was the last.
        const next = cells[cells.indexOf(cell) + 1] ?? addCell();
        current = next;
        next.view.focus();
      } catch (error) {
        cell.run.fail(describeCallError(error, keys), signal.aborted && isCancel(error));
        const code = ConnectError.from(error).code;
        if (session && (code === Code.NotFound || code === Code.FailedPrecondition)) {
          await closeSession("The session ended on the server: the next cell you run opens a new one.");
        } else if (!session) {
          status.textContent = "No session: the first cell you run opens one.";
        }
      }
    },
    async reset(reason) {
      // Each cell keeps its text, highlighted as the new language.
      for (const [index, cell] of cells.entries()) {
        const label = `Cell ${index + 1} code`;
        showState(
          cell.view,
          createEditorState(options.fileName(), cell.view.state.doc.toString(), { onRun: options.onRun, label }),
        );
      }
      if (session) await closeSession(reason);
      else status.textContent = "No session yet: the first cell you run opens one.";
    },
    focus: () => (current ?? cells.at(-1))?.view.focus(),
  };
}
