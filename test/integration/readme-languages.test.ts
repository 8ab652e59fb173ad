import { readFileSync } from "node:fs";
import { join } from "node:path";
import { expect, it } from "vitest";
import { renderLanguageTable, tableEnd, tableStart } from "../../scripts/readme-languages.js";
import { repositoryRoot } from "../../src/config/repository.js";
import { repositoryLanguages } from "../support/languages.js";
import { useAurea } from "../support/aurea-server.js";

const server = useAurea();

/** The table's version column, cell 5 of each row. */
const versionColumn = 5;
/** A version down to its minor number: Debian's point releases must not make the README stale. */
const majorMinor = (version: string) => /\d+\.\d+/.exec(version)?.[0] ?? version;

it("README's language table is the data files' own, with the versions the images report (npm run readme:languages)", async () => {
  const languages = (await server.client.listLanguages()).languages as { name: string; version: string }[];
  const versions = new Map(languages.map((language) => [language.name, language.version]));
  const readme = readFileSync(join(repositoryRoot(), "README.md"), "utf8");
  const inReadme = readme
    .slice(readme.indexOf(tableStart) + tableStart.length, readme.indexOf(tableEnd))
    .trim()
    .split("\n");
  const expected = renderLanguageTable(repositoryLanguages.all(), (name) => versions.get(name) ?? "").split("\n");
  const stale = "README.md's language table is stale: run npm run readme:languages";
  expect(inReadme.length, stale).toBe(expected.length);
  for (const [index, row] of expected.entries()) {
    const cells = row.split(" | ");
    const readmeCells = (inReadme[index] ?? "").split(" | ");
    expect(
      readmeCells.map((cell, column) => (column === versionColumn ? majorMinor(cell) : cell)),
      stale,
    ).toEqual(cells.map((cell, column) => (column === versionColumn ? majorMinor(cell) : cell)));
  }
}, 300_000);
