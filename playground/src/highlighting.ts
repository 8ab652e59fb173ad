/**
 * Syntax highlighting for each editor mode (editor-modes.ts): CodeMirror's own language packages
 * where one exists, its legacy stream modes for the rest, and simple-modes.ts for languages
 * CodeMirror has no mode for. Each is a chunk of its own, fetched (from this origin) the first
 * time a file of that mode is shown, so the page starts with none of them.
 */
import { type LanguageSupport, StreamLanguage, type StreamParser } from "@codemirror/language";
import type { Extension } from "@codemirror/state";
import type { EditorMode } from "./editor-modes.js";

type Loader = () => Promise<Extension | LanguageSupport>;
const stream = (parser: StreamParser<unknown>) => StreamLanguage.define(parser);

const loaders: Record<EditorMode, Loader> = {
  awk: async () => stream((await import("./simple-modes.js")).awk),
  brainfuck: async () => stream((await import("@codemirror/legacy-modes/mode/brainfuck")).brainfuck),
  c: async () => (await import("@codemirror/lang-cpp")).cpp(),
  clojure: async () => stream((await import("@codemirror/legacy-modes/mode/clojure")).clojure),
  cobol: async () => stream((await import("@codemirror/legacy-modes/mode/cobol")).cobol),
  coffeescript: async () => stream((await import("@codemirror/legacy-modes/mode/coffeescript")).coffeeScript),
  commonlisp: async () => stream((await import("@codemirror/legacy-modes/mode/commonlisp")).commonLisp),
  cpp: async () => (await import("@codemirror/lang-cpp")).cpp(),
  csharp: async () => stream((await import("@codemirror/legacy-modes/mode/clike")).csharp),
  d: async () => stream((await import("@codemirror/legacy-modes/mode/d")).d),
  erlang: async () => stream((await import("@codemirror/legacy-modes/mode/erlang")).erlang),
  fortran: async () => stream((await import("@codemirror/legacy-modes/mode/fortran")).fortran),
  go: async () => (await import("@codemirror/lang-go")).go(),
  groovy: async () => stream((await import("@codemirror/legacy-modes/mode/groovy")).groovy),
  haskell: async () => stream((await import("@codemirror/legacy-modes/mode/haskell")).haskell),
  haxe: async () => stream((await import("@codemirror/legacy-modes/mode/haxe")).haxe),
  java: async () => (await import("@codemirror/lang-java")).java(),
  javascript: async () => (await import("@codemirror/lang-javascript")).javascript(),
  kotlin: async () => stream((await import("@codemirror/legacy-modes/mode/clike")).kotlin),
  lua: async () => stream((await import("@codemirror/legacy-modes/mode/lua")).lua),
  nasm: async () => stream((await import("./simple-modes.js")).nasm),
  objectivec: async () => stream((await import("@codemirror/legacy-modes/mode/clike")).objectiveC),
  ocaml: async () => stream((await import("@codemirror/legacy-modes/mode/mllike")).oCaml),
  pascal: async () => stream((await import("@codemirror/legacy-modes/mode/pascal")).pascal),
  perl: async () => stream((await import("@codemirror/legacy-modes/mode/perl")).perl),
  php: async () => (await import("@codemirror/lang-php")).php({ plain: false }),
  prolog: async () => stream((await import("./simple-modes.js")).prolog),
  python: async () => (await import("@codemirror/lang-python")).python(),
  r: async () => stream((await import("@codemirror/legacy-modes/mode/r")).r),
  ruby: async () => stream((await import("@codemirror/legacy-modes/mode/ruby")).ruby),
  rust: async () => (await import("@codemirror/lang-rust")).rust(),
  scala: async () => stream((await import("@codemirror/legacy-modes/mode/clike")).scala),
  scheme: async () => stream((await import("@codemirror/legacy-modes/mode/scheme")).scheme),
  shell: async () => stream((await import("@codemirror/legacy-modes/mode/shell")).shell),
  sql: async () => {
    const { SQLite, sql } = await import("@codemirror/lang-sql");
    return sql({ dialect: SQLite });
  },
  tcl: async () => stream((await import("@codemirror/legacy-modes/mode/tcl")).tcl),
  typescript: async () => (await import("@codemirror/lang-javascript")).javascript({ typescript: true }),
  vb: async () => stream((await import("@codemirror/legacy-modes/mode/vb")).vb),
  verilog: async () => stream((await import("@codemirror/legacy-modes/mode/verilog")).verilog),
  vhdl: async () => stream((await import("@codemirror/legacy-modes/mode/vhdl")).vhdl),
};

const loaded = new Map<EditorMode, Extension>();
const loading = new Map<EditorMode, Promise<Extension>>();

/** The highlighting for `mode` if it was loaded already (none for plain text). */
export function loadedHighlighting(mode: EditorMode | undefined): Extension | undefined {
  return mode ? loaded.get(mode) : [];
}

/** Loads `mode`'s highlighting once; every later call answers the same. */
export function loadHighlighting(mode: EditorMode): Promise<Extension> {
  let pending = loading.get(mode);
  if (!pending) {
    pending = loaders[mode]().then((extension) => {
      loaded.set(mode, extension);
      return extension;
    });
    // A failed fetch (the server restarted with a new build) may be tried again later.
    pending.catch(() => loading.delete(mode));
    loading.set(mode, pending);
  }
  return pending;
}
