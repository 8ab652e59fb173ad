import { pack } from "tar-stream";
import { describe, expect, it } from "vitest";
import { collectArtifacts } from "../../src/runner/artifact-collection.js";

const caps = { maxFiles: 3, maxFileBytes: 10, maxTotalBytes: 15 };

type TarEntry = { name: string; content?: string; type?: "file" | "link" | "symlink"; linkname?: string };

async function tarOf(entries: TarEntry[]): Promise<Buffer> {
  const archive = pack();
  for (const entry of entries) {
    if (entry.type === "link" || entry.type === "symlink") {
      archive.entry({ name: entry.name, type: entry.type, linkname: entry.linkname ?? "x" });
    } else {
      archive.entry({ name: entry.name }, entry.content ?? "");
    }
  }
  archive.finalize();
  const chunks: Buffer[] = [];
  for await (const chunk of archive) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

function manifest(records: string[]): Buffer {
  return Buffer.concat([...records.map((record) => Buffer.from(`${record}\0`)), Buffer.from("\0")]);
}

describe("collectArtifacts", () => {
  it("returns regular files listed in the manifest and found in the tar", async () => {
    const payload = Buffer.concat([
      manifest(["f 2 a.txt", "f 3 d/b.txt"]),
      await tarOf([
        { name: "a.txt", content: "hi" },
        { name: "d/b.txt", content: "abc" },
      ]),
    ]);
    const result = await collectArtifacts(payload, caps, []);
    expect(Object.fromEntries([...result.files].map(([name, content]) => [name, content.toString()]))).toEqual({
      "a.txt": "hi",
      "d/b.txt": "abc",
    });
    expect(result).toMatchObject({ skipped: [], truncated: false });
  });

  it("skips links and special files by the manifest's type, never reading them", async () => {
    const payload = Buffer.concat([manifest(["l 11 passwd", "p 0 fifo", "s 0 sock"]), await tarOf([])]);
    const result = await collectArtifacts(payload, caps, []);
    expect(result.files.size).toBe(0);
    expect(result.skipped).toEqual([
      { name: "passwd", reason: "symlink" },
      { name: "fifo", reason: "special_file" },
      { name: "sock", reason: "special_file" },
    ]);
    expect(result.truncated).toBe(false);
  });

  it("never returns a symlink or hard link entry found in the tar", async () => {
    const payload = Buffer.concat([
      manifest(["f 2 real", "f 2 hard", "f 2 sneaky"]),
      await tarOf([
        { name: "real", content: "ok" },
        { name: "hard", type: "link", linkname: "real" },
        { name: "sneaky", type: "symlink", linkname: "/etc/passwd" },
      ]),
    ]);
    const result = await collectArtifacts(payload, caps, []);
    expect([...result.files.keys()]).toEqual(["real"]);
    expect(result.skipped).toEqual([
      { name: "hard", reason: "hard_link" },
      { name: "sneaky", reason: "symlink" },
    ]);
  });

  it("applies the per-file, count and total caps", async () => {
    const payload = Buffer.concat([
      manifest(["f 99 huge", "f 8 a", "f 8 b", "f 1 c", "f 1 d"]),
      await tarOf([
        { name: "a", content: "aaaaaaaa" },
        { name: "b", content: "bbbbbbbb" },
        { name: "c", content: "c" },
      ]),
    ]);
    const result = await collectArtifacts(payload, caps, []);
    expect([...result.files.keys()]).toEqual(["a", "c"]);
    expect(result.skipped).toEqual([
      { name: "huge", reason: "too_large" },
      { name: "d", reason: "too_many" },
      { name: "b", reason: "total_size" },
    ]);
    expect(result.truncated).toBe(true);
  });

  it("keeps the complete entries of a tar cut short and reports the rest", async () => {
    const whole = await tarOf([
      { name: "a", content: "1234" },
      { name: "b", content: "5678" },
    ]);
    const payload = Buffer.concat([manifest(["f 4 a", "f 4 b"]), whole.subarray(0, 512 + 512 + 100)]);
    const result = await collectArtifacts(payload, caps, []);
    expect([...result.files.keys()]).toEqual(["a"]);
    expect(result.skipped).toEqual([{ name: "b", reason: "total_size" }]);
  });

  it("leaves out inputs the program did not change, and names that are not UTF-8", async () => {
    const withBadName = Buffer.concat([
      Buffer.from("f 2 same\0f 3 diff\0", "latin1"),
      Buffer.from([0x66, 0x20, 0x31, 0x20, 0x62, 0xff, 0x00, 0x00]),
      await tarOf([
        { name: "same", content: "in" },
        { name: "diff", content: "new" },
      ]),
    ]);
    const inputs = [
      { name: "same", content: Buffer.from("in") },
      { name: "diff", content: Buffer.from("old") },
    ];
    const result = await collectArtifacts(withBadName, caps, inputs);
    expect([...result.files.keys()]).toEqual(["diff"]);
    expect(result.skipped).toEqual([{ name: "b\uFFFD", reason: "bad_name" }]);
  });

  it("says so when the workspace could not be listed at all", async () => {
    expect(await collectArtifacts(Buffer.alloc(0), caps, [])).toEqual({
      files: new Map(),
      skipped: [{ name: "", reason: "not_collected" }],
      truncated: true,
      executables: new Set(),
    });
  });

  it("is empty for an empty workspace", async () => {
    expect(await collectArtifacts(manifest([]), caps, [])).toEqual({
      files: new Map(),
      skipped: [],
      truncated: false,
      executables: new Set(),
    });
  });
});
