/**
 * The engine's stream format for a non-TTY attach, read incrementally: what runs, sessions and the
 * egress gateway all read their containers' output with.
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
