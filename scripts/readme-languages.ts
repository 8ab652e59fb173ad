/**
 * Writes README.md's language table from the data files under languages/ and the versions the
 * images themselves report (through ListLanguages of a server started for the purpose):
 *
 *   npm run readme:languages
 *
 * test/integration/readme-languages.test.ts fails when the README's table differs from what this
 * would write, so the table cannot drift from the data files or the images.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { repositoryRoot } from "../src/config/repository.js";
import type { Language } from "../src/runner/languages.js";

export const tableStart = "<!-- languages:start (npm run readme:languages) -->";
export const tableEnd = "<!-- languages:end -->";

const escapeCell = (text: string) => text.replaceAll("|", "\\|");

/** The Markdown table: one row per language, with the version its image reports. */
export function renderLanguageTable(languages: readonly Language[], versionOf: (name: string) => string): string {
  const rows = languages.map((language) => {
    const compile = language.compile ? `\`${escapeCell(language.compile.command.join(" "))}\`` : "";
    const aliases = language.aliases.map((alias) => `\`${escapeCell(alias)}\``).join(" ");
    const version = escapeCell(versionOf(language.name) || "(not read)");
    const note = language.note ? escapeCell(language.note) : "";
    return `| \`${language.name}\` | ${escapeCell(language.title)} | ${aliases} | ${language.family} | ${version} | ${compile} | \`${escapeCell(language.command.join(" "))}\` | ${language.warmLoader ? "yes" : ""} | ${note} |`;
  });
  return [
    "| `language` | Language | Aliases | Family | Version (as the image reports it) | Compile | Run | Warm | Note |",
    "|---|---|---|---|---|---|---|---|---|",
    ...rows,
  ].join("\n");
}

/** README.md with its language table replaced by `table`. */
export function withLanguageTable(readme: string, table: string): string {
  const start = readme.indexOf(tableStart);
  const end = readme.indexOf(tableEnd);
  if (start < 0 || end < start) throw new Error(`README.md has no ${tableStart} ... ${tableEnd} section`);
  return `${readme.slice(0, start + tableStart.length)}\n${table}\n${readme.slice(end)}`;
}

async function main(): Promise<void> {
  const { create } = await import("@bufbuild/protobuf");
  const { createClient } = await import("@connectrpc/connect");
  const { createGrpcTransport } = await import("@connectrpc/connect-node");
  const { ListLanguagesRequestSchema, SandboxService } = await import("../gen/aurea/sandbox/v1/sandbox_pb.js");
  const { loadLanguageRegistry } = await import("../src/runner/languages.js");
  const { spawnServer } = await import("../bench/support/spawn-server.js");
  const server = await spawnServer({ SANDBOX_BUILD_ON_START: "false", WARM_POOL_SIZE: "0" });
  try {
    const client = createClient(SandboxService, createGrpcTransport({ baseUrl: `http://127.0.0.1:${server.port}` }));
    const { languages } = await client.listLanguages(create(ListLanguagesRequestSchema, {}), { timeoutMs: 600_000 });
    const versions = new Map(languages.map((language) => [language.name, language.version]));
    const path = join(repositoryRoot(), "README.md");
    const table = renderLanguageTable(loadLanguageRegistry().all(), (name) => versions.get(name) ?? "");
    writeFileSync(path, withLanguageTable(readFileSync(path, "utf8"), table));
    console.log(`README.md: ${languages.length} languages`);
  } finally {
    await server.stop();
  }
}

if (process.argv[1]?.endsWith("readme-languages.js")) await main();
