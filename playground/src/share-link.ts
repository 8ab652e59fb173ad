/**
 * The part of a shared link after `#`: the language and the code, and when there are any the
 * stdin, the arguments and the other text files, so a run can be passed on as it was set up. The
 * fragment never reaches any server. Pure, unit-tested.
 */

export interface SharedProgram {
  readonly language: string;
  readonly code: string;
  readonly stdin: string;
  readonly args: readonly string[];
  /** The other text files by name (binary files are not carried). */
  readonly files: Readonly<Record<string, string>>;
}

/**
 * `language=python&code=<base64url of the UTF-8 code>`, then `stdin=` and `args=` (the arguments
 * one per line) likewise when not empty, and a `file=<base64url name>.<base64url content>` per
 * file (base64url has no `.`). Links made before args and files existed decode the same.
 */
export function encodeShareFragment(program: SharedProgram): string {
  const parameters = new URLSearchParams({ language: program.language, code: toBase64Url(program.code) });
  if (program.stdin !== "") parameters.set("stdin", toBase64Url(program.stdin));
  if (program.args.length > 0) parameters.set("args", toBase64Url(program.args.join("\n")));
  for (const [name, content] of Object.entries(program.files)) {
    parameters.append("file", `${toBase64Url(name)}.${toBase64Url(content)}`);
  }
  return parameters.toString();
}

/** The program a fragment carries, or undefined for a fragment that carries none or is damaged. */
export function decodeShareFragment(fragment: string): SharedProgram | undefined {
  const parameters = new URLSearchParams(fragment.replace(/^#/, ""));
  const language = parameters.get("language");
  const code = parameters.get("code");
  if (!language || code === null || !/^[a-z][a-z0-9+#.-]{0,31}$/.test(language)) return undefined;
  try {
    const args = parameters.get("args");
    const files: Record<string, string> = {};
    for (const file of parameters.getAll("file")) {
      const [name, content, extra] = file.split(".");
      if (name === undefined || content === undefined || extra !== undefined) return undefined;
      const decodedName = fromBase64Url(name);
      // The server checks names itself; this only keeps the page's own tabs sensible.
      if (decodedName === "" || Object.hasOwn(files, decodedName)) return undefined;
      files[decodedName] = fromBase64Url(content);
    }
    return {
      language,
      code: fromBase64Url(code),
      stdin: fromBase64Url(parameters.get("stdin") ?? ""),
      args: args === null ? [] : fromBase64Url(args).split("\n"),
      files,
    };
  } catch {
    return undefined;
  }
}

function toBase64Url(text: string): string {
  let binary = "";
  for (const byte of new TextEncoder().encode(text)) binary += String.fromCharCode(byte);
  return btoa(binary).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
}

function fromBase64Url(encoded: string): string {
  const binary = atob(encoded.replaceAll("-", "+").replaceAll("_", "/"));
  const bytes = Uint8Array.from(binary, (character) => character.charCodeAt(0));
  return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
}
