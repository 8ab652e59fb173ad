import { existsSync } from "node:fs";
import { join } from "node:path";
import { repositoryRoot } from "../config/repository.js";
import { coreFamily, type LanguageRegistry } from "../runner/languages.js";

/**
 * Image families: each language runs in its family's image (languages/<name>.json says which).
 * The core family (python, javascript, bash) is Dockerfile.sandbox on a Debian base; every other
 * family is images/<family>.Dockerfile built FROM the core image, so all share one hardened base.
 * A family's image is named after the core image: aurea-sandbox:latest gives
 * aurea-sandbox-native:latest for the native family.
 */
export interface ImageFamily {
  readonly name: string;
  /** The image its languages run in. */
  readonly image: string;
  /** The Dockerfile it is built from. */
  readonly dockerfilePath: string;
  /** Names of the languages that run in it. */
  readonly languages: readonly string[];
}

/** The image of `family`, named after the core image (`repo:tag` → `repo-family:tag`). */
export function familyImage(coreImage: string, family: string): string {
  if (family === coreFamily) return coreImage;
  const slash = coreImage.lastIndexOf("/");
  const colon = coreImage.lastIndexOf(":");
  if (colon > slash) return `${coreImage.slice(0, colon)}-${family}${coreImage.slice(colon)}`;
  return `${coreImage}-${family}`;
}

/**
 * Every family the languages need, core first. Throws when a family has no Dockerfile, so a
 * language file naming a family nobody can build stops the server at start.
 */
export function imageFamilies(
  languages: LanguageRegistry,
  coreImage: string,
  coreDockerfile: string,
  root = repositoryRoot(),
): ImageFamily[] {
  const families = languages.families().map((name) => ({
    name,
    image: familyImage(coreImage, name),
    dockerfilePath: name === coreFamily ? coreDockerfile : join(root, "images", `${name}.Dockerfile`),
    languages: languages
      .all()
      .filter((language) => language.family === name)
      .map((language) => language.name),
  }));
  const missing = families.filter((family) => !existsSync(family.dockerfilePath));
  if (missing.length > 0) {
    throw new Error(
      `image families without a Dockerfile: ${missing.map((family) => `${family.name} (${family.dockerfilePath})`).join(", ")}`,
    );
  }
  return families;
}
