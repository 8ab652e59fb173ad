import { accessSync, constants, readFileSync } from "node:fs";
import { delimiter, join } from "node:path";

/**
 * The tools some tests need besides Node.js and the engine, as scripts/test-tools.txt lists them
 * (the one list; scripts/prepare-tests.sh installs from it). A test that needs one calls
 * `requireTool` first, so a missing tool fails that test at once with its name and the command
 * that installs it, instead of a timeout or a NaN exit code further on.
 */

interface TestTool {
  readonly command: string;
  readonly debianPackage: string;
  readonly suite: string;
  readonly neededBy: string;
}

const listPath = new URL("../../scripts/test-tools.txt", import.meta.url);

export function readTestTools(text = readFileSync(listPath, "utf8")): TestTool[] {
  return text
    .split("\n")
    .filter((line) => line.trim() !== "" && !line.startsWith("#"))
    .map((line) => {
      const [command, debianPackage, suite, ...neededBy] = line.trim().split(/\s+/);
      if (!command || !debianPackage || !suite) throw new Error(`scripts/test-tools.txt: malformed line "${line}"`);
      return { command, debianPackage, suite, neededBy: neededBy.join(" ") };
    });
}

/** The command that installs a tool on Debian, as prepare-tests.sh would. */
export function installCommand(tool: TestTool): string {
  const name = tool.suite === "trixie" ? `${tool.debianPackage}/trixie` : tool.debianPackage;
  return `apt-get install ${name}${tool.suite === "trixie" ? " (with Debian 13 as a suite: scripts/debian-trixie.sh)" : ""}`;
}

/** Whether `command` is an executable file in one of PATH's folders. */
export function onPath(command: string, path = process.env.PATH ?? ""): boolean {
  return path.split(delimiter).some((folder) => {
    if (folder === "") return false;
    try {
      accessSync(join(folder, command), constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

/** Throws, naming the tool and how to install it, when `command` is not installed. */
export function requireTool(command: string, path = process.env.PATH ?? ""): void {
  if (onPath(command, path)) return;
  const tool = readTestTools().find((candidate) => candidate.command === command);
  if (!tool) throw new Error(`${command} is not installed, and scripts/test-tools.txt does not list it`);
  throw new Error(
    `${command} is not installed (needed by ${tool.neededBy}): run \`bash scripts/prepare-tests.sh\` as root, ` +
      `or \`${installCommand(tool)}\``,
  );
}
