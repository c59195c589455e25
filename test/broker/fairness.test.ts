import { describe, expect, it } from 'vitest';
import { DISPATCH_QUANTUM } from '../../src/broker/dispatcher.js';
import { useBroker } from '../helpers/harness.js';

const h = useBroker();

describe('round-robin across tenants', () => {
  it("dispatches a quiet tenant's job within one round while another tenant has 20,000 queued", async () => {
    for (let chunk = 0; chunk < 20; chunk++) {
      await h.enqueueBatch(
        Array.from({ length: 1000 }, () => ({ tenant: 'flood', queue: 'reports' })),
      );
    }
    const w = await h.worker({ queues: ['reports'], capacity: 1 });
    // Let the flood run for a while, one job at a time.
    for (let i = 0; i < 20; i++) {
      const [lease] = await w.take(1);
      expect(lease!.tenant).toBe('flood');
      w.complete(lease!);
    }
    const [held] = await w.take(1);
    const quiet = await h.enqueue({ tenant: 'quiet', queue: 'reports' });
    await new Promise((resolve) => setTimeout(resolve, 100)); // the doorbell and prefetch settle
    w.complete(held!);
    // One round: what is left of the flood's visit (at most a quantum), then the quiet tenant.
    const next: string[] = [];
    for (let i = 0; i < DISPATCH_QUANTUM + 1; i++) {
      const [lease] = await w.take(1);
      next.push(lease!.job_id);
      w.complete(lease!);
    }
    expect(next).toContain(quiet.job_id);
  });
});

describe('a session of several queues', () => {
  /** Takes `count` leases one at a time, completing each as it comes; their queues in order. */
  async function queuesOf(
    w: Awaited<ReturnType<typeof h.worker>>,
    count: number,
  ): Promise<string[]> {
    const queues: string[] = [];
    for (let i = 0; i < count; i++) {
      const [lease] = await w.take(1);
      queues.push(lease!.queue);
      w.complete(lease!);
    }
    return queues;
  }

  it('gets jobs of its later queues while the first has a backlog', async () => {
    await h.enqueueBatch(Array.from({ length: 300 }, () => ({ tenant: 'acme', queue: 'first' })));
    await h.enqueueBatch(Array.from({ length: 5 }, () => ({ tenant: 'acme', queue: 'second' })));
    const w = await h.worker({ queues: ['first', 'second'], capacity: 2 });
    // The slots go to the queues in turn: all of second within the first 20
    // leases, not after the 300 of first.
    const queues = await queuesOf(w, 20);
    expect(queues.filter((queue) => queue === 'second')).toHaveLength(5);
  });

  it('shares its slots evenly among the queues with work, a queue with none passing its turn', async () => {
    for (const queue of ['left', 'right']) {
      await h.enqueueBatch(Array.from({ length: 100 }, () => ({ tenant: 'acme', queue })));
    }
    const w = await h.worker({ queues: ['left', 'empty', 'right'], capacity: 1 });
    // Offered from the queue after the one served last: left, (empty,) right,
    // left... Rotated by one queue per offer instead, right would also get
    // the turns empty passes on, two in three; in Hello order, left all.
    const queues = await queuesOf(w, 30);
    const left = queues.filter((queue) => queue === 'left').length;
    expect(left).toBeGreaterThanOrEqual(12);
    expect(left).toBeLessThanOrEqual(18);
  });
});
