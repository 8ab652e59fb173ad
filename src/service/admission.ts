/**
 * Admission control: at most `maxConcurrent` runs at once, then a bounded FIFO queue with a
 * bounded wait, and per-caller quotas. Past any bound a caller is refused at once, with the
 * bound named, instead of waiting without end.
 */
export interface AdmissionOptions {
  readonly maxConcurrent: number;
  readonly maxQueued: number;
  readonly maxQueueWaitMs: number;
}

/** A bound was hit: RESOURCE_EXHAUSTED; `bound` says whose (the server's queue or the caller's quota). */
export class AdmissionRejected extends Error {
  override readonly name = "AdmissionRejected";
  constructor(
    message: string,
    readonly bound: "queue" | "key_quota",
  ) {
    super(message);
  }
}

/** The server is draining for shutdown: UNAVAILABLE. */
export class AdmissionClosed extends Error {
  override readonly name = "AdmissionClosed";
}

/** The caller went away while queued. */
export class AdmissionAbandoned extends Error {
  override readonly name = "AdmissionAbandoned";
}

export interface AdmissionTicket {
  /** Milliseconds spent queued before admission. */
  readonly queuedMs: number;
  /** Frees the slot; call exactly once, when the run is over. */
  release(): void;
}

export interface AdmissionRequest {
  readonly signal?: AbortSignal;
  /** Caller identity for quotas; undefined for anonymous callers. */
  readonly callerId?: string;
  /** Most runs, running or queued, this caller may have at once. */
  readonly callerLimit?: number;
}

interface Waiter {
  readonly callerId: string | undefined;
  readonly enqueuedAt: number;
  grant(): void;
  refuse(error: Error): void;
}

export class Admission {
  private running = 0;
  private readonly queue: Waiter[] = [];
  private readonly perCaller = new Map<string, number>();
  private isClosed = false;

  constructor(private readonly options: AdmissionOptions) {}

  get active(): number {
    return this.running;
  }

  get queued(): number {
    return this.queue.length;
  }

  /** True once close() was called: every request is refused. */
  get closed(): boolean {
    return this.isClosed;
  }

  /** Refuses every new request and everything still queued; runs already admitted go on. */
  close(): void {
    this.isClosed = true;
    for (const waiter of this.queue.splice(0)) waiter.refuse(new AdmissionClosed("the server is shutting down"));
  }

  admit(request: AdmissionRequest = {}): Promise<AdmissionTicket> {
    const started = performance.now();
    if (this.isClosed) return Promise.reject(new AdmissionClosed("the server is shutting down"));
    const { callerId, callerLimit } = request;
    if (callerId !== undefined && callerLimit !== undefined && (this.perCaller.get(callerId) ?? 0) >= callerLimit) {
      return Promise.reject(
        new AdmissionRejected(`caller ${callerId} already has ${callerLimit} runs, its concurrency quota`, "key_quota"),
      );
    }
    if (this.running < this.options.maxConcurrent && this.queue.length === 0) {
      return Promise.resolve(this.grant(callerId, started));
    }
    if (this.queue.length >= this.options.maxQueued) {
      return Promise.reject(
        new AdmissionRejected(
          `${this.options.maxConcurrent} runs are running and the queue is full (${this.options.maxQueued} waiting)`,
          "queue",
        ),
      );
    }
    return new Promise<AdmissionTicket>((resolve, reject) => {
      this.countCaller(callerId, 1);
      const leave = () => {
        clearTimeout(timer);
        request.signal?.removeEventListener("abort", onAbort);
        const index = this.queue.indexOf(waiter);
        if (index >= 0) this.queue.splice(index, 1);
        this.countCaller(callerId, -1);
      };
      const waiter: Waiter = {
        callerId,
        enqueuedAt: started,
        grant: () => {
          leave();
          resolve(this.grant(callerId, started));
        },
        refuse: (error) => {
          leave();
          reject(error);
        },
      };
      const timer = setTimeout(
        () =>
          waiter.refuse(
            new AdmissionRejected(
              `waited ${this.options.maxQueueWaitMs} ms in the queue, its maximum wait, without a free slot`,
              "queue",
            ),
          ),
        this.options.maxQueueWaitMs,
      );
      const onAbort = () => waiter.refuse(new AdmissionAbandoned("the caller went away while queued"));
      if (request.signal?.aborted) {
        onAbort();
        return;
      }
      request.signal?.addEventListener("abort", onAbort, { once: true });
      this.queue.push(waiter);
    });
  }

  private grant(callerId: string | undefined, started: number): AdmissionTicket {
    this.running++;
    this.countCaller(callerId, 1);
    let released = false;
    return {
      queuedMs: performance.now() - started,
      release: () => {
        if (released) return;
        released = true;
        this.running--;
        this.countCaller(callerId, -1);
        this.queue[0]?.grant();
      },
    };
  }

  private countCaller(callerId: string | undefined, delta: number): void {
    if (callerId === undefined) return;
    const count = (this.perCaller.get(callerId) ?? 0) + delta;
    if (count <= 0) this.perCaller.delete(callerId);
    else this.perCaller.set(callerId, count);
  }
}
