import { join } from "node:path";
import { fileURLToPath } from "node:url";

/** The repository's top folder (languages/, images/, Dockerfile.sandbox), from src/ or from dist/src/. */
export function repositoryRoot(): string {
  const here = fileURLToPath(new URL(".", import.meta.url));
  return here.includes("/dist/src/") ? join(here, "../../..") : join(here, "../..");
}
