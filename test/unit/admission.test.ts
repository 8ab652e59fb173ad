import { describe, expect, it } from "vitest";
import { Admission, AdmissionAbandoned, AdmissionClosed, AdmissionRejected } from "../../src/service/admission.js";

const admission = (maxConcurrent = 1, maxQueued = 1, maxQueueWaitMs = 1000) =>
  new Admission({ maxConcurrent, maxQueued, maxQueueWaitMs });

describe("Admission", () => {
  it("admits up to the limit at once, queues the next, refuses past the queue", async () => {
    const gate = admission(1, 1);
    const first = await gate.admit();
    expect(first.queuedMs).toBeLessThan(5);
    const second = gate.admit();
    expect(gate.queued).toBe(1);
    await expect(gate.admit()).rejects.toThrow(AdmissionRejected);
    await expect(gate.admit()).rejects.toThrow(/1 runs are running and the queue is full \(1 waiting\)/);
    first.release();
    const admitted = await second;
    expect(gate.active).toBe(1);
    expect(admitted.queuedMs).toBeGreaterThanOrEqual(0);
    admitted.release();
    expect(gate.active).toBe(0);
  });

  it("refuses a queued request after the maximum wait, naming the bound", async () => {
    const gate = admission(1, 5, 50);
    const running = await gate.admit();
    const started = performance.now();
    await expect(gate.admit()).rejects.toThrow(/waited 50 ms in the queue/);
    expect(performance.now() - started).toBeGreaterThanOrEqual(45);
    expect(gate.queued).toBe(0);
    running.release();
  });

  it("drops a queued caller who goes away", async () => {
    const gate = admission(1, 5);
    const running = await gate.admit();
    const controller = new AbortController();
    const waiting = gate.admit({ signal: controller.signal });
    controller.abort();
    await expect(waiting).rejects.toThrow(AdmissionAbandoned);
    expect(gate.queued).toBe(0);
    running.release();
    expect(gate.active).toBe(0);
  });

  it("holds each caller to its quota, running and queued together", async () => {
    const gate = admission(4, 4);
    const a1 = await gate.admit({ callerId: "a", callerLimit: 2 });
    const a2 = await gate.admit({ callerId: "a", callerLimit: 2 });
    await expect(gate.admit({ callerId: "a", callerLimit: 2 })).rejects.toThrow(/caller a already has 2 runs/);
    const b = await gate.admit({ callerId: "b", callerLimit: 2 });
    a1.release();
    const a3 = await gate.admit({ callerId: "a", callerLimit: 2 });
    for (const ticket of [a2, b, a3]) ticket.release();
    expect(gate.active).toBe(0);
  });

  it("refuses everything once closed, queued callers included, and lets admitted runs finish", async () => {
    const gate = admission(1, 2);
    const running = await gate.admit();
    const queued = gate.admit();
    gate.close();
    await expect(queued).rejects.toThrow(AdmissionClosed);
    await expect(gate.admit()).rejects.toThrow(AdmissionClosed);
    expect(gate.active).toBe(1);
    running.release();
    running.release();
    expect(gate.active).toBe(0);
  });
});
