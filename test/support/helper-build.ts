import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { chmodSync, copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { repositoryRoot } from "../../src/config/repository.js";

const flags = [
  "-std=c11",
  "-g",
  "-O1",
  "-Wall",
  "-Wextra",
  "-Werror",
  "-fsanitize=address,undefined",
  "-fno-sanitize-recover=all",
  "-fno-omit-frame-pointer",
];

/**
 * Compiles one of Aurea's C helpers (images/helper/NAME.c) with the host's gcc, under
 * AddressSanitizer and UndefinedBehaviorSanitizer (the first report aborts the program, so any
 * fails the test), with the warnings the image's build makes errors; returns the path of a copy in
 * `dir`. Builds are kept in the system's temporary directory by a hash of every helper source and
 * the flags, so a run after the first compiles only what changed (the sanitizer builds were a
 * tenth of the unit suite's time).
 */
export function buildHelperWithSanitizers(name: string, dir: string): string {
  const sources = join(repositoryRoot(), "images", "helper");
  const hash = createHash("sha256").update(flags.join(" "));
  for (const file of readdirSync(sources).sort()) hash.update(file).update(readFileSync(join(sources, file)));
  const cache = join(tmpdir(), "aurea-helper-builds");
  // Traversable by the program's uid: some tests run the helper as that user.
  mkdirSync(cache, { recursive: true, mode: 0o755 });
  chmodSync(cache, 0o755);
  const built = join(cache, `${name}-${hash.digest("hex").slice(0, 16)}`);
  if (!existsSync(built)) {
    // Built under a name of its own, then renamed: test files building at once never see half a binary.
    const partial = `${built}.${process.pid}`;
    execFileSync("gcc", [...flags, "-o", partial, join(sources, `${name}.c`)]);
    renameSync(partial, built);
  }
  const binary = join(dir, name);
  copyFileSync(built, binary);
  chmodSync(binary, 0o755);
  return binary;
}
