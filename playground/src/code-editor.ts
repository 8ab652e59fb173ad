/**
 * CodeMirror 6 set up for code: line numbers, history, bracket matching, highlighting by the
 * file's extension, Ctrl+Enter (Cmd+Enter) to run. Tab is left to the browser so the keyboard
 * can always leave the editor (CodeMirror's own accessibility advice).
 */
import { defaultKeymap, history, historyKeymap } from "@codemirror/commands";
import { bracketMatching, defaultHighlightStyle, indentOnInput, syntaxHighlighting } from "@codemirror/language";
import { Compartment, EditorState, type Extension, Facet } from "@codemirror/state";
import { drawSelection, EditorView, highlightActiveLine, highlightActiveLineGutter, keymap, lineNumbers } from "@codemirror/view";
import { editorModeFor } from "./editor-modes.js";
import { loadedHighlighting, loadHighlighting } from "./highlighting.js";

export interface EditorSetup {
  /** Called on Ctrl+Enter / Cmd+Enter. */
  readonly onRun: () => void;
  /** Read out by screen readers for the editable area. */
  readonly label: string;
}

/** The nonce the server gave this page for style elements (its CSP allows no others). */
const styleNonce = document.querySelector<HTMLMetaElement>('meta[name="aurea-style-nonce"]')?.content ?? "";

/** The file a document is, so its highlighting can be put in once loaded. */
const fileNameFacet = Facet.define<string, string>({ combine: (names) => names[0] ?? "" });
const highlightingSlot = new Compartment();

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

/**
 * A document of its own (text, history, highlighting) for `fileName`. Show it with `showState`,
 * which puts in its highlighting once that has loaded.
 */
export function createEditorState(fileName: string, text: string, setup: EditorSetup): EditorState {
  const highlighting = loadedHighlighting(editorModeFor(fileName)) ?? [];
  return EditorState.create({
    doc: text,
    extensions: [baseExtensions(setup), fileNameFacet.of(fileName), highlightingSlot.of(highlighting)],
  });
}

/** Shows `state` in `view`, loading its file's highlighting the first time one of its kind is shown. */
export function showState(view: EditorView, state: EditorState): void {
  view.setState(state);
  highlightWhenLoaded(view);
}

function highlightWhenLoaded(view: EditorView): void {
  const fileName = view.state.facet(fileNameFacet);
  const mode = editorModeFor(fileName);
  if (!mode || highlightingSlot.get(view.state) === loadedHighlighting(mode)) return;
  loadHighlighting(mode).then(
    (highlighting) => {
      // Still showing that file (the user may have moved on while it loaded)?
      if (view.state.facet(fileNameFacet) !== fileName || highlightingSlot.get(view.state) === highlighting) return;
      view.dispatch({ effects: highlightingSlot.reconfigure(highlighting) });
    },
    () => undefined, // plain text, then: the code still edits and runs
  );
}

/** An editor in `parent` showing `state`. */
export function createEditorView(parent: HTMLElement, state: EditorState): EditorView {
  const view = new EditorView({ state, parent });
  highlightWhenLoaded(view);
  return view;
}
