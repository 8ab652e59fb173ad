import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";

const repoRoot = fileURLToPath(new URL("../..", import.meta.url));
const buf = fileURLToPath(new URL("../../node_modules/.bin/buf", import.meta.url));

/**
 * Runs `buf curl` (from the @bufbuild/buf devDependency) against a local server and returns the
 * JSON messages it printed, one object per response message.
 */
export function bufCurl(args: readonly string[], timeoutMs = 30_000): Promise<Record<string, unknown>[]> {
  return new Promise((resolve, reject) => {
    execFile(buf, ["curl", ...args], { cwd: repoRoot, timeout: timeoutMs }, (error, stdout, stderr) => {
      if (error) {
        reject(new Error(`buf curl failed: ${error.message}\n${stderr}`));
        return;
      }
      resolve(splitJsonObjects(stdout));
    });
  });
}

/** buf curl prints each message as pretty JSON, one after another. */
function splitJsonObjects(text: string): Record<string, unknown>[] {
  const objects: Record<string, unknown>[] = [];
  let depth = 0;
  let start = -1;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const char = text[i];
    if (inString) {
      if (char === "\\") i++;
      else if (char === '"') inString = false;
      continue;
    }
    if (char === '"') inString = true;
    else if (char === "{") {
      if (depth === 0) start = i;
      depth++;
    } else if (char === "}") {
      depth--;
      if (depth === 0) objects.push(JSON.parse(text.slice(start, i + 1)) as Record<string, unknown>);
    }
  }
  return objects;
}
