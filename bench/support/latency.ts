/** Latency statistics for benchmark tables. */
export interface LatencySummary {
  readonly count: number;
  readonly p50: number;
  readonly p95: number;
  readonly p99: number;
  readonly mean: number;
}

export function percentile(sorted: readonly number[], fraction: number): number {
  if (sorted.length === 0) return Number.NaN;
  const index = Math.min(sorted.length - 1, Math.ceil(fraction * sorted.length) - 1);
  return sorted[Math.max(0, index)]!;
}

export function summarize(samplesMs: readonly number[]): LatencySummary {
  const sorted = [...samplesMs].sort((a, b) => a - b);
  return {
    count: sorted.length,
    p50: percentile(sorted, 0.5),
    p95: percentile(sorted, 0.95),
    p99: percentile(sorted, 0.99),
    mean: sorted.reduce((total, value) => total + value, 0) / Math.max(1, sorted.length),
  };
}

/**
 * Runs `call` `count` times, `concurrency` at a time; returns each call's milliseconds and the wall
 * time. `before`, when given, runs ahead of each call and is not timed.
 */
export async function measure(
  count: number,
  concurrency: number,
  call: () => Promise<void>,
  before?: () => Promise<void>,
): Promise<{ samples: number[]; wallMs: number }> {
  const samples: number[] = [];
  let next = 0;
  const started = performance.now();
  const worker = async () => {
    while (next < count) {
      next++;
      await before?.();
      const callStarted = performance.now();
      await call();
      samples.push(performance.now() - callStarted);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return { samples, wallMs: performance.now() - started };
}
