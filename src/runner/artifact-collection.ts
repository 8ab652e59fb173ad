import { extract } from "tar-stream";
import type { ArtifactCaps } from "../sandbox/supervisor-protocol.js";
import type { WorkspaceFile } from "./workspace-archive.js";

export type ArtifactSkipReason =
  | "symlink"
  | "special_file"
  | "hard_link"
  | "too_large"
  | "too_many"
  | "total_size"
  | "bad_name"
  | "not_collected"
  /** A path a session's ReadFiles named that does not exist. */
  | "not_found";

export interface SkippedArtifact {
  readonly name: string;
  readonly reason: ArtifactSkipReason;
}

export interface ArtifactCollection {
  /** Created or changed regular files, by workspace-relative name. */
  readonly files: ReadonlyMap<string, Buffer>;
  /** What was left out and why, at most `maxSkippedListed` entries. */
  readonly skipped: readonly SkippedArtifact[];
  /** True when anything was left out for a cap. */
  readonly truncated: boolean;
  /** Names of the files in `files` with an execute bit set (what a compiler made to be run). */
  readonly executables: ReadonlySet<string>;
}

/** Most skipped entries a response lists. */
export const maxSkippedListed = 100;

interface ManifestEntry {
  readonly type: string;
  readonly size: number;
  readonly name: string | undefined;
  readonly rawName: string;
}

const strictUtf8 = new TextDecoder("utf-8", { fatal: true });

/**
 * Reads what the supervisor sent after its report line: a manifest of every non-directory the
 * program created or changed (records `type size name`, NUL-terminated, ended by an empty
 * record), then a tar of the regular files that fit the per-file cap. Nothing here touches a
 * file system: tar entries are read into memory and only regular files are kept, so links are
 * never followed. Caps are enforced again here, whatever the tar claims.
 */
export async function collectArtifacts(
  payload: Buffer,
  caps: ArtifactCaps,
  inputs: readonly WorkspaceFile[],
): Promise<ArtifactCollection> {
  const { entries, tarStart, complete } = parseManifest(payload);
  const skipped: SkippedArtifact[] = [];
  let truncated = false;
  const skip = (name: string, reason: ArtifactSkipReason) => {
    if (!["symlink", "special_file", "hard_link", "bad_name", "not_found"].includes(reason)) {
      truncated = true;
    }
    if (skipped.length < maxSkippedListed) skipped.push({ name, reason });
  };
  // The supervisor ends the manifest with an empty record; without it, it could not list the
  // workspace at all, and an empty answer would pass for "no artifacts".
  if (!complete) skip("", "not_collected");

  const expected = new Set<string>();
  for (const entry of entries) {
    if (entry.name === undefined) {
      skip(entry.rawName, "bad_name");
    } else if (entry.type === "-") {
      skip(entry.name, "not_found");
    } else if (entry.type === "l") {
      skip(entry.name, "symlink");
    } else if (entry.type !== "f") {
      skip(entry.name, "special_file");
    } else if (entry.size > caps.maxFileBytes) {
      skip(entry.name, "too_large");
    } else if (expected.size >= caps.maxFiles) {
      skip(entry.name, "too_many");
    } else {
      expected.add(entry.name);
    }
  }
  if (entries.length >= caps.maxFiles + 100) truncated = true;

  const files = new Map<string, Buffer>();
  const executables = new Set<string>();
  let totalBytes = 0;
  await readTar(payload.subarray(tarStart), async (name, type, size, body, mode) => {
    if (!expected.has(name)) return;
    if (type !== "file") {
      // tar stores a second name of a file as a link entry; anything else that is not a regular
      // file contradicts the manifest and is dropped just the same.
      expected.delete(name);
      skip(name, type === "link" ? "hard_link" : type === "symlink" ? "symlink" : "special_file");
      return;
    }
    if (size > caps.maxFileBytes) return;
    const content = await body();
    if (totalBytes + content.length > caps.maxTotalBytes) return;
    totalBytes += content.length;
    files.set(name, content);
    if ((mode & 0o111) !== 0) executables.add(name);
  });
  for (const name of expected) {
    if (!files.has(name)) skip(name, "total_size");
  }

  // Files still exactly as the request sent them are inputs, not artifacts.
  for (const input of inputs) {
    const content = files.get(input.name);
    if (content && Buffer.from(input.content).equals(content)) files.delete(input.name);
  }
  return { files, skipped, truncated, executables };
}

function parseManifest(payload: Buffer): { entries: ManifestEntry[]; tarStart: number; complete: boolean } {
  const entries: ManifestEntry[] = [];
  let offset = 0;
  for (;;) {
    const end = payload.indexOf(0, offset);
    if (end < 0) return { entries, tarStart: payload.length, complete: false };
    const record = payload.subarray(offset, end);
    offset = end + 1;
    if (record.length === 0) return { entries, tarStart: offset, complete: true };
    const firstSpace = record.indexOf(0x20);
    const secondSpace = record.indexOf(0x20, firstSpace + 1);
    if (firstSpace < 0 || secondSpace < 0) continue;
    const nameBytes = record.subarray(secondSpace + 1);
    let name: string | undefined;
    try {
      name = strictUtf8.decode(nameBytes);
    } catch {
      name = undefined;
    }
    entries.push({
      type: record.subarray(0, firstSpace).toString("latin1"),
      size: Number(record.subarray(firstSpace + 1, secondSpace).toString("latin1")),
      name,
      rawName: new TextDecoder("utf-8").decode(nameBytes),
    });
  }
}

type EntryVisitor = (name: string, type: string, size: number, body: () => Promise<Buffer>, mode: number) => Promise<void>;

/** Visits each entry of a (possibly cut-off) tar held in memory; a cut-off last entry is dropped. */
async function readTar(tar: Buffer, visit: EntryVisitor): Promise<void> {
  if (tar.length === 0) return;
  const extractor = extract();
  extractor.end(tar);
  try {
    for await (const entry of extractor) {
      const { name, type, size, mode } = entry.header;
      let consumed = false;
      const body = async () => {
        consumed = true;
        const chunks: Buffer[] = [];
        for await (const chunk of entry) chunks.push(chunk as Buffer);
        return Buffer.concat(chunks);
      };
      await visit(name, type ?? "file", size ?? 0, body, mode ?? 0);
      if (!consumed) entry.resume();
    }
  } catch {
    // A tar cut short by the supervisor's byte cap ends in the middle of an entry; the entries
    // before it were complete and are kept, the rest are reported as skipped by the caller.
  }
}
