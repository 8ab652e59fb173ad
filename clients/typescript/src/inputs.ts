import type { DescMessage, MessageInitShape, MessageShape } from "@bufbuild/protobuf";
import type { ExecRequestSchema, RunRequestSchema, TestCaseSchema } from "./gen/aurea/sandbox/v1/sandbox_pb.js";

/** Text as UTF-8, bytes as they are: stdin and binary files take either. */
export type TextOrBytes = string | Uint8Array;

const encoder = new TextEncoder();
export const bytesOf = (value: TextOrBytes | undefined): Uint8Array =>
  value === undefined ? new Uint8Array() : typeof value === "string" ? encoder.encode(value) : value;

/** A message's fields as an object literal gives them (never the message object itself). */
export type Fields<Desc extends DescMessage> = Omit<Exclude<MessageInitShape<Desc>, MessageShape<Desc>>, "$typeName">;

type TestCaseInput = Omit<Fields<typeof TestCaseSchema>, "stdin"> & { stdin?: TextOrBytes };

/** A RunRequest as the generated type takes it, with stdin (the run's and each case's) as text or bytes. */
export type RunInput = Omit<Fields<typeof RunRequestSchema>, "stdin" | "tests"> & {
  stdin?: TextOrBytes;
  tests?: TestCaseInput[];
};

/** An ExecRequest without its session id (the Session knows it), stdin as text or bytes. */
export type ExecInput = Omit<Fields<typeof ExecRequestSchema>, "sessionId" | "stdin"> & { stdin?: TextOrBytes };

export function runRequest(input: RunInput): MessageInitShape<typeof RunRequestSchema> {
  return {
    ...input,
    stdin: bytesOf(input.stdin),
    tests: input.tests?.map((test) => ({ ...test, stdin: bytesOf(test.stdin) })),
  };
}

export function execRequest(sessionId: string, input: string | ExecInput): MessageInitShape<typeof ExecRequestSchema> {
  const fields = typeof input === "string" ? { code: input } : input;
  return { ...fields, sessionId, stdin: bytesOf(fields.stdin) };
}

/** Files by name: text goes as `files`, bytes as `binary_files`. */
export function splitFiles(files: Readonly<Record<string, TextOrBytes>>): {
  files: Record<string, string>;
  binaryFiles: Record<string, Uint8Array>;
} {
  const text: Record<string, string> = {};
  const binary: Record<string, Uint8Array> = {};
  for (const [name, content] of Object.entries(files)) {
    if (typeof content === "string") text[name] = content;
    else binary[name] = content;
  }
  return { files: text, binaryFiles: binary };
}
