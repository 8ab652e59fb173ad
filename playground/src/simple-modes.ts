/**
 * Highlighting for the three languages CodeMirror has no mode for (awk, NASM, Prolog): small
 * simple-mode definitions of comments, strings, keywords, variables and numbers. Loaded only
 * when one of them is shown (highlighting.ts).
 */
import { simpleMode } from "@codemirror/legacy-modes/mode/simple-mode";

export const awk = simpleMode({
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

export const nasm = simpleMode({
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

export const prolog = simpleMode({
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
