/**
 * The part of a shared link after `#`: the language and the code (and stdin when there is any),
 * so a run can be passed on. The fragment never reaches any server. Pure, unit-tested.
 */

export interface SharedProgram {
  readonly language: string;
  readonly code: string;
  readonly stdin: string;
}

/** `language=python&code=<base64url of the UTF-8 code>` (and `stdin=` likewise when not empty). */
export function encodeShareFragment(program: SharedProgram): string {
  const parameters = new URLSearchParams({ language: program.language, code: toBase64Url(program.code) });
  if (program.stdin !== "") parameters.set("stdin", toBase64Url(program.stdin));
  return parameters.toString();
}

/** The program a fragment carries, or undefined for a fragment that carries none or is damaged. */
export function decodeShareFragment(fragment: string): SharedProgram | undefined {
  const parameters = new URLSearchParams(fragment.replace(/^#/, ""));
  const language = parameters.get("language");
  const code = parameters.get("code");
  if (!language || code === null || !/^[a-z][a-z0-9+#.-]{0,31}$/.test(language)) return undefined;
  try {
    return { language, code: fromBase64Url(code), stdin: fromBase64Url(parameters.get("stdin") ?? "") };
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
