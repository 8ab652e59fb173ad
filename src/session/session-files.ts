import { type ArtifactCollection, collectArtifacts } from "../runner/artifact-collection.js";
import type { RunOutcome } from "../runner/run-spec.js";
import { buildWorkspaceArchive, type WorkspaceFile } from "../runner/workspace-archive.js";
import { workspaceFilesCommand } from "../sandbox/sandbox-scripts.js";
import { type ArtifactCaps, maxTrailerBytes } from "../sandbox/supervisor-protocol.js";
import { SessionFileError } from "./session-errors.js";

/**
 * A session's file calls (WriteFiles, ReadFiles, ListFiles): each is one helper run as an exec of
 * the session's own (`tar`, or sandbox/programs/workspace-files.py), as the program's user, so
 * it can reach nothing the session's programs cannot.
 */

/** Runs one helper in the session: argv, its stdin, the output it may write. */
export type FileCall = (argv: readonly string[], stdin: Uint8Array, outputLimit: number) => Promise<RunOutcome>;

/** Wall-clock limit of the session's own file calls (extracting, listing, reading). */
export const fileCallTimeoutMs = 60_000;

/** An entry of ListFiles. */
export interface ListedFile {
  readonly name: string;
  readonly type: "f" | "d" | "l" | "p";
  readonly size: number;
  readonly mtimeNs: number;
  readonly mode: number;
}

/** Places files in the workspace (replacing files of the same names); resolves with their names. */
export async function writeWorkspaceFiles(call: FileCall, files: readonly WorkspaceFile[]): Promise<string[]> {
  if (files.length === 0) return [];
  const archive = await buildWorkspaceArchive(files);
  const outcome = await call(["tar", "-x", "-m", "--no-same-owner", "--no-same-permissions", "-f", "-"], archive, 64 * 1024);
  if (outcome.verdict !== "ok") {
    throw new SessionFileError(`the files could not be written: ${outcome.stderr.toString("utf8").trim() || outcome.verdict}`);
  }
  return files.map((file) => file.name);
}

/** Reads files under the artifact rules: caps, no symbolic link followed. */
export async function readWorkspaceFiles(
  call: FileCall,
  paths: readonly string[],
  caps: ArtifactCaps,
): Promise<ArtifactCollection> {
  const outcome = await call(
    workspaceFilesCommand(["read", String(caps.maxFiles), String(caps.maxFileBytes), String(caps.maxTotalBytes), ...paths]),
    new Uint8Array(0),
    maxTrailerBytes(caps),
  );
  if (outcome.verdict !== "ok" && outcome.verdict !== "output_limit") {
    throw new SessionFileError(`the files could not be read: ${outcome.stderr.toString("utf8").trim() || outcome.verdict}`);
  }
  return collectArtifacts(outcome.stdout, caps, []);
}

/** Lists a directory of the workspace, without following symbolic links. */
export async function listWorkspace(
  call: FileCall,
  path: string,
  recursive: boolean,
  maxListed: number,
): Promise<{ entries: ListedFile[]; truncated: boolean }> {
  const outcome = await call(
    workspaceFilesCommand(["list", path, recursive ? "1" : "0", String(maxListed)]),
    new Uint8Array(0),
    // A listed entry is a few hundred bytes of JSON at most (names up to 1 KiB).
    maxListed * 1400 + 1024,
  );
  if (outcome.verdict !== "ok") {
    throw new SessionFileError(`the workspace could not be listed: ${outcome.stderr.toString("utf8").trim() || outcome.verdict}`);
  }
  const parsed = JSON.parse(outcome.stdout.toString("utf8")) as { entries: Record<string, unknown>[]; truncated: boolean };
  return {
    truncated: parsed.truncated === true,
    entries: parsed.entries.map((entry) => ({
      name: String(entry.name),
      type: (["f", "d", "l"].includes(String(entry.type)) ? entry.type : "p") as ListedFile["type"],
      size: Number(entry.size) || 0,
      mtimeNs: Number(entry.mtime_ns) || 0,
      mode: Number(entry.mode) || 0,
    })),
  };
}

/** What DeleteFiles did: the paths removed, and those left alone and why. */
export interface DeletedFiles {
  readonly deleted: string[];
  readonly missing: string[];
  readonly throughLink: string[];
}

/** Removes files and directories (with what is below them) from the workspace, following no link. */
export async function deleteWorkspaceFiles(call: FileCall, paths: readonly string[]): Promise<DeletedFiles> {
  const outcome = await call(workspaceFilesCommand(["delete", ...paths]), new Uint8Array(0), paths.length * 2100 + 1024);
  if (outcome.verdict !== "ok") {
    throw new SessionFileError(`the files could not be deleted: ${outcome.stderr.toString("utf8").trim() || outcome.verdict}`);
  }
  const done = JSON.parse(outcome.stdout.toString("utf8")) as { deleted: string[]; missing: string[]; through_link: string[] };
  return { deleted: done.deleted, missing: done.missing, throughLink: done.through_link };
}

/** A part of a file to read (ReadFiles' ranges); `length` 0 reads to the end. */
export interface FileRangeRequest {
  readonly path: string;
  readonly offset: number;
  readonly length: number;
}

/** What reading the ranges gave: a chunk per readable range, and why the others were not read. */
export interface ReadRanges {
  readonly chunks: { path: string; offset: number; data: Buffer; eof: boolean }[];
  readonly skipped: { path: string; why: "not_found" | "symlink" | "special" }[];
}

/** Reads parts of regular files, `maxTotalBytes` in all at most, following no link. */
export async function readWorkspaceRanges(
  call: FileCall,
  ranges: readonly FileRangeRequest[],
  maxTotalBytes: number,
): Promise<ReadRanges> {
  const argv = ranges.flatMap((range) => [range.path, String(range.offset), String(range.length)]);
  // The bytes, and a header line per range (a path of up to 1 KiB, quoted).
  const outputLimit = maxTotalBytes + ranges.length * 2200 + 1024;
  const outcome = await call(workspaceFilesCommand(["ranges", String(maxTotalBytes), ...argv]), new Uint8Array(0), outputLimit);
  if (outcome.verdict !== "ok") {
    throw new SessionFileError(`the files could not be read: ${outcome.stderr.toString("utf8").trim() || outcome.verdict}`);
  }
  const read: ReadRanges = { chunks: [], skipped: [] };
  let rest = outcome.stdout;
  while (rest.length > 0) {
    const newline = rest.indexOf(0x0a);
    const header = JSON.parse(rest.subarray(0, newline).toString("utf8")) as {
      path: string;
      offset: number;
      size?: number;
      eof?: boolean;
      skipped?: ReadRanges["skipped"][number]["why"];
    };
    const size = header.size ?? 0;
    const data = Buffer.from(rest.subarray(newline + 1, newline + 1 + size));
    rest = rest.subarray(newline + 1 + size);
    if (header.skipped) read.skipped.push({ path: header.path, why: header.skipped });
    else read.chunks.push({ path: header.path, offset: header.offset, data, eof: header.eof === true });
  }
  return read;
}

/**
 * The whole workspace as a tar (a snapshot): every entry, as the program's user sees it, at most
 * `maxBytes` of archive (the workspace's size and its headers).
 */
export async function archiveWorkspace(call: FileCall, workspaceBytes: number): Promise<Buffer> {
  // Headers and padding: 512 bytes an entry and a block at the end, on top of the contents.
  const maxBytes = workspaceBytes * 2 + 1024 * 1024;
  const outcome = await call(["tar", "-c", "-f", "-", "--numeric-owner", "."], new Uint8Array(), maxBytes);
  if (outcome.verdict !== "ok") {
    throw new SessionFileError(
      `the workspace could not be archived: ${outcome.stderr.toString("utf8").trim() || outcome.verdict}`,
    );
  }
  return outcome.stdout;
}

/** Unpacks a workspace archive (a snapshot's) into the workspace. */
export async function restoreWorkspace(call: FileCall, archive: Uint8Array): Promise<void> {
  const outcome = await call(["tar", "-x", "-m", "--no-same-owner", "-f", "-"], archive, 64 * 1024);
  if (outcome.verdict !== "ok") {
    throw new SessionFileError(
      `the snapshot's files could not be restored: ${outcome.stderr.toString("utf8").trim() || outcome.verdict}`,
    );
  }
}
