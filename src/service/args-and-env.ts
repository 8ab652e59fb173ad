/**
 * A program's arguments and environment, checked alike for runs, test cases and execs: every
 * problem named by its field path, the accepted values returned.
 */

const maxArgs = 256;
const maxEnvEntries = 128;
const maxValueBytes = 32 * 1024;

/** A program's arguments: `field` names the list in violations (`args`, `tests[2].args`). */
export function validateArgs(
  args: readonly string[],
  violate: (field: string, description: string) => void,
  field = "args",
): string[] {
  if (args.length > maxArgs) {
    violate(field, `has ${args.length} entries; at most ${maxArgs} are allowed`);
    return [];
  }
  args.forEach((arg, index) => {
    if (arg.includes("\u0000")) violate(`${field}[${index}]`, "contains a NUL character");
    else if (Buffer.byteLength(arg, "utf8") > maxValueBytes)
      violate(`${field}[${index}]`, `is longer than ${maxValueBytes} bytes`);
  });
  return [...args];
}

/** `NAME=value` entries from a request's env map, each checked. */
export function validateEnv(
  env: Readonly<Record<string, string>>,
  violate: (field: string, description: string) => void,
): string[] {
  const names = Object.keys(env);
  if (names.length > maxEnvEntries) {
    violate("env", `has ${names.length} entries; at most ${maxEnvEntries} are allowed`);
    return [];
  }
  const entries: string[] = [];
  for (const name of names) {
    const value = env[name] ?? "";
    const field = `env[${JSON.stringify(name)}]`;
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) violate(field, "name must match [A-Za-z_][A-Za-z0-9_]*");
    else if (value.includes("\u0000")) violate(field, "value contains a NUL character");
    else if (Buffer.byteLength(value, "utf8") > maxValueBytes) violate(field, `value is longer than ${maxValueBytes} bytes`);
    else entries.push(`${name}=${value}`);
  }
  return entries;
}
