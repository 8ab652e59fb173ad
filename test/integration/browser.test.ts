import http from "node:http";
import type { AddressInfo } from "node:net";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";
import type { Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startAurea, type RunningAurea } from "../support/aurea-server.js";
import { launchChromium } from "../support/chromium.js";
import { aureaContainers } from "../support/containers.js";

let aurea: RunningAurea;
let page: http.Server;
let pageOrigin: string;
let browser: Browser;

beforeAll(async () => {
  const bundle = await build({
    entryPoints: [fileURLToPath(new URL("../browser/sandbox-page.ts", import.meta.url))],
    bundle: true,
    format: "esm",
    platform: "browser",
    write: false,
  });
  const script = bundle.outputFiles[0]!.text;
  const html = `<!doctype html><meta charset="utf-8"><title>Aurea</title>
<pre id="run"></pre><pre id="stream"></pre><pre id="result"></pre><pre id="events"></pre><pre id="cases"></pre><pre id="difference"></pre>
<pre id="session"></pre><pre id="session-events"></pre><pre id="session-closed"></pre>
<pre id="done"></pre><pre id="error"></pre>
<script type="module" src="/page.js"></script>`;
  // The page's own origin: a second server, so every call to Aurea is cross-origin.
  page = http.createServer((request, response) => {
    const isScript = request.url === "/page.js";
    response.setHeader("Content-Type", isScript ? "text/javascript" : "text/html");
    response.end(isScript ? script : html);
  });
  await new Promise<void>((resolve) => page.listen(0, "127.0.0.1", resolve));
  pageOrigin = `http://127.0.0.1:${(page.address() as AddressInfo).port}`;
  aurea = await startAurea({ CORS_ALLOWED_ORIGINS: pageOrigin });
  browser = await launchChromium();
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await aurea?.stop();
  page?.close();
  expect(await aureaContainers()).toEqual([]);
});

async function openPage(protocol: string, aureaUrl = aurea.baseUrl) {
  const tab = await browser.newPage();
  await tab.goto(`${pageOrigin}/?protocol=${protocol}&aurea=${encodeURIComponent(aureaUrl)}`);
  // Evaluated in the page, hence a string: this file is not compiled with the DOM's types.
  await tab.waitForFunction("document.getElementById('done').textContent || document.getElementById('error').textContent", null, {
    timeout: 30_000,
  });
  const text = async (id: string) => (await tab.locator(`#${id}`).textContent()) ?? "";
  return { tab, text };
}

describe("a page on another origin in headless Chromium", () => {
  it.each(["connect", "grpcweb"])(
    "calls Run, RunStream and a session's Exec and ExecStream over %s and shows the streamed output",
    async (protocol) => {
      const { tab, text } = await openPage(protocol);
      expect(await text("error")).toBe("");
      expect(await text("run")).toBe("OK unary from the browser\n");
      expect(await text("stream")).toBe("line 1\nline 2\nline 3\n");
      expect(await text("result")).toBe("success");
      const events = (await text("events")).split(" ");
      expect(events[0]).toBe("started");
      expect(events.at(-1)).toBe("result");
      expect(events.filter((event) => event === "stdout").length).toBeGreaterThanOrEqual(3);
      // Each case's result streamed in before the run's, with the first difference of the wrong one.
      expect(await text("cases")).toBe("n=1:OK n=2:WRONG_ANSWER n=3:OK | WRONG_ANSWER 2/3");
      expect(await text("difference")).toBe('line 1: expected "4", received "5"');
      // A stateful session: the streamed exec saw the first exec's variable, and the session closed.
      expect(await text("session")).toBe("cell 0\ncell 1\ncell 2\nvalue=42");
      const sessionEvents = (await text("session-events")).split(" ");
      expect([sessionEvents[0], sessionEvents.at(-1)]).toEqual(["started", "result"]);
      expect(sessionEvents.filter((event) => event === "stdout").length).toBeGreaterThanOrEqual(3);
      expect(await text("session-closed")).toBe("true");
      await tab.close();
    },
  );

  it("is refused from an origin that is not allowed", async () => {
    const other = await startAurea({ CORS_ALLOWED_ORIGINS: "http://allowed.example" });
    try {
      const { tab, text } = await openPage("connect", other.baseUrl);
      expect(await text("run")).toBe("");
      expect(await text("error")).toMatch(/fetch|network|Failed/i);
      await tab.close();
    } finally {
      await other.stop();
    }
  });
});
