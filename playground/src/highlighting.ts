/**
 * Syntax highlighting for each editor mode (editor-modes.ts): CodeMirror's own language packages
 * where one exists, its legacy stream modes for the rest, and three small simple-mode
 * definitions (awk, NASM, Prolog) for languages CodeMirror has no mode for.
 */
import { cpp } from "@codemirror/lang-cpp";
import { java } from "@codemirror/lang-java";
import { javascript } from "@codemirror/lang-javascript";
import { go } from "@codemirror/lang-go";
import { php } from "@codemirror/lang-php";
import { python } from "@codemirror/lang-python";
import { rust } from "@codemirror/lang-rust";
import { SQLite, sql } from "@codemirror/lang-sql";
import { type LanguageSupport, StreamLanguage, type StreamParser } from "@codemirror/language";
import { csharp, kotlin, scala } from "@codemirror/legacy-modes/mode/clike";
import { clojure } from "@codemirror/legacy-modes/mode/clojure";
import { cobol } from "@codemirror/legacy-modes/mode/cobol";
import { commonLisp } from "@codemirror/legacy-modes/mode/commonlisp";
import { d } from "@codemirror/legacy-modes/mode/d";
import { erlang } from "@codemirror/legacy-modes/mode/erlang";
import { fortran } from "@codemirror/legacy-modes/mode/fortran";
import { groovy } from "@codemirror/legacy-modes/mode/groovy";
import { haskell } from "@codemirror/legacy-modes/mode/haskell";
import { lua } from "@codemirror/legacy-modes/mode/lua";
import { oCaml } from "@codemirror/legacy-modes/mode/mllike";
import { pascal } from "@codemirror/legacy-modes/mode/pascal";
import { perl } from "@codemirror/legacy-modes/mode/perl";
import { r } from "@codemirror/legacy-modes/mode/r";
import { ruby } from "@codemirror/legacy-modes/mode/ruby";
import { scheme } from "@codemirror/legacy-modes/mode/scheme";
import { shell } from "@codemirror/legacy-modes/mode/shell";
import { simpleMode } from "@codemirror/legacy-modes/mode/simple-mode";
import { tcl } from "@codemirror/legacy-modes/mode/tcl";
import type { Extension } from "@codemirror/state";
import type { EditorMode } from "./editor-modes.js";

const awk = simpleMode({
  start: [
    { regex: /#.*/, token: "comment" },
    { regex: /"(?:[^\\"]|\\.)*"?/, token: "string" },
    { regex: /\/(?:[^\\/]|\\.)+\//, token: "string-2" },
    {
      regex:
        /\b(?:BEGIN|END|function|if|else|while|for|do|break|continue|next|nextfile|exit|return|delete|in|getline|print|printf)\b/,
      token: "keyword",
    },
    { regex: /\$\d+|\$[A-Za-z_]\w*|\b(?:NR|NF|FS|OFS|RS|ORS|FILENAME|FNR|SUBSEP)\b/, token: "variable-2" },
    { regex: /\b\d+(?:\.\d+)?(?:e[+-]?\d+)?\b/i, token: "number" },
  ],
  languageData: { commentTokens: { line: "#" } },
});

const nasm = simpleMode({
  start: [
    { regex: /;.*/, token: "comment" },
    { regex: /"(?:[^\\"]|\\.)*"?|'(?:[^\\']|\\.)*'?|`(?:[^\\`]|\\.)*`?/, token: "string" },
    { regex: /^\s*[A-Za-z_.$?][\w.$?@]*:/, token: "def" },
    { regex: /\b(?:section|segment|global|extern|bits|default|db|dw|dd|dq|resb|resw|resd|resq|equ|times)\b/i, token: "keyword" },
    { regex: /\b(?:[re]?[abcd]x|[abcd][lh]|[re]?[sd]i|[re]?[sb]p|r\d+[dwb]?|[re]ip)\b/i, token: "variable-2" },
    { regex: /\b(?:0x[\da-f]+|\d+)\b/i, token: "number" },
  ],
  languageData: { commentTokens: { line: ";" } },
});

const prolog = simpleMode({
  start: [
    { regex: /%.*/, token: "comment" },
    { regex: /\/\*/, token: "comment", next: "comment" },
    { regex: /"(?:[^\\"]|\\.)*"?|'(?:[^\\']|\\.)*'?/, token: "string" },
    { regex: /:-|-->|\?-/, token: "keyword" },
    { regex: /\b(?:is|mod|rem|not|true|fail|false|halt)\b/, token: "keyword" },
    { regex: /\b[A-Z_]\w*/, token: "variable-2" },
    { regex: /\b\d+(?:\.\d+)?\b/, token: "number" },
  ],
  comment: [
    { regex: /.*?\*\//, token: "comment", next: "start" },
    { regex: /.*/, token: "comment" },
  ],
  languageData: { commentTokens: { line: "%", block: { open: "/*", close: "*/" } } },
});

const legacy = (parser: StreamParser<unknown>) => () => StreamLanguage.define(parser);

const highlighters: Record<EditorMode, () => Extension | LanguageSupport> = {
  awk: legacy(awk),
  c: () => cpp(),
  clojure: legacy(clojure),
  cobol: legacy(cobol),
  commonlisp: legacy(commonLisp),
  cpp: () => cpp(),
  csharp: legacy(csharp),
  d: legacy(d),
  erlang: legacy(erlang),
  fortran: legacy(fortran),
  go: () => go(),
  groovy: legacy(groovy),
  haskell: legacy(haskell),
  java: () => java(),
  javascript: () => javascript(),
  kotlin: legacy(kotlin),
  lua: legacy(lua),
  nasm: legacy(nasm),
  ocaml: legacy(oCaml),
  pascal: legacy(pascal),
  perl: legacy(perl),
  php: () => php({ plain: false }),
  prolog: legacy(prolog),
  python: () => python(),
  r: legacy(r),
  ruby: legacy(ruby),
  rust: () => rust(),
  scala: legacy(scala),
  scheme: legacy(scheme),
  shell: legacy(shell),
  sql: () => sql({ dialect: SQLite }),
  tcl: legacy(tcl),
  typescript: () => javascript({ typescript: true }),
};

/** The editor extension that highlights `mode`; none for plain text. */
export function highlighting(mode: EditorMode | undefined): Extension {
  if (!mode) return [];
  return highlighters[mode]();
}
