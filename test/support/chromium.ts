import { type Browser, chromium } from "playwright-core";
import { requireTool } from "./required-tools.js";

/** Debian's Chromium, installed by scripts/prepare-tests.sh; no browser is ever downloaded. */
export const chromiumPath = "/usr/bin/chromium";

/**
 * Headless Chromium for the browser tests: no sandbox (CI runs as root), no GPU, and none of the
 * background traffic (updates, sync, QUIC probes) that would reach off this machine.
 */
export async function launchChromium(): Promise<Browser> {
  requireTool("chromium");
  return chromium.launch({
    executablePath: chromiumPath,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
}
