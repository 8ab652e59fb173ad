/**
 * What a run gets besides its code: stdin, arguments, runtime, limits, whether to return the files
 * it writes. Empty limit fields mean the server's defaults (shown as placeholders); numbers the
 * server refuses come back as its INVALID_ARGUMENT naming the field.
 */
import type { LanguageInfo, ResourceLimits } from "../../gen/aurea/sandbox/v1/sandbox_pb.js";
import { byId, h } from "./dom.js";

export interface RunOptions {
  setLanguage(language: LanguageInfo): void;
  setRuntimes(runtimes: readonly string[], defaultRuntime: string): void;
  runtime(): string;
  stdinText(): string;
  setStdinText(text: string): void;
  args(): string[];
  setArgs(args: readonly string[]): void;
  /** `NAME=value` lines as a map; a line without `=` is an empty value, as the server will say. */
  env(): Record<string, string>;
  /** Seconds of wall time asked for; 0 for the server's default. */
  timeout(): number;
  /** Limits asked for; zero fields take the server's defaults. */
  limits(): Pick<ResourceLimits, "cpu" | "memoryBytes" | "pids">;
  captureArtifacts(): boolean;
}

const mebibyte = 1024 * 1024;
const runtimeTitles: Record<string, string> = { runc: "runc (containers)", runsc: "runsc (gVisor)" };

export function createRunOptions(): RunOptions {
  const stdin = byId<HTMLTextAreaElement>("stdin");
  const args = byId<HTMLTextAreaElement>("args");
  const env = byId<HTMLTextAreaElement>("env");
  const runtime = byId<HTMLSelectElement>("runtime");
  const timeout = byId<HTMLInputElement>("limit-timeout");
  const cpu = byId<HTMLInputElement>("limit-cpu");
  const memory = byId<HTMLInputElement>("limit-memory");
  const pids = byId<HTMLInputElement>("limit-pids");
  const capture = byId<HTMLInputElement>("capture-artifacts");
  const number = (input: HTMLInputElement) => (input.value.trim() === "" ? 0 : Number(input.value));

  return {
    setLanguage(language) {
      const limits = language.defaultLimits;
      timeout.placeholder = `${language.defaultTimeout} (up to ${language.maxTimeout})`;
      cpu.placeholder = String(limits?.cpu ?? "");
      memory.placeholder = limits ? String(Number(limits.memoryBytes) / mebibyte) : "";
      pids.placeholder = String(limits?.pids ?? "");
    },
    setRuntimes(runtimes, defaultRuntime) {
      runtime.replaceChildren(
        ...runtimes.map((name) => h("option", { text: runtimeTitles[name] ?? name, attributes: { value: name } })),
      );
      runtime.value = defaultRuntime;
    },
    runtime: () => runtime.value,
    stdinText: () => stdin.value,
    setStdinText: (text) => {
      stdin.value = text;
    },
    args: () => (args.value === "" ? [] : args.value.replace(/\n$/, "").split("\n")),
    setArgs: (list) => {
      args.value = list.join("\n");
    },
    env() {
      const entries: Record<string, string> = {};
      for (const line of env.value.split("\n")) {
        if (line.trim() === "") continue;
        const equals = line.indexOf("=");
        entries[equals < 0 ? line : line.slice(0, equals)] = equals < 0 ? "" : line.slice(equals + 1);
      }
      return entries;
    },
    timeout: () => number(timeout),
    limits: () => ({
      cpu: number(cpu),
      memoryBytes: BigInt(Math.round(number(memory) * mebibyte)),
      pids: BigInt(Math.round(number(pids))),
    }),
    captureArtifacts: () => capture.checked,
  };
}
