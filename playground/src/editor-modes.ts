/**
 * Which highlighter the editor uses for a file, by its extension: a language's `file_name` from
 * ListLanguages (`main.py`) or a file the user added. Pure data, so a unit test can check that
 * every language in languages/ has one; highlighting.ts maps each mode onto CodeMirror.
 */

export const editorModes = [
  "awk",
  "c",
  "clojure",
  "cobol",
  "commonlisp",
  "cpp",
  "csharp",
  "d",
  "erlang",
  "fortran",
  "go",
  "groovy",
  "haskell",
  "java",
  "javascript",
  "kotlin",
  "lua",
  "nasm",
  "ocaml",
  "pascal",
  "perl",
  "php",
  "prolog",
  "python",
  "r",
  "ruby",
  "rust",
  "scala",
  "scheme",
  "shell",
  "sql",
  "tcl",
  "typescript",
] as const;

export type EditorMode = (typeof editorModes)[number];

const modesByExtension: Record<string, EditorMode> = {
  awk: "awk",
  c: "c",
  h: "c",
  clj: "clojure",
  cob: "cobol",
  cbl: "cobol",
  lisp: "commonlisp",
  cpp: "cpp",
  cc: "cpp",
  hpp: "cpp",
  cs: "csharp",
  d: "d",
  // Elixir reads close enough to Ruby for highlighting; CodeMirror has no Elixir mode.
  ex: "ruby",
  exs: "ruby",
  erl: "erlang",
  f90: "fortran",
  f: "fortran",
  go: "go",
  groovy: "groovy",
  hs: "haskell",
  java: "java",
  js: "javascript",
  cjs: "javascript",
  mjs: "javascript",
  json: "javascript",
  kt: "kotlin",
  lua: "lua",
  asm: "nasm",
  ml: "ocaml",
  pas: "pascal",
  pl: "perl",
  php: "php",
  pro: "prolog",
  py: "python",
  r: "r",
  rb: "ruby",
  rs: "rust",
  scala: "scala",
  scm: "scheme",
  rkt: "scheme",
  sh: "shell",
  bash: "shell",
  sql: "sql",
  tcl: "tcl",
  ts: "typescript",
};

/** The mode for a file name, or undefined for plain text (`data.csv`, `README`). */
export function editorModeFor(fileName: string): EditorMode | undefined {
  const dot = fileName.lastIndexOf(".");
  if (dot < 0) return undefined;
  return modesByExtension[fileName.slice(dot + 1).toLowerCase()];
}
