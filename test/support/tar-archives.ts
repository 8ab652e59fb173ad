import { pack } from "tar-stream";

type HeaderArgument = Parameters<ReturnType<typeof pack>["entry"]>[0];

/** A tar archive of exactly these entries (each a header and its content), as tar-stream packs it. */
export function packArchive(entries: readonly { header: HeaderArgument; content?: string }[]): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const packer = pack();
    const chunks: Buffer[] = [];
    packer.on("data", (chunk) => chunks.push(chunk as Buffer));
    packer.on("end", () => resolve(Buffer.concat(chunks)));
    packer.on("error", reject);
    for (const { header, content } of entries) packer.entry(header, content ?? "");
    packer.finalize();
  });
}
