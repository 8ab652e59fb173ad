/**
 * CodeMirror 6 set up for code: line numbers, history, bracket matching, highlighting by the
 * file's extension, Ctrl+Enter (Cmd+Enter) to run. Tab is left to the browser so the keyboard
 * can always leave the editor (CodeMirror's own accessibility advice).
 */
import { defaultKeymap, history, historyKeymap } from "@codemirror/commands";
import { bracketMatching, defaultHighlightStyle, indentOnInput, syntaxHighlighting } from "@codemirror/language";
import { EditorState, type Extension } from "@codemirror/state";
import { drawSelection, EditorView, highlightActiveLine, highlightActiveLineGutter, keymap, lineNumbers } from "@codemirror/view";
import { editorModeFor } from "./editor-modes.js";
import { highlighting } from "./highlighting.js";

export interface EditorSetup {
  /** Called on Ctrl+Enter / Cmd+Enter. */
  readonly onRun: () => void;
  /** Read out by screen readers for the editable area. */
  readonly label: string;
}

/** The nonce the server gave this page for style elements (its CSP allows no others). */
const styleNonce = document.querySelector<HTMLMetaElement>('meta[name="aurea-style-nonce"]')?.content ?? "";

function baseExtensions(setup: EditorSetup): Extension[] {
  return [
    EditorView.cspNonce.of(styleNonce),
    lineNumbers(),
    highlightActiveLineGutter(),
    history(),
    drawSelection(),
    indentOnInput(),
    bracketMatching(),
    syntaxHighlighting(defaultHighlightStyle, { fallback: true }),
    highlightActiveLine(),
    EditorView.lineWrapping,
    keymap.of([
      {
        key: "Mod-Enter",
        run: () => {
          setup.onRun();
          return true;
        },
      },
      ...defaultKeymap,
      ...historyKeymap,
    ]),
    EditorView.contentAttributes.of({ "aria-label": setup.label }),
  ];
}

/** A document of its own (text, history, highlighting) for `fileName`, to show in an editor. */
export function createEditorState(fileName: string, text: string, setup: EditorSetup): EditorState {
  return EditorState.create({ doc: text, extensions: [baseExtensions(setup), highlighting(editorModeFor(fileName))] });
}

/** An editor in `parent` showing `state`; swap documents with `view.setState`. */
export function createEditorView(parent: HTMLElement, state: EditorState): EditorView {
  return new EditorView({ state, parent });
}
