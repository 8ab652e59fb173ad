/**
 * The program's files as tabs over one editor: the language's own file (its `file_name`, holding
 * the code) first, then files the user added or uploaded. Each text file keeps its own document
 * and undo history; a file that is not UTF-8 is sent as bytes and not edited. Switching language
 * keeps the code written for each language as a draft to come back to.
 */
import type { EditorState } from "@codemirror/state";
import type { EditorView } from "@codemirror/view";
import type { LanguageInfo } from "../../gen/aurea/sandbox/v1/sandbox_pb.js";
import { createEditorState, createEditorView, type EditorSetup, showState } from "./code-editor.js";
import { byId, h, show } from "./dom.js";
import { formatBytes } from "./format.js";

interface ExtraFile {
  name: string;
  state?: EditorState;
  bytes?: Uint8Array;
}

export interface Workspace {
  /** Shows `language`'s file: its draft, else `code` when given (a shared link), else its example. */
  setLanguage(language: LanguageInfo, code?: string): void;
  code(): string;
  /** The other files, as RunRequest's `files` and `binary_files`. */
  files(): { files: Record<string, string>; binaryFiles: Record<string, Uint8Array> };
  /** Replaces the other files with these text files (a shared link's), showing the main file. */
  replaceFiles(files: Readonly<Record<string, string>>): void;
  focus(): void;
  readonly view: EditorView;
}

export function createWorkspace(setup: EditorSetup, onMessage: (text: string) => void): Workspace {
  const tabs = byId("file-tabs");
  const binaryNote = byId("binary-note");
  const removeButton = byId<HTMLButtonElement>("remove-file");
  const drafts = new Map<string, EditorState>();
  const extras: ExtraFile[] = [];
  let mainName = "main";
  let mainState = createEditorState(mainName, "", setup);
  let active: ExtraFile | undefined; // undefined: the main file
  const view = createEditorView(byId("editor"), mainState);
  let languageName = "";

  function saveActive(): void {
    if (active) {
      if (active.state) active.state = view.state;
    } else {
      mainState = view.state;
    }
  }

  function select(file: ExtraFile | undefined): void {
    saveActive();
    display(file);
  }

  /** Shows `file` without saving what the editor holds (it was saved, or is being replaced). */
  function display(file: ExtraFile | undefined): void {
    active = file;
    const state = file ? file.state : mainState;
    show(view.dom, state !== undefined);
    if (state) showState(view, state);
    show(binaryNote, file?.bytes !== undefined);
    if (file?.bytes) binaryNote.textContent = `${file.name}: a binary file of ${formatBytes(file.bytes.length)}, sent as it is.`;
    removeButton.disabled = file === undefined;
    renderTabs();
  }

  function renderTabs(): void {
    const tab = (name: string, file: ExtraFile | undefined) => {
      const selected = file === active;
      const button = h("button", {
        className: "tab",
        text: name,
        attributes: { type: "button", role: "tab", "aria-selected": String(selected), tabindex: selected ? "0" : "-1" },
      });
      button.addEventListener("click", () => select(file));
      return button;
    };
    tabs.replaceChildren(tab(mainName, undefined), ...extras.map((file) => tab(file.name, file)));
  }

  // Arrow keys move between tabs, as the WAI-ARIA tabs pattern has it.
  tabs.addEventListener("keydown", (event) => {
    if (event.key !== "ArrowRight" && event.key !== "ArrowLeft") return;
    const all = [undefined, ...extras];
    const next = all[(all.indexOf(active) + (event.key === "ArrowRight" ? 1 : all.length - 1)) % all.length];
    select(next);
    (tabs.querySelector('[aria-selected="true"]') as HTMLElement | null)?.focus();
  });

  function addFile(name: string, text: string | undefined, bytes?: Uint8Array): void {
    if (name === "" || name === mainName) {
      onMessage(name === "" ? "Give the file a name." : `${name} is the program's own file.`);
      return;
    }
    saveActive();
    const existing = extras.find((file) => file.name === name);
    const file: ExtraFile = existing ?? { name };
    if (!existing) extras.push(file);
    if (bytes) {
      file.bytes = bytes;
      delete file.state;
    } else {
      delete file.bytes;
      file.state = createEditorState(name, text ?? "", setup);
    }
    display(file);
  }

  byId<HTMLFormElement>("add-file-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const input = byId<HTMLInputElement>("new-file-name");
    addFile(input.value.trim(), "");
    input.value = "";
  });

  byId<HTMLInputElement>("upload-files").addEventListener("change", async (event) => {
    const input = event.target as HTMLInputElement;
    for (const upload of Array.from(input.files ?? [])) {
      const bytes = new Uint8Array(await upload.arrayBuffer());
      try {
        addFile(upload.name, new TextDecoder("utf-8", { fatal: true }).decode(bytes));
      } catch {
        addFile(upload.name, undefined, bytes);
      }
    }
    input.value = "";
  });

  removeButton.addEventListener("click", () => {
    if (!active) return;
    extras.splice(extras.indexOf(active), 1);
    display(undefined);
  });

  renderTabs();
  return {
    view,
    setLanguage(language, code) {
      saveActive();
      if (languageName !== "") drafts.set(languageName, mainState);
      languageName = language.name;
      mainName = language.fileName;
      mainState =
        code !== undefined
          ? createEditorState(mainName, code, setup)
          : (drafts.get(language.name) ?? createEditorState(mainName, language.example, setup));
      display(undefined);
    },
    code() {
      saveActive();
      return mainState.doc.toString();
    },
    files() {
      saveActive();
      const files: Record<string, string> = {};
      const binaryFiles: Record<string, Uint8Array> = {};
      for (const file of extras) {
        if (file.bytes) binaryFiles[file.name] = file.bytes;
        else if (file.state) files[file.name] = file.state.doc.toString();
      }
      return { files, binaryFiles };
    },
    replaceFiles(files) {
      saveActive();
      extras.length = 0;
      for (const [name, text] of Object.entries(files)) {
        if (name !== mainName) extras.push({ name, state: createEditorState(name, text, setup) });
      }
      display(undefined);
    },
    focus: () => view.focus(),
  };
}
