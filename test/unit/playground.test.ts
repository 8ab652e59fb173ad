import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import { afterEach, describe, expect, it } from "vitest";
import { Limit, ResourceLimitsSchema, RunStatus } from "../../gen/aurea/sandbox/v1/sandbox_pb.js";
import { create } from "@bufbuild/protobuf";
import { looksLikeSvg, sniffImageType } from "../../playground/src/image-types.js";
import { editorModeFor, editorModes } from "../../playground/src/editor-modes.js";
import { controlForField, violatedFields } from "../../playground/src/field-violations.js";
import {
  describeExit,
  describeLimits,
  describeLimitsHit,
  describeVerdict,
  formatBytes,
  formatSeconds,
} from "../../playground/src/format.js";
import { decodeShareFragment, encodeShareFragment } from "../../playground/src/share-link.js";
import { repositoryLanguages } from "../support/languages.js";
import { playgroundContentSecurityPolicy, withPlayground } from "../../src/server/playground-route.js";
import { invalidArgument } from "../../src/service/rpc-errors.js";

describe("the playground's wording", () => {
  it("has a label and a tone for every verdict", () => {
    for (const status of Object.values(RunStatus).filter((value) => typeof value === "number")) {
      const verdict = describeVerdict(status as RunStatus);
      expect(verdict.label).not.toMatch(/^Status /);
      expect(RunStatus[verdict.name as keyof typeof RunStatus]).toBe(status);
    }
    expect(describeVerdict(RunStatus.WRONG_ANSWER)).toEqual({ label: "Wrong answer", name: "WRONG_ANSWER", tone: "fail" });
    expect(describeVerdict(RunStatus.CANCELLED).tone).toBe("stopped");
    expect(describeVerdict(RunStatus.INTERNAL).tone).toBe("error");
  });

  it("words sizes, times, exits and limits", () => {
    expect(formatBytes(512)).toBe("512 B");
    expect(formatBytes(1536)).toBe("1.50 KiB");
    expect(formatBytes(256n * 1024n * 1024n)).toBe("256 MiB");
    expect(formatSeconds(0.0504)).toBe("50 ms");
    expect(formatSeconds(1.254)).toBe("1.25 s");
    expect(formatSeconds(30)).toBe("30.0 s");
    expect(describeExit(3, "")).toBe("exit code 3");
    expect(describeExit(137, "SIGKILL")).toBe("signal SIGKILL");
    const limits = create(ResourceLimitsSchema, { cpu: 0.5, memoryBytes: 268_435_456n, pids: 64n });
    expect(describeLimits(limits, 10)).toBe("0.5 CPU · 256 MiB memory · 64 processes · 10.0 s wall time");
    expect(describeLimits(undefined, 0)).toBe("");
    expect(describeLimitsHit([Limit.MEMORY, Limit.PIDS])).toBe("memory, processes");
    expect(describeLimitsHit([])).toBe("");
  });
});

describe("share links", () => {
  const none = { args: [], files: {} };

  it("carry the language, code and stdin through the fragment, whatever the characters", () => {
    const program = { language: "python", code: "print('héllo ✓ 🎉')\n# a+b/c=d?&x", stdin: "line 1\nline 2\n", ...none };
    const fragment = encodeShareFragment(program);
    expect(fragment).toMatch(/^language=python&code=[A-Za-z0-9_-]+&stdin=[A-Za-z0-9_-]+$/);
    expect(decodeShareFragment(`#${fragment}`)).toEqual(program);
    expect(encodeShareFragment({ ...program, stdin: "" })).not.toContain("stdin=");
    expect(decodeShareFragment(encodeShareFragment({ language: "c", code: "", stdin: "", ...none }))).toEqual({
      language: "c",
      code: "",
      stdin: "",
      ...none,
    });
  });

  it("carry the arguments and the other text files too", () => {
    const program = {
      language: "python",
      code: "import sys; print(open('data/in.txt').read(), sys.argv[1:])",
      stdin: "",
      args: ["first arg", "", "ünïcode ✓"],
      files: { "data/in.txt": "a.b.c\n", "notes.md": "", "名前.txt": "x" },
    };
    const fragment = encodeShareFragment(program);
    expect(fragment.match(/&file=/g)).toHaveLength(3);
    expect(decodeShareFragment(fragment)).toEqual(program);
    expect(encodeShareFragment({ ...program, args: [], files: {} })).not.toMatch(/args=|file=/);
  });

  it("made before arguments and files existed still open", () => {
    // A link as the first playground wrote them: language, code, stdin.
    expect(decodeShareFragment("#language=python&code=cHJpbnQoMSk&stdin=eA")).toEqual({
      language: "python",
      code: "print(1)",
      stdin: "x",
      ...none,
    });
  });

  it("carry nothing when damaged or foreign", () => {
    expect(decodeShareFragment("")).toBeUndefined();
    expect(decodeShareFragment("#language=python")).toBeUndefined();
    expect(decodeShareFragment("#code=cHJpbnQ")).toBeUndefined();
    expect(decodeShareFragment("#language=<script>&code=cHJpbnQ")).toBeUndefined();
    // Not base64, and bytes that are not UTF-8.
    expect(decodeShareFragment("#language=python&code=%%%")).toBeUndefined();
    expect(decodeShareFragment("#language=python&code=_w")).toBeUndefined();
    // A file without its content, with a part too many, without a name, or named twice.
    expect(decodeShareFragment("#language=python&code=&file=YQ")).toBeUndefined();
    expect(decodeShareFragment("#language=python&code=&file=YQ.YQ.YQ")).toBeUndefined();
    expect(decodeShareFragment("#language=python&code=&file=.YQ")).toBeUndefined();
    expect(decodeShareFragment("#language=python&code=&file=YQ.YQ&file=YQ.Yg")).toBeUndefined();
    expect(decodeShareFragment("#language=python&code=&args=_w")).toBeUndefined();
  });
});

describe("editor highlighting", () => {
  it("has a mode for every language's file, and every mode is used", () => {
    const used = new Set<string>();
    for (const language of repositoryLanguages.all()) {
      const mode = editorModeFor(language.fileName);
      expect(mode, `${language.name} (${language.fileName})`).toBeDefined();
      used.add(mode as string);
    }
    for (const mode of editorModes) expect(used, mode).toContain(mode);
    expect(editorModeFor("data.csv")).toBeUndefined();
    expect(editorModeFor("README")).toBeUndefined();
    expect(editorModeFor("Main.JAVA")).toBe("java");
  });
});

describe("artifact images", () => {
  it("are known by their first bytes, not their names", () => {
    expect(sniffImageType(Uint8Array.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0]))).toBe("image/png");
    expect(sniffImageType(Uint8Array.from([0xff, 0xd8, 0xff, 0xe0]))).toBe("image/jpeg");
    expect(sniffImageType(new TextEncoder().encode("GIF89a"))).toBe("image/gif");
    expect(sniffImageType(new TextEncoder().encode("RIFF\0\0\0\0WEBPVP8 "))).toBe("image/webp");
    expect(sniffImageType(new TextEncoder().encode("<html><script>"))).toBeUndefined();
    expect(sniffImageType(new Uint8Array())).toBeUndefined();
    expect(looksLikeSvg("plot.svg", '<?xml version="1.0"?>\n<!-- made by matplotlib -->\n<!DOCTYPE svg>\n<svg width="1">')).toBe(
      true,
    );
    expect(looksLikeSvg("plot.txt", "<svg>")).toBe(false);
    expect(looksLikeSvg("page.svg", "<html><svg>")).toBe(false);
  });
});

describe("the playground route", () => {
  const servers: http.Server[] = [];
  afterEach(() => {
    for (const server of servers.splice(0)) server.close();
  });

  /** The route in front of a handler that answers 299, on a real loopback server. */
  async function serve(directory: string): Promise<string> {
    const route = withPlayground(
      (_request, response) => {
        response.statusCode = 299;
        response.end("api");
      },
      { directory, logger: pino({ level: "silent" }) },
    );
    const server = http.createServer(route);
    servers.push(server);
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  }

  function builtPage(): string {
    const directory = mkdtempSync(join(tmpdir(), "aurea-playground-"));
    writeFileSync(join(directory, "index.html"), '<meta name="aurea-style-nonce" content="__STYLE_NONCE__"><p>page</p>');
    writeFileSync(join(directory, "app.js"), "console.log('app');".repeat(100));
    writeFileSync(join(directory, "app.css"), "p{}");
    writeFileSync(join(directory, "favicon.svg"), "<svg/>");
    mkdirSync(join(directory, "chunks"));
    writeFileSync(join(directory, "chunks", "python-ABCD1234.js"), "export const python = 1;");
    writeFileSync(join(directory, "chunks", "notes.txt"), "not a page file");
    return directory;
  }

  it("answers the page with a fresh nonce in its HTML and CSP each time, and never caches it", async () => {
    const base = await serve(builtPage());
    const first = await fetch(`${base}/`);
    const second = await fetch(`${base}/index.html`);
    const nonce = (response: string) => /content="([^"]+)"/.exec(response)?.[1] ?? "";
    const [firstNonce, secondNonce] = [nonce(await first.text()), nonce(await second.text())];
    expect(firstNonce).not.toBe(secondNonce);
    expect(first.headers.get("content-security-policy")).toBe(playgroundContentSecurityPolicy(firstNonce));
    expect(second.headers.get("content-security-policy")).toBe(playgroundContentSecurityPolicy(secondNonce));
    expect(first.headers.get("cache-control")).toBe("no-store");
    expect(first.headers.get("referrer-policy")).toBe("no-referrer");
  });

  it("answers assets gzipped when accepted, 304 when unchanged, and HEAD without a body", async () => {
    const base = await serve(builtPage());
    const plain = await fetch(`${base}/playground/app.js`, { headers: { "accept-encoding": "identity" } });
    expect(plain.headers.get("content-encoding")).toBeNull();
    expect(await plain.text()).toBe("console.log('app');".repeat(100));
    const etag = plain.headers.get("etag") ?? "";
    expect((await fetch(`${base}/playground/app.js`, { headers: { "if-none-match": etag } })).status).toBe(304);
    expect(plain.headers.get("cache-control")).toBe("no-cache");
    // A chunk is named by its content: browsers may keep it for good.
    const chunk = await fetch(`${base}/playground/chunks/python-ABCD1234.js`);
    expect(chunk.status).toBe(200);
    expect(chunk.headers.get("cache-control")).toBe("public, max-age=31536000, immutable");
    expect(chunk.headers.get("content-type")).toBe("text/javascript; charset=utf-8");
    const head = await fetch(`${base}/playground/app.css`, { method: "HEAD" });
    expect(head.status).toBe(200);
    expect(head.headers.get("content-type")).toBe("text/css; charset=utf-8");
    expect(await head.text()).toBe("");
  });

  it("passes every other path and method on, and says so when the page was not built", async () => {
    const built = await serve(builtPage());
    for (const [method, path] of [
      ["GET", "/languages"],
      ["POST", "/"],
      ["GET", "/playground/other.js"],
      ["GET", "/playground/chunks/notes.txt"],
      ["GET", "/playground/chunks"],
      ["GET", "/aurea.sandbox.v1.SandboxService/Health"],
    ]) {
      expect((await fetch(`${built}${path}`, { method })).status, `${method} ${path}`).toBe(299);
    }
    const notBuilt = await serve(mkdtempSync(join(tmpdir(), "aurea-playground-empty-")));
    const answer = await fetch(`${notBuilt}/`);
    expect(answer.status).toBe(503);
    expect(await answer.text()).toContain("npm run build");
    expect((await fetch(`${notBuilt}/run`, { method: "POST" })).status).toBe(299);
  });
});

describe("the playground's marks on refused fields", () => {
  it("finds the control of each field path the server names", () => {
    expect(controlForField("timeout")).toBe("limit-timeout");
    expect(controlForField("limits.memory_bytes")).toBe("limit-memory");
    expect(controlForField("tests[1].timeout")).toBe("test-cases");
    expect(controlForField('files["a.txt"]')).toBe("file-tabs");
    expect(controlForField("args[2]")).toBe("args");
    expect(controlForField("env.PATH")).toBe("env");
    expect(controlForField("compile_memory_bytes")).toBeUndefined();
  });

  it("names only controls the page has", () => {
    const page = readFileSync(new URL("../../playground/index.html", import.meta.url), "utf8");
    const fields = ["language", "runtime", "code", "files", "stdin", "args", "env", "timeout", "limits.cpu"];
    const more = ["limits.memory_bytes", "limits.pids", "tests", "comparison", "absolute_tolerance", "relative_tolerance"];
    for (const field of [...fields, ...more, "stop_on_first_failure"]) {
      expect(page, field).toContain(`id="${controlForField(field)}"`);
    }
  });

  it("reads the fields from the error's BadRequest, and none from other errors", () => {
    const refused = invalidArgument([
      { field: "timeout", description: "too long" },
      { field: "limits.pids", description: "too many" },
    ]);
    expect(violatedFields(refused)).toEqual(["timeout", "limits.pids"]);
    expect(violatedFields(new Error("network"))).toEqual([]);
  });
});
