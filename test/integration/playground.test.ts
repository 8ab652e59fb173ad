import { createHash } from "node:crypto";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { repositoryRoot } from "../../src/config/repository.js";
import { playgroundContentSecurityPolicy } from "../../src/server/playground-route.js";
import { startAurea, type RunningAurea } from "../support/aurea-server.js";
import { launchChromium } from "../support/chromium.js";
import { aureaContainers } from "../support/containers.js";

/** Where the screenshots go, for people to look at (not compared by the test). */
const screenshots = join(repositoryRoot(), "test-results", "playground");
const apiKey = "playground-key-0123456789";

let aurea: RunningAurea;
let browser: Browser;

beforeAll(async () => {
  mkdirSync(screenshots, { recursive: true });
  aurea = await startAurea();
  browser = await launchChromium();
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await aurea?.stop();
  expect(await aureaContainers()).toEqual([]);
});

interface Playground {
  readonly page: Page;
  readonly context: BrowserContext;
  /** Every URL the page asked for, and every console error (CSP violations among them). */
  readonly requests: string[];
  readonly consoleErrors: string[];
}

/** A fresh tab (its own storage) on the playground of `server`, once its languages are loaded. */
async function openPlayground(
  server: RunningAurea,
  options: { viewport?: { width: number; height: number }; path?: string; context?: BrowserContext } = {},
): Promise<Playground> {
  const context = options.context ?? (await browser.newContext({ viewport: options.viewport ?? { width: 1280, height: 900 } }));
  const page = await context.newPage();
  const requests: string[] = [];
  const consoleErrors: string[] = [];
  page.on("request", (request) => requests.push(request.url()));
  page.on("console", (message) => {
    if (message.type() === "error") consoleErrors.push(message.text());
  });
  page.on("pageerror", (error) => consoleErrors.push(error.message));
  await page.goto(`${server.baseUrl}${options.path ?? "/"}`);
  await page.waitForSelector("body[data-ready]", { timeout: 30_000 });
  return { page, context, requests, consoleErrors };
}

/** Replaces the editor's text the way a paste does (no auto-indent in between). */
async function setCode(page: Page, code: string, editor = "#editor .cm-content"): Promise<void> {
  await page.click(editor);
  await page.keyboard.press("Control+A");
  await page.keyboard.press("Delete");
  await page.keyboard.insertText(code);
}

async function editorText(page: Page): Promise<string> {
  return (await page.locator("#editor .cm-content .cm-line").allTextContents()).join("\n");
}

/** Waits for the run under way to end; answers its verdict's status name. */
async function verdictAfterRun(page: Page, timeout = 60_000): Promise<string> {
  await page.waitForSelector("body[data-running='false']", { timeout });
  return (await page.getAttribute("#verdict", "data-status")) ?? "";
}

async function run(page: Page, timeout?: number): Promise<string> {
  await page.click("#run");
  return verdictAfterRun(page, timeout);
}

/**
 * Runs the notebook's focused cell with Ctrl+Enter and waits until it ended and the page moved on
 * to the cell after it (number `ran + 1`, made when it was the last).
 */
async function runCell(page: Page, ran: number): Promise<void> {
  await page.keyboard.press("Control+Enter");
  await page.waitForSelector(`body[data-running='false'] #cells .cell:nth-child(${ran + 1})`, { timeout: 60_000 });
}

/** A tab in notebook mode for `language` whose first cell, `code`, has run. */
async function notebookAfterFirstCell(language: string, code: string): Promise<Page> {
  const { page } = await openPlayground(aurea);
  await page.selectOption("#language", language);
  await page.check("input[name='mode'][value='notebook']");
  await setCode(page, code, "#cells .cell >> nth=0 >> .cm-content");
  await runCell(page, 1);
  return page;
}

/** One stream's output, its spans joined: stdout and stderr are two pipes, so their chunks may interleave. */
const streamText = async (page: Page, stream: "stdout" | "stderr") =>
  (await page.locator(`#output .${stream}`).allTextContents()).join("");

const text = async (page: Page, selector: string) => (await page.locator(selector).first().textContent()) ?? "";

function auditLines(server: RunningAurea, code: string): Record<string, unknown>[] {
  const sha = createHash("sha256").update(code, "utf8").digest("hex");
  return server.logs().filter((line) => line.msg === "run audit" && line.code_sha256 === sha);
}

describe("the page and its headers", () => {
  it("is served at / with a strict CSP, gzipped and revalidated, and loads nothing from elsewhere", async () => {
    const page = await fetch(`${aurea.baseUrl}/`);
    expect(page.status).toBe(200);
    expect(page.headers.get("content-type")).toBe("text/html; charset=utf-8");
    expect(page.headers.get("x-content-type-options")).toBe("nosniff");
    expect(page.headers.get("x-frame-options")).toBe("DENY");
    const html = await page.text();
    // No script or style in the HTML itself, and no address of another origin.
    expect(html).not.toMatch(/<script>|<style|style="|https?:\/\//);
    // Style elements need this copy's nonce; a second copy has another.
    const nonce = /name="aurea-style-nonce" content="([^"]+)"/.exec(html)?.[1] ?? "";
    expect(nonce).toMatch(/^[A-Za-z0-9+/]{24}$/);
    const policy = page.headers.get("content-security-policy") ?? "";
    expect(policy).toBe(playgroundContentSecurityPolicy(nonce));
    expect(policy).toContain("connect-src 'self'");
    expect(policy).not.toMatch(/unsafe-inline|unsafe-eval|https?:/);
    const secondCopy = await (await fetch(`${aurea.baseUrl}/`)).text();
    expect(secondCopy).not.toContain(nonce);

    const script = await fetch(`${aurea.baseUrl}/playground/app.js`, { headers: { "accept-encoding": "gzip" } });
    expect(script.status).toBe(200);
    expect(script.headers.get("content-type")).toBe("text/javascript; charset=utf-8");
    expect(script.headers.get("content-encoding")).toBe("gzip");
    const etag = script.headers.get("etag") ?? "";
    expect(etag).not.toBe("");
    const again = await fetch(`${aurea.baseUrl}/playground/app.js`, { headers: { "if-none-match": etag } });
    expect(again.status).toBe(304);

    const { page: tab, requests, consoleErrors } = await openPlayground(aurea);
    await setCode(tab, "print('hello from the playground')");
    expect(await run(tab)).toBe("OK");
    expect(consoleErrors).toEqual([]);
    const foreign = requests.filter((url) => !url.startsWith(`${aurea.baseUrl}/`) && !/^(blob|data):/.test(url));
    expect(foreign).toEqual([]);
    await tab.context().close();
  });

  it("is not served when PLAYGROUND_ENABLED=false, and the API on the port is unchanged", async () => {
    const off = await startAurea({ PLAYGROUND_ENABLED: "false" });
    try {
      expect((await fetch(`${off.baseUrl}/`)).status).toBe(404);
      expect((await fetch(`${off.baseUrl}/playground/app.js`)).status).toBe(404);
      const languages = await fetch(`${off.baseUrl}/languages`);
      expect(languages.status).toBe(200);
    } finally {
      await off.stop();
    }
  });
});

describe("running programs", () => {
  const programs = [
    { language: "python", code: "import sys\nprint('py', 6 * 7)\nprint('to stderr', file=sys.stderr)", stdout: "py 42" },
    { language: "javascript", code: "console.log('js', 6 * 7);\nconsole.error('to stderr');", stdout: "js 42" },
    {
      language: "c",
      code: '#include <stdio.h>\nint main(void) {\n  printf("c %d\\n", 6 * 7);\n  fprintf(stderr, "to stderr\\n");\n}',
      stdout: "c 42",
    },
    { language: "ruby", code: "puts \"rb #{6 * 7}\"\nwarn 'to stderr'", stdout: "rb 42" },
  ];

  it.each(programs)(
    "runs $language typed into the editor: stdout and stderr apart, then the verdict and facts",
    async (program) => {
      const { page, consoleErrors } = await openPlayground(aurea);
      await page.selectOption("#language", program.language);
      // The language's example is there to start from.
      expect(await editorText(page)).not.toBe("");
      await setCode(page, program.code);
      // Highlighted: the language's mode (a chunk loaded when first shown) marks up its tokens.
      await expect.poll(() => page.locator("#editor .cm-line span").count()).toBeGreaterThan(2);
      expect(await run(page)).toBe("OK");
      expect(await streamText(page, "stdout")).toContain(program.stdout);
      expect(await streamText(page, "stderr")).toContain("to stderr");
      const facts = await text(page, "#facts");
      expect(facts).toContain("exit code 0");
      expect(facts).toMatch(/Wall time\d+ ms|Wall time[\d.]+ s/);
      expect(facts).toContain("CPU time");
      expect(facts).toMatch(/Peak memory[\d.]+ (KiB|MiB)/);
      expect(facts).toMatch(/Limits[\d.]+ CPU · [\d.]+ (MiB|GiB) memory · \d+ processes · [\d.]+ s wall time/);
      await page.screenshot({ path: join(screenshots, `run-${program.language}.png`), fullPage: true });
      expect(consoleErrors).toEqual([]);
      await page.context().close();
    },
  );

  it("runs under gVisor when runsc is picked, and the server ran it there", async () => {
    const { page } = await openPlayground(aurea);
    expect(
      await page.locator("#runtime option").evaluateAll((options) => options.map((option: { value: string }) => option.value)),
    ).toEqual(["runc", "runsc"]);
    await page.selectOption("#runtime", "runsc");
    const code = "import os\nprint('kernel', os.uname().release)";
    await setCode(page, code);
    expect(await run(page, 90_000)).toBe("OK");
    expect(await text(page, "#output")).toMatch(/^kernel \S+\n$/);
    expect(auditLines(aurea, code).map((line) => [line.runtime, line.status])).toEqual([["runsc", "ok"]]);
    await page.context().close();
  });

  it("streams output in while the run goes on, and Ctrl+Enter runs", async () => {
    const { page } = await openPlayground(aurea);
    await page.selectOption("#language", "bash");
    await setCode(page, "for i in 1 2 3 4; do echo tick $i; sleep 0.8; done");
    await page.keyboard.press("Control+Enter");
    // Polled from here: the page's CSP refuses the string evaluation waitForFunction would use.
    await expect.poll(() => text(page, "#output"), { timeout: 30_000, interval: 50 }).toContain("tick 1");
    // The first line is on screen while the run is still going.
    expect(await page.getAttribute("#verdict", "data-status")).toBe("RUNNING");
    expect(await text(page, "#output")).not.toContain("tick 4");
    expect(await verdictAfterRun(page)).toBe("OK");
    expect(await text(page, "#output")).toBe("tick 1\ntick 2\ntick 3\ntick 4\n");
    await page.context().close();
  });

  it("stops a long run: the page shows CANCELLED and the server ended the run CANCELLED", async () => {
    const { page } = await openPlayground(aurea);
    const code = "import time\nprint('started', flush=True)\ntime.sleep(120)";
    await setCode(page, code);
    await page.click("#run");
    await expect.poll(() => text(page, "#output"), { timeout: 30_000, interval: 50 }).toContain("started");
    await page.click("#stop");
    expect(await verdictAfterRun(page, 10_000)).toBe("CANCELLED");
    await page.screenshot({ path: join(screenshots, "stopped.png"), fullPage: true });
    await expect.poll(() => auditLines(aurea, code).map((line) => line.status), { timeout: 15_000 }).toEqual(["cancelled"]);
    await page.context().close();
  });

  it("shows the server's INVALID_ARGUMENT naming the field for a limit it refuses", async () => {
    const { page } = await openPlayground(aurea);
    await page.click("#limits-panel summary");
    await page.fill("#limit-timeout", "100000");
    expect(await run(page)).toBe("FAILED");
    expect(await text(page, "#error")).toMatch(/^InvalidArgument: .*timeout/);
    // The field the violation names is marked, and the mark goes with the next run.
    expect(await page.getAttribute("#limit-timeout", "aria-invalid")).toBe("true");
    expect(await page.getAttribute("#limit-timeout", "aria-errormessage")).toBe("error");
    expect(await page.evaluate("document.activeElement.id")).toBe("limit-timeout");
    expect(await page.getAttribute("#limit-memory", "aria-invalid")).toBeNull();
    await page.fill("#limit-timeout", "");
    expect(await run(page)).toBe("OK");
    expect(await page.getAttribute("#limit-timeout", "aria-invalid")).toBeNull();
    await page.context().close();
  });

  it("shows a compile error with the compiler's message", async () => {
    const { page } = await openPlayground(aurea);
    await page.selectOption("#language", "c");
    await setCode(page, "int main(void) { return undeclared_name; }");
    expect(await run(page)).toBe("COMPILE_ERROR");
    expect(await text(page, "#compile-output")).toContain("undeclared_name");
    await page.context().close();
  });

  it("sends stdin, args and an uploaded file, and shows the files the program wrote: text, PNG and SVG inline, others to download", async () => {
    const { page } = await openPlayground(aurea);
    await page.selectOption("#language", "python-data");
    await page.fill("#stdin", "from stdin\n");
    await page.fill("#args", "first\nsecond");
    await page.fill("#env", "GREETING=hi = there");
    await page.setInputFiles("#upload-files", {
      name: "numbers.csv",
      mimeType: "text/csv",
      buffer: Buffer.from("x,y\n1,2\n2,4\n3,9\n"),
    });
    // The uploaded file is a tab of its own, editable.
    await expect.poll(() => text(page, "#file-tabs [aria-selected='true']")).toBe("numbers.csv");
    expect(await editorText(page)).toBe("x,y\n1,2\n2,4\n3,9\n");
    // A file that is not UTF-8 goes as bytes, not edited.
    await page.setInputFiles("#upload-files", {
      name: "raw.bin",
      mimeType: "application/octet-stream",
      buffer: Buffer.from([0xff, 0xfe, 0, 1]),
    });
    await expect.poll(() => text(page, "#binary-note")).toBe("raw.bin: a binary file of 4 B, sent as it is.");
    // Arrow keys move between the file tabs.
    await page.focus("#file-tabs [aria-selected='true']");
    await page.keyboard.press("ArrowLeft");
    expect(await text(page, "#file-tabs [aria-selected='true']")).toBe("numbers.csv");
    expect(await page.isHidden("#binary-note")).toBe(true);
    await page.click("#file-tabs .tab >> nth=0");
    await setCode(
      page,
      [
        "import sys",
        "import matplotlib",
        "matplotlib.use('Agg')",
        "import matplotlib.pyplot as plt",
        "import pandas as pd",
        "frame = pd.read_csv('numbers.csv')",
        "plt.plot(frame.x, frame.y)",
        "plt.savefig('plot.png')",
        "plt.savefig('plot.svg')",
        "open('notes.txt', 'w').write('a note\\n')",
        "open('blob.bin', 'wb').write(bytes(range(256)))",
        // Hostile files: an SVG with scripts and an HTML page; neither may run in the page.
        `open('evil.svg', 'w').write('<svg xmlns="http://www.w3.org/2000/svg" width="120" height="20" onload="top.document.title=1"><script>top.document.title=2</script><rect width="120" height="20"/></svg>')`,
        "open('page.html', 'w').write('<script>document.title=3</script><b>bold</b>')",
        "import os",
        // A link is listed as skipped, never followed.
        "os.symlink('/etc/passwd', 'passwd-link')",
        "print(sys.stdin.read().strip(), sys.argv[1:], len(frame), os.environ['GREETING'], open('raw.bin', 'rb').read().hex())",
      ].join("\n"),
    );
    expect(await run(page, 120_000)).toBe("OK");
    expect(await streamText(page, "stdout")).toContain("from stdin ['first', 'second'] 3 hi = there fffe0001");
    for (const name of ["plot.png", "plot.svg"]) {
      const image = page.locator(`#artifacts [data-name='${name}'] img`);
      await image.scrollIntoViewIfNeeded();
      // Rendered: the browser decoded it to a real size.
      await expect.poll(() => image.evaluate((element: { naturalWidth: number }) => element.naturalWidth)).toBeGreaterThan(100);
    }
    expect(await text(page, "#artifacts [data-name='notes.txt'] pre")).toBe("a note\n");
    // The SVG is an image (its scripts never run), the HTML is text; the page's title is untouched.
    const evil = page.locator("#artifacts [data-name='evil.svg'] img");
    await expect.poll(() => evil.evaluate((element: { naturalWidth: number }) => element.naturalWidth)).toBe(120);
    expect(await text(page, "#artifacts [data-name='page.html'] pre")).toBe("<script>document.title=3</script><b>bold</b>");
    expect(await page.locator("#artifacts b").count()).toBe(0);
    expect(await page.title()).toBe("Aurea playground");
    const download = page.locator("#artifacts [data-name='blob.bin'] a[download]");
    expect(await download.getAttribute("download")).toBe("blob.bin");
    expect(await page.locator("#artifacts [data-name='blob.bin'] img").count()).toBe(0);
    expect(await text(page, "#artifacts [data-name='passwd-link']")).toBe("passwd-link not returned: a symbolic link");
    await page.screenshot({ path: join(screenshots, "plot.png"), fullPage: true });
    await page.context().close();
  });
});

describe("test cases", () => {
  it("judges cases as their results stream in and shows a WRONG_ANSWER with its first difference", async () => {
    const { page } = await openPlayground(aurea);
    await setCode(page, "n = int(input())\nprint(5 if n == 2 else n * 2)");
    await page.click("#tests-panel summary");
    for (const n of [1, 2, 3]) {
      await page.click("#add-test");
      const item = page.locator("#test-cases .test-case").nth(n - 1);
      await item.locator(".case-name").fill(`n=${n}`);
      await item.locator(".case-input").fill(`${n}\n`);
      await item.locator(".case-expected").fill(`${n * 2}\n`);
    }
    expect(await run(page)).toBe("WRONG_ANSWER");
    const results = page.locator("#test-results .test-result");
    expect(await results.count()).toBe(3);
    expect(await results.locator(".badge").allTextContents()).toEqual(["OK", "Wrong answer", "OK"]);
    expect(await text(page, "#test-results [data-case='n=2'] .difference")).toBe('line 1: expected "4", received "5"');
    expect(await text(page, "#tests-summary")).toBe("2 of 3 passed; first failed: n=2");
    await page.screenshot({ path: join(screenshots, "test-cases.png"), fullPage: true });
    await page.context().close();
  });

  it("compares numbers within the absolute and the relative tolerance, each sent as its own field", async () => {
    const { page } = await openPlayground(aurea);
    // 1000.5 against 1000: off by 0.5 absolute, 0.05% relative.
    await setCode(page, "print(1000.5)");
    await page.click("#tests-panel summary");
    await page.click("#add-test");
    await page.locator("#test-cases .test-case .case-expected").fill("1000\n");
    await page.selectOption("#comparison", "4");
    await page.fill("#relative-tolerance", "0.001");
    expect(await run(page)).toBe("OK");
    await page.fill("#relative-tolerance", "");
    await page.fill("#absolute-tolerance", "0.1");
    expect(await run(page)).toBe("WRONG_ANSWER");
    await page.fill("#absolute-tolerance", "1");
    expect(await run(page)).toBe("OK");
    await page.context().close();
  });
});

describe("notebook mode", () => {
  it("runs cells in one stateful session: a variable lives on, the last expression's value and a plot are shown", async () => {
    const page = await notebookAfterFirstCell("python-data", "x = 41\nprint('set x')");
    expect(await page.getAttribute("#cells .cell >> nth=0 >> .badge", "data-status")).toBe("OK");
    const sessionId = (await page.getAttribute("#session-status", "data-session-id")) ?? "";
    expect(sessionId).not.toBe("");
    // The next cell has the focus: type straight into it.
    await page.keyboard.insertText("import matplotlib.pyplot as plt\nplt.plot([1, 2, 3], [1, 4, 9])\nx + 1");
    await runCell(page, 2);
    const second = page.locator("#cells .cell").nth(1);
    expect(await second.locator(".badge").getAttribute("data-status")).toBe("OK");
    expect(await second.locator(".facts").textContent()).toContain("Value42");
    const plot = second.locator(".artifact-image");
    await expect.poll(() => plot.evaluate((element: { naturalWidth: number }) => element.naturalWidth)).toBeGreaterThan(100);
    // Rich results: a DataFrame's table, and hostile HTML shown as its text only, never run.
    const hostile = `<img src=x onerror="document.title='pwned'"><script>document.title='pwned'</script><b>kept</b>`;
    await page.keyboard.insertText(
      `import pandas as pd\nclass Hostile:\n    def _repr_html_(self):\n        return """${hostile}"""\n\ndisplay(Hostile())\npd.DataFrame({'a': [1, 2]})`,
    );
    await runCell(page, 3);
    const third = page.locator("#cells .cell").nth(2);
    expect(await third.locator(".cell-result").count()).toBe(2);
    expect(await third.locator(".result-html b").textContent()).toBe("kept");
    expect(await third.locator(".result-html img, .result-html script").count()).toBe(0);
    expect(await third.locator(".main-result table td").allTextContents()).toEqual(["1", "2"]);
    expect(await page.title()).not.toBe("pwned");
    // An exception is named with its class.
    await page.keyboard.insertText("{}['missing']");
    await runCell(page, 4);
    expect(await page.locator("#cells .cell").nth(3).locator(".facts").textContent()).toContain("ExceptionKeyError: 'missing'");
    await page.screenshot({ path: join(screenshots, "notebook.png"), fullPage: true });
    await page.click("#close-session");
    await expect.poll(() => text(page, "#session-status")).toContain("Session closed");
    await page.context().close();
  });
});

describe("notebook mode in other languages", () => {
  it("keeps JavaScript's variables and shows a cell's completion value", async () => {
    const page = await notebookAfterFirstCell("javascript", "const base = 40;");
    await page.keyboard.insertText("base + 2");
    await runCell(page, 2);
    expect(await page.locator("#cells .cell").nth(1).locator(".facts").textContent()).toContain("Value42");
    expect(await text(page, "#session-status")).toContain("variables and files kept between cells");
    await page.click("#close-session");
    await page.context().close();
  });

  it("keeps the session's files between cells for a language without an interpreter of its own (bash)", async () => {
    const page = await notebookAfterFirstCell("bash", "echo kept > note.txt");
    expect(await text(page, "#session-status")).toMatch(/bash on runc · files kept between cells/);
    await page.keyboard.insertText("cat note.txt");
    await runCell(page, 2);
    expect(await page.locator("#cells .cell").nth(1).locator(".cell-output").textContent()).toBe("kept\n");
    await page.click("#close-session");
    await page.context().close();
  });
});

describe("notebook mode when a cell is stopped and the page left", () => {
  it("stops a cell (CANCELLED), keeps the session for the next cell, and closes it when the page goes", async () => {
    const { page } = await openPlayground(aurea);
    await page.check("input[name='mode'][value='notebook']");
    await setCode(page, "import time\nprint('waiting', flush=True)\ntime.sleep(60)", "#cells .cell >> nth=0 >> .cm-content");
    await page.keyboard.press("Control+Enter");
    const first = page.locator("#cells .cell").nth(0);
    await expect.poll(() => first.locator(".cell-output").textContent(), { timeout: 60_000, interval: 50 }).toContain("waiting");
    const sessionId = await page.getAttribute("#session-status", "data-session-id");
    await page.click("#stop");
    await page.waitForSelector("body[data-running='false']");
    expect(await first.locator(".badge").getAttribute("data-status")).toBe("CANCELLED");
    // The same session runs the next cell.
    await page.click("#add-cell");
    await page.keyboard.insertText("print('after the stop')");
    await runCell(page, 2);
    const second = page.locator("#cells .cell").nth(1);
    expect(await second.locator(".badge").getAttribute("data-status")).toBe("OK");
    expect(await second.locator(".cell-output").textContent()).toBe("after the stop\n");
    expect(await page.getAttribute("#session-status", "data-session-id")).toBe(sessionId);
    const openSessions = async () => ((await (await fetch(`${aurea.baseUrl}/health`)).json()) as { sessions: number }).sessions;
    expect(await openSessions()).toBe(1);
    await page.close({ runBeforeUnload: true });
    await expect.poll(openSessions, { timeout: 15_000 }).toBe(0);
  });
});

describe("sharing, keyboard and phone width", () => {
  it("keeps the code written for each language as a draft to come back to", async () => {
    const { page } = await openPlayground(aurea);
    await setCode(page, "print('my python draft')");
    await page.selectOption("#language", "ruby");
    expect(await editorText(page)).toBe("puts 'Hello, world!'");
    await page.selectOption("#language", "python");
    expect(await editorText(page)).toBe("print('my python draft')");
    await page.context().close();
  });

  it("makes a link that opens the same code, language, stdin, args and text files in another tab", async () => {
    const { page, context } = await openPlayground(aurea);
    await page.selectOption("#language", "ruby");
    const code = "puts 'shared ✓ ' + (2 + 3).to_s + ' ' + ARGV.join('|') + ' ' + File.read('data.txt')";
    await setCode(page, code);
    await page.fill("#stdin", "input line\n");
    await page.fill("#args", "one arg\ntwo");
    await page.fill("#new-file-name", "data.txt");
    await page.press("#new-file-name", "Enter");
    await setCode(page, "from a file");
    await page.setInputFiles("#upload-files", {
      name: "raw.bin",
      mimeType: "application/octet-stream",
      buffer: Buffer.from([0xff]),
    });
    await page.click("#share");
    const link = (await page.inputValue("#share-link")) ?? "";
    expect(link.startsWith(`${aurea.baseUrl}/#`)).toBe(true);
    // The note is written once the clipboard has answered, a moment after the link.
    await page.locator("#share-note", { hasText: "Binary files are not in the link: raw.bin." }).waitFor({ timeout: 5000 });
    await context.close();
    const other = await openPlayground(aurea, { path: link.slice(aurea.baseUrl.length) });
    expect(await other.page.inputValue("#language")).toBe("ruby");
    expect(await editorText(other.page)).toBe(code);
    expect(await other.page.inputValue("#stdin")).toBe("input line\n");
    expect(await other.page.inputValue("#args")).toBe("one arg\ntwo");
    expect(await other.page.locator("#file-tabs .tab").allTextContents()).toEqual(["main.rb", "data.txt"]);
    expect(await run(other.page)).toBe("OK");
    expect(await text(other.page, "#output")).toBe("shared ✓ 5 one arg|two from a file\n");
    await other.context.close();
  });

  it("fits a phone's width with nothing cut off sideways, and runs from the keyboard alone", async () => {
    const { page } = await openPlayground(aurea, { viewport: { width: 390, height: 844 } });
    const overflow = await page.evaluate("document.documentElement.scrollWidth - window.innerWidth");
    expect(overflow).toBeLessThanOrEqual(0);
    // Keyboard only: Tab reaches the language picker and the editor; Ctrl+Enter runs.
    await page.focus("#language");
    await page.keyboard.press("Tab");
    expect(await page.evaluate("document.activeElement.id")).toBe("runtime");
    // Tab is never trapped in the editor: it moves on to the next control.
    await page.focus("#editor .cm-content");
    await page.keyboard.press("Tab");
    expect(await page.evaluate("document.activeElement.closest('.cm-editor') === null")).toBe(true);
    await page.focus("#editor .cm-content");
    await page.keyboard.press("Control+A");
    await page.keyboard.insertText("print('from the keyboard')");
    await page.keyboard.press("Control+Enter");
    expect(await verdictAfterRun(page)).toBe("OK");
    expect(await page.evaluate("document.documentElement.scrollWidth - window.innerWidth")).toBeLessThanOrEqual(0);
    await page.screenshot({ path: join(screenshots, "phone.png"), fullPage: true });
    await page.context().close();
  });
});

describe("API keys", () => {
  it("asks for a key, refuses a wrong one, runs with the right one and keeps it in the tab only", async () => {
    const keyed = await startAurea({ API_KEYS: `playground:${apiKey}` });
    try {
      const { page, context } = await openPlayground(keyed);
      expect(await page.getAttribute("body", "data-ready")).toBe("error");
      expect(await text(page, "#server-status")).toMatch(/Unauthenticated.*enter it above/);
      // Nothing runs without the server's languages, and the cursor waits in the key field.
      expect(await page.isDisabled("#run")).toBe(true);
      expect(await page.evaluate("document.activeElement.id")).toBe("api-key");
      await page.screenshot({ path: join(screenshots, "key-required.png"), fullPage: true });

      await page.fill("#api-key", "not-the-key-0123456789");
      await page.dispatchEvent("#api-key", "change");
      await expect.poll(() => text(page, "#server-status"), { timeout: 30_000 }).toContain("refused");
      expect(await text(page, "#server-status")).toMatch(/Unauthenticated.*refused this API key/);

      await page.fill("#api-key", apiKey);
      await page.dispatchEvent("#api-key", "change");
      await page.waitForSelector("body[data-ready='true']");
      await setCode(page, "print('keyed')");
      expect(await run(page)).toBe("OK");
      expect(await text(page, "#output")).toBe("keyed\n");

      // The key stays with the tab (a reload keeps it) and nowhere else: not in localStorage, not in the URL.
      await page.reload();
      await page.waitForSelector("body[data-ready='true']");
      expect(await page.inputValue("#api-key")).toBe(apiKey);
      expect(await page.evaluate("JSON.stringify(localStorage)")).toBe("{}");
      expect(page.url()).not.toContain(apiKey);
      const otherTab = await context.newPage();
      await otherTab.goto(`${keyed.baseUrl}/`);
      await otherTab.waitForSelector("body[data-ready]");
      expect(await otherTab.inputValue("#api-key")).toBe("");
      await context.close();
    } finally {
      await keyed.stop();
    }
  });
});
