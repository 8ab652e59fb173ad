import type { Comparison } from "./run-spec.js";

/**
 * Comparing a test case's output with its expected output. Pure: the server compares, so expected
 * outputs never enter a sandbox. Says where the first difference is, for a WRONG_ANSWER's result.
 */
export interface ComparisonResult {
  readonly equal: boolean;
  /** For a difference: the first differing line (or token), expected against received. */
  readonly difference: string;
}

export interface Tolerance {
  readonly absolute: number;
  readonly relative: number;
}

/** Longest excerpt of a line or token quoted in a difference. */
const excerptChars = 80;

const quote = (text: string | undefined) =>
  text === undefined ? "nothing" : JSON.stringify(text.length > excerptChars ? `${text.slice(0, excerptChars)}…` : text);

export function compareOutput(received: string, expected: string, mode: Comparison, tolerance: Tolerance): ComparisonResult {
  switch (mode) {
    case "exact":
      return compareLines(received.split("\n"), expected.split("\n"), received === expected);
    case "trailing_whitespace": {
      const normalise = (text: string) => text.split("\n").map((line) => line.replace(/[ \t\r]+$/, ""));
      const trim = (lines: string[]) => {
        while (lines.length > 0 && lines.at(-1) === "") lines.pop();
        return lines;
      };
      const a = trim(normalise(received));
      const b = trim(normalise(expected));
      return compareLines(a, b, a.length === b.length && a.every((line, index) => line === b[index]));
    }
    case "tokens":
    case "numeric":
      return compareTokens(tokens(received), tokens(expected), mode === "numeric" ? tolerance : undefined);
  }
}

function tokens(text: string): string[] {
  return text.split(/\s+/).filter((token) => token !== "");
}

function compareLines(received: string[], expected: string[], equal: boolean): ComparisonResult {
  if (equal) return { equal, difference: "" };
  const count = Math.max(received.length, expected.length);
  for (let index = 0; index < count; index++) {
    if (received[index] !== expected[index]) {
      return {
        equal: false,
        difference: `line ${index + 1}: expected ${quote(expected[index])}, received ${quote(received[index])}`,
      };
    }
  }
  // Same lines, different bytes elsewhere (exact mode: a final newline).
  return { equal: false, difference: "the outputs differ only in their final newline" };
}

function compareTokens(received: string[], expected: string[], tolerance: Tolerance | undefined): ComparisonResult {
  const count = Math.max(received.length, expected.length);
  for (let index = 0; index < count; index++) {
    const got = received[index];
    const want = expected[index];
    if (got === want) continue;
    if (tolerance && got !== undefined && want !== undefined && numbersMatch(got, want, tolerance)) continue;
    return { equal: false, difference: `token ${index + 1}: expected ${quote(want)}, received ${quote(got)}` };
  }
  return { equal: true, difference: "" };
}

const numberPattern = /^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i;

function numbersMatch(received: string, expected: string, tolerance: Tolerance): boolean {
  if (!numberPattern.test(received) || !numberPattern.test(expected)) return false;
  const a = Number(received);
  const b = Number(expected);
  const allowed =
    tolerance.absolute === 0 && tolerance.relative === 0 ? 1e-9 : Math.max(tolerance.absolute, tolerance.relative * Math.abs(b));
  return Math.abs(a - b) <= allowed;
}
