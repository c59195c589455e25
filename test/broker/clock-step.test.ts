import { afterAll, describe, expect, it, vi } from 'vitest';
import { Redis } from 'ioredis';
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

describe('a wall clock that steps back during a short local wait', () => {
  // A long lease TTL, as in production: the recovery sweep, which would also
  // find the job, runs every half TTL (30 s), past the test's wait.
  const slow = useBroker({ leaseTtlMs: 60_000 });

  it('retries a failed fetch after its second, not after the step', async () => {
    const worker = await slow.worker({ queues: ['refetch'], capacity: 1 });
    const stream = `${slow.broker.config.keyPrefix}:{stepped}:refetch:ready:0`;
    const redis = new Redis(slow.redis.url);
    try {
      // A first job makes the stream and its group; the group is then destroyed
      // under the broker, so the next job's fetch fails (NOGROUP).
      const { job_id: firstId } = await slow.enqueue({ tenant: 'stepped', queue: 'refetch' });
      const [first] = await worker.take(1);
      worker.complete(first!);
      await slow.waitState('stepped', firstId, 'COMPLETED');
      await redis.xgroup('DESTROY', stream, 'rota');
      const { job_id } = await slow.enqueue({ tenant: 'stepped', queue: 'refetch' });
      await sleep(100);
      step = -3_600_000; // within the second before the retry
      await redis.xgroup('CREATE', stream, 'rota', '0');
      const [lease] = await worker.take(1, 5000);
      expect(lease!.job_id).toBe(job_id);
    } finally {
      step = 0;
      redis.disconnect();
    }
  });
});
