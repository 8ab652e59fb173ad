/**
 * A queue that one side pushes to and the other iterates with `for await`: how a run's observer
 * callbacks become a server stream. It holds what the consumer has not taken yet; callers bound
 * that (a run's output is capped, so its queue is too).
 */
export class AsyncQueue<T> implements AsyncIterable<T> {
  private readonly items: T[] = [];
  private wake: (() => void) | undefined;
  private closed = false;
  private failure: { error: unknown } | undefined;

  push(item: T): void {
    if (this.closed || this.failure) return;
    this.items.push(item);
    this.notify();
  }

  /** No more items; iteration ends once the queue is drained. */
  close(): void {
    this.closed = true;
    this.notify();
  }

  /** Iteration throws `error` once the items before it are drained. */
  fail(error: unknown): void {
    this.failure = { error };
    this.notify();
  }

  async *[Symbol.asyncIterator](): AsyncIterator<T> {
    for (;;) {
      const item = this.items.shift();
      if (item !== undefined) {
        yield item;
        continue;
      }
      if (this.failure) throw this.failure.error;
      if (this.closed) return;
      await new Promise<void>((resolve) => (this.wake = resolve));
    }
  }

  private notify(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }
}
