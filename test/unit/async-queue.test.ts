import { describe, expect, it } from "vitest";
import { AsyncQueue } from "../../src/service/async-queue.js";

async function drain<T>(queue: AsyncQueue<T>): Promise<T[]> {
  const seen: T[] = [];
  for await (const item of queue) seen.push(item);
  return seen;
}

describe("AsyncQueue", () => {
  it("yields pushed items in order, including those pushed while waiting", async () => {
    const queue = new AsyncQueue<number>();
    queue.push(1);
    const drained = drain(queue);
    await Promise.resolve();
    queue.push(2);
    setTimeout(() => {
      queue.push(3);
      queue.close();
    }, 5);
    expect(await drained).toEqual([1, 2, 3]);
  });

  it("delivers what came before a failure, then throws it", async () => {
    const queue = new AsyncQueue<string>();
    queue.push("a");
    queue.fail(new Error("boom"));
    const seen: string[] = [];
    await expect(
      (async () => {
        for await (const item of queue) seen.push(item);
      })(),
    ).rejects.toThrow("boom");
    expect(seen).toEqual(["a"]);
  });

  it("ignores pushes after close", async () => {
    const queue = new AsyncQueue<number>();
    queue.close();
    queue.push(1);
    expect(await drain(queue)).toEqual([]);
  });
});
