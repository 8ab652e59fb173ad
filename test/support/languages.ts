import { loadLanguageRegistry } from "../../src/runner/languages.js";

/** The repository's languages (languages/), read and checked once for the tests, as app.ts does at start. */
export const repositoryLanguages = loadLanguageRegistry();
