import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/**
 * Aurea's version from its package.json, found by walking up from this module (the same code runs
 * from src/ under vitest and from dist/src/ when built).
 */
export function readAureaVersion(): string {
  let directory = dirname(fileURLToPath(import.meta.url));
  for (let depth = 0; depth < 5; depth++) {
    const candidate = join(directory, "package.json");
    if (existsSync(candidate)) {
      const manifest = JSON.parse(readFileSync(candidate, "utf8")) as { name?: string; version?: string };
      if (manifest.name === "aurea") return manifest.version ?? "0.0.0";
    }
    directory = dirname(directory);
  }
  return "0.0.0";
}
