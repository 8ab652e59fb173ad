import { pack } from "tar-stream";

/** One file to place in the workspace; `name` is already validated and normalised. */
export interface WorkspaceFile {
  readonly name: string;
  readonly content: Uint8Array;
  /** Made executable (mode 0755): what a compiler produced to be run. */
  readonly executable?: boolean;
}

/** mtime of every entry: fixed, so the same files always give the same archive. */
const epoch = new Date(0);

/**
 * Packs the workspace's initial files into a tar archive for the container to extract. Parent
 * directories get their own entries; everything is owned by the sandbox user on extraction.
 */
export async function buildWorkspaceArchive(files: readonly WorkspaceFile[]): Promise<Buffer> {
  const archive = pack();
  const directories = new Set<string>();
  for (const file of files) {
    const segments = file.name.split("/");
    for (let depth = 1; depth < segments.length; depth++) {
      const directory = segments.slice(0, depth).join("/");
      if (directories.has(directory)) continue;
      directories.add(directory);
      archive.entry({ name: `${directory}/`, type: "directory", mode: 0o755, mtime: epoch });
    }
    archive.entry(
      { name: file.name, type: "file", mode: file.executable ? 0o755 : 0o644, mtime: epoch },
      Buffer.from(file.content),
    );
  }
  archive.finalize();
  const chunks: Buffer[] = [];
  for await (const chunk of archive) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}
