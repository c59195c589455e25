/**
 * GetStats' oldest_waiting_age_ms counts from when the oldest waiting job
 * became runnable, also for a job a broker read ahead and gave back.
 */
import { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { eventually } from '../helpers/broker.js';
import { useBroker } from '../helpers/harness.js';
import { RawWorker } from '../helpers/raw-worker.js';
import { Keys } from '../../src/store/keys.js';

const h = useBroker();

async function row(queue: string, tenant: string) {
  const stats = await h.stats({ queue, tenant });
  const entry = stats.entries.find((e) => e.queue === queue && e.tenant === tenant);
  return entry && { ...entry, generatedAt: Number(stats.generated_at_unix_ms) };
}

describe('oldest_waiting_age_ms', () => {
  it('keeps the age of jobs another broker read ahead and gave back when it stopped', async () => {
    const peer = await h.startPeer();
    let stopped = false;
    const worker = await RawWorker.connect(peer.address, { queues: ['aged'], capacity: 1 });
    const redis = new Redis(h.redis.url);
    try {
      const { results } = await h.enqueueBatch(
        // One attempt: the lease the stopped peer leaves ends dead, not waiting again.
        [1, 2, 3].map(() => ({ tenant: 'aged', queue: 'aged', max_attempts: 1 })),
      );
      await worker.take(1); // run on, never acked: the other two wait in the peer's buffer
      await eventually(async () =>
        (await row('aged', 'aged'))?.leased === '3' ? true : undefined,
      );
      const [second, third] = await Promise.all(
        results.slice(1).map(({ job_id }) => h.getJob('aged', job_id)),
      );
      await new Promise((resolve) => setTimeout(resolve, 1000));
      worker.drop();
      await peer.shutdown(0); // gives its read-ahead back to the stream
      stopped = true;

      const back = await eventually(async () => {
        const r = await row('aged', 'aged');
        return r?.waiting === '2' ? r : undefined;
      });
      // Counted from the give-back, the age started again at 0: a job that
      // had waited a second looked just enqueued.
      const since = back.generatedAt - Number(back.oldest_waiting_age_ms);
      expect(since).toBeLessThan(Number(second!.run_at_unix_ms) + 250);

      // Cancelled, the oldest no longer counts; read by a worker, neither does the other.
      await h.cancel('aged', second!.id);
      const rest = await row('aged', 'aged');
      expect(rest!.waiting).toBe('1');
      const restSince = rest!.generatedAt - Number(rest!.oldest_waiting_age_ms);
      expect(restSince).toBeGreaterThanOrEqual(Number(third!.run_at_unix_ms) - 250);
      expect(restSince).toBeLessThan(Number(third!.run_at_unix_ms) + 250);
      const taker = await h.worker({ queues: ['aged'], capacity: 5 });
      const [lease] = await taker.take(1);
      expect(lease!.job_id).toBe(third!.id);
      const none = await row('aged', 'aged');
      expect([none!.waiting, none!.oldest_waiting_age_ms]).toEqual(['0', '0']);
      const requeued = `${new Keys(h.broker.config.keyPrefix).queueBase('aged', 'aged')}requeued`;
      expect(await redis.exists(requeued)).toBe(0);
    } finally {
      redis.disconnect();
      worker.drop();
      if (!stopped) await peer.shutdown(0);
    }
  });
});
