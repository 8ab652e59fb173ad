import { execFileSync } from "node:child_process";
import { join } from "node:path";
import { repositoryRoot } from "../../src/config/repository.js";

/**
 * Compiles one of Aurea's C helpers (images/helper/NAME.c) into `dir` with the host's gcc, under
 * AddressSanitizer and UndefinedBehaviorSanitizer (the first report aborts the program, so any
 * fails the test), with the warnings the image's build makes errors; returns the binary's path.
 */
export function buildHelperWithSanitizers(name: string, dir: string): string {
  const binary = join(dir, name);
  execFileSync("gcc", [
    "-std=c11",
    "-g",
    "-O1",
    "-Wall",
    "-Wextra",
    "-Werror",
    "-fsanitize=address,undefined",
    "-fno-sanitize-recover=all",
    "-fno-omit-frame-pointer",
    "-o",
    binary,
    join(repositoryRoot(), "images", "helper", `${name}.c`),
  ]);
  return binary;
}
