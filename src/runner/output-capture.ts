/**
 * Reading a container's output without trusting it: the engine's multiplexed attach stream is
 * split into stdout and stderr as bytes arrive (no frame is ever buffered whole, however large
 * the program claims it is), and each stream keeps at most a fixed number of bytes.
 */

export type OutputStreamName = "stdout" | "stderr";

const headerBytes = 8;

/**
 * Incremental parser of the engine's stream format for non-TTY attach: frames of an 8-byte header
 * (stream type, three zero bytes, big-endian payload length) followed by the payload. Payload bytes
 * are handed on as they arrive, in order.
 */
export class AttachStreamDemuxer {
  private readonly header = Buffer.alloc(headerBytes);
  private headerFilled = 0;
  private payloadLeft = 0;
  private currentStream: OutputStreamName | undefined;

  constructor(private readonly onData: (stream: OutputStreamName, chunk: Buffer) => void) {}

  push(chunk: Buffer): void {
    let offset = 0;
    while (offset < chunk.length) {
      if (this.payloadLeft === 0) {
        const take = Math.min(headerBytes - this.headerFilled, chunk.length - offset);
        chunk.copy(this.header, this.headerFilled, offset, offset + take);
        this.headerFilled += take;
        offset += take;
        if (this.headerFilled < headerBytes) return;
        this.headerFilled = 0;
        this.payloadLeft = this.header.readUInt32BE(4);
        // Type 1 is stdout, 2 is stderr; anything else (0 = stdin echo, 3 = engine error text)
        // is not the program's output and is dropped.
        const type = this.header[0];
        this.currentStream = type === 1 ? "stdout" : type === 2 ? "stderr" : undefined;
        continue;
      }
      const take = Math.min(this.payloadLeft, chunk.length - offset);
      if (this.currentStream !== undefined) {
        this.onData(this.currentStream, chunk.subarray(offset, offset + take));
      }
      this.payloadLeft -= take;
      offset += take;
    }
  }
}

/** Keeps the first `limit` bytes written to it and counts the rest. */
export class CappedBuffer {
  private readonly chunks: Buffer[] = [];
  private kept = 0;
  private seen = 0;

  constructor(readonly limit: number) {}

  /** Appends what fits; returns the part that was kept (possibly empty). */
  append(chunk: Buffer): Buffer {
    this.seen += chunk.length;
    const room = this.limit - this.kept;
    if (room <= 0) return chunk.subarray(0, 0);
    // Copied, because the socket may reuse the memory behind `chunk`.
    const kept = Buffer.from(chunk.subarray(0, room));
    this.chunks.push(kept);
    this.kept += kept.length;
    return kept;
  }

  /** True once more bytes arrived than the limit allows. */
  get overflowed(): boolean {
    return this.seen > this.limit;
  }

  /** Total bytes written, kept or not. */
  get totalBytes(): number {
    return this.seen;
  }

  toBuffer(): Buffer {
    return Buffer.concat(this.chunks, this.kept);
  }
}
