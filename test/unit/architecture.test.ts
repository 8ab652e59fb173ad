import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, normalize, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

/**
 * The floors of src/, kept true by reading every import: each folder may import only the folders
 * below it, and no two files import each other, directly or round a circle. docs/architecture.md
 * names what each floor owns.
 */

const src = fileURLToPath(new URL("../../src/", import.meta.url));

/** What each folder may import, besides itself and its libraries. "." is src/ itself (main, app). */
const allowed: Readonly<Record<string, readonly string[]>> = {
  log: [],
  sandbox: [],
  config: ["sandbox"],
  docker: ["sandbox", "log"],
  // Egress (the gateway, each run's network) sits on the engine's clients; runs and sessions use it.
  egress: ["sandbox", "docker", "log"],
  runner: ["sandbox", "docker", "egress", "config", "log"],
  session: ["sandbox", "docker", "runner", "egress", "log"],
  service: ["sandbox", "docker", "runner", "session", "egress", "config", "log"],
  // The MCP tools speak to the API as any client does: generated types and a Connect client only.
  mcp: ["config", "log"],
  server: ["service", "mcp", "sandbox", "config", "log"],
  ".": ["sandbox", "docker", "egress", "runner", "session", "service", "server", "mcp", "config", "log"],
};

function sourceFiles(folder: string): string[] {
  return readdirSync(folder, { withFileTypes: true }).flatMap((entry) => {
    const path = join(folder, entry.name);
    if (entry.isDirectory()) return sourceFiles(path);
    return entry.name.endsWith(".ts") ? [path] : [];
  });
}

/** Every file of src/ with the files of src/ it imports (relative imports; gen/ and packages are not src/). */
function importGraph(): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  for (const file of sourceFiles(src)) {
    const text = readFileSync(file, "utf8");
    const targets = [...text.matchAll(/^(?:import|export)\b[^;]*?\bfrom\s+"(\.[^"]+)"/gms)]
      .map((match) => normalize(join(dirname(file), match[1]!)).replace(/\.js$/, ".ts"))
      .filter((target) => target.startsWith(src));
    graph.set(
      relative(src, file),
      targets.map((target) => relative(src, target)),
    );
  }
  return graph;
}

const folderOf = (file: string) => (dirname(file) === "." ? "." : file.split("/")[0]!);

describe("the floors of src/", () => {
  const graph = importGraph();

  it("reads a real graph", () => {
    expect(graph.size).toBeGreaterThan(50);
    expect(graph.get("docker/container-options.ts")).toContain("sandbox/limits.ts");
  });

  it("has each folder import only the floors below it", () => {
    const upward: string[] = [];
    for (const [file, targets] of graph) {
      const from = folderOf(file);
      expect(allowed[from], `src/${from}/ has no floor in this test: add it`).toBeDefined();
      for (const target of targets) {
        const to = folderOf(target);
        if (to !== from && !allowed[from]!.includes(to)) upward.push(`${file} -> ${target}`);
      }
    }
    expect(upward).toEqual([]);
  });

  it("has no import cycle between files", () => {
    const cycles: string[] = [];
    const done = new Set<string>();
    const path: string[] = [];
    const visit = (file: string) => {
      if (path.includes(file)) {
        cycles.push([...path.slice(path.indexOf(file)), file].join(" -> "));
        return;
      }
      if (done.has(file)) return;
      path.push(file);
      for (const target of graph.get(file) ?? []) visit(target);
      path.pop();
      done.add(file);
    };
    for (const file of graph.keys()) visit(file);
    expect(cycles).toEqual([]);
  });
});

describe("the size of a file", () => {
  it("is at most 400 lines in src/ and playground/src/: past it, a file holds more than one thing", () => {
    const roots = [src, fileURLToPath(new URL("../../playground/src/", import.meta.url))];
    const files = (folder: string): string[] =>
      readdirSync(folder, { withFileTypes: true }).flatMap((entry) =>
        entry.isDirectory() ? files(join(folder, entry.name)) : [join(folder, entry.name)],
      );
    const long = roots
      .flatMap(files)
      .map((file) => ({ file, lines: readFileSync(file, "utf8").split("\n").length - 1 }))
      .filter(({ lines }) => lines > 400);
    expect(long).toEqual([]);
  });
});
