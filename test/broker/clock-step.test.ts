import { afterAll, describe, expect, it, vi } from 'vitest';
import { useBroker } from '../helpers/harness.js';
import { autoComplete } from '../helpers/raw-worker.js';
import { eventually } from '../helpers/broker.js';

// The broker reads the wall clock through Date.now, taken when it starts: set
// before it does, this lets the test step the wall clock as NTP may.
let step = 0;
const realNow = Date.now.bind(Date);
vi.spyOn(Date, 'now').mockImplementation(() => realNow() + step);
afterAll(() => {
  vi.restoreAllMocks();
});

const h = useBroker();
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('a wall clock that steps', () => {
  it('does not stall a rate-limited tenant for the length of the step', async () => {
    await h.setTenant({ tenant: 'limited', rate: 20, burst: 1 });
    await h.enqueueBatch(
      Array.from({ length: 200 }, () => ({ tenant: 'limited', queue: 'steady' })),
    );
    const worker = await h.worker({ queues: ['steady'], capacity: 5 });
    const run = autoComplete(worker);
    try {
      await eventually(() => (run.order.length >= 5 ? true : undefined));
      step = -60_000;
      const before = run.order.length;
      await sleep(2000);
      // 20 jobs/s for 2 s is 40; stalled, it would be none for a minute.
      expect(run.order.length - before).toBeGreaterThanOrEqual(20);
    } finally {
      run.stop();
      step = 0;
    }
  });

  it("does not count a step forward past the lease TTL as the workers' silence", async () => {
    const { job_id } = await h.enqueue({ tenant: 'acme', queue: 'held' });
    const worker = await h.worker({ queues: ['held'], capacity: 1 });
    const [lease] = await worker.take(1);
    step = 60_000; // 40 lease TTLs
    try {
      // Two sweeps (a third of the TTL apart) see the step; the heartbeats go on.
      await sleep(h.broker.config.leaseTtlMs);
      expect(worker.ended).toBe(false);
      worker.complete(lease!);
      await h.waitState('acme', job_id, 'COMPLETED');
      expect(worker.ackOutcomes()).toEqual([]);
      expect((await h.getJob('acme', job_id)).attempts).toBe(1);
    } finally {
      step = 0;
      worker.end();
    }
  });
});
