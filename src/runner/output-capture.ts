/**
 * Reading a container's output without trusting it: the engine's multiplexed attach stream is
 * split into stdout and stderr as bytes arrive (no frame is ever buffered whole, however large
 * the program claims it is), and each stream keeps at most a fixed number of bytes.
 */

export { AttachStreamDemuxer, type OutputStreamName } from "../docker/attach-stream.js";

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

/**
 * Separates the supervisor's trailer from the program's stdout. Everything before the marker is
 * program output, handed on at once except for a few bytes held back while they could be the
 * start of a marker. Everything after the marker is the trailer, bounded in size. Only the
 * supervisor knows the nonce in the marker (see sandbox/supervisor.sh), so the first marker is its.
 */
export class TrailerSplitter {
  private held = Buffer.alloc(0);
  private region: Buffer[] | undefined;
  private regionBytes = 0;

  constructor(
    private readonly marker: Buffer,
    private readonly onProgramBytes: (chunk: Buffer) => void,
    private readonly maxRegionBytes: number,
  ) {}

  /** True once the marker has been seen. */
  get markerSeen(): boolean {
    return this.region !== undefined;
  }

  /** True once a whole line followed the marker (the supervisor's report line). */
  get lineAfterMarker(): boolean {
    return this.region?.some((chunk) => chunk.includes(0x0a)) ?? false;
  }

  /** True once more bytes followed the marker than a trailer may hold. */
  get regionOverflowed(): boolean {
    return this.regionBytes > this.maxRegionBytes;
  }

  push(chunk: Buffer): void {
    if (this.region) {
      this.appendRegion(chunk);
      return;
    }
    const data = this.held.length > 0 ? Buffer.concat([this.held, chunk]) : chunk;
    const found = data.indexOf(this.marker);
    if (found >= 0) {
      if (found > 0) this.onProgramBytes(data.subarray(0, found));
      this.held = Buffer.alloc(0);
      this.region = [];
      this.appendRegion(data.subarray(found + this.marker.length));
      return;
    }
    const keep = this.partialMarkerAtEnd(data);
    if (data.length > keep) this.onProgramBytes(data.subarray(0, data.length - keep));
    this.held = Buffer.from(data.subarray(data.length - keep));
  }

  /** Ends the stream: returns the trailer (what followed the marker), or undefined when none came. */
  end(): Buffer | undefined {
    if (!this.region) {
      if (this.held.length > 0) this.onProgramBytes(this.held);
      this.held = Buffer.alloc(0);
      return undefined;
    }
    return Buffer.concat(this.region);
  }

  private appendRegion(chunk: Buffer): void {
    const room = this.maxRegionBytes - this.regionBytes;
    if (room > 0) this.region?.push(Buffer.from(chunk.subarray(0, room)));
    this.regionBytes += chunk.length;
  }

  /** Length of the longest tail of `data` that is a proper prefix of the marker. */
  private partialMarkerAtEnd(data: Buffer): number {
    const tailStart = Math.max(0, data.length - (this.marker.length - 1));
    if (data.indexOf(this.marker[0] ?? 0, tailStart) < 0) return 0;
    for (let length = Math.min(this.marker.length - 1, data.length); length > 0; length--) {
      if (data.subarray(data.length - length).equals(this.marker.subarray(0, length))) return length;
    }
    return 0;
  }
}
