/**
 * Redis at its memory limit with `noeviction` (the policy Rota asks for):
 * writes that add data are refused. Enqueue must say so (RESOURCE_EXHAUSTED,
 * nothing stored), while leasing, completing, failing, retrying,
 * cancelling, purging and deleting dead letters go on, so the queues drain
 * and memory comes back.
 */
import { status, type ServiceError } from '@grpc/grpc-js';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { useBroker } from '../helpers/harness.js';

const h = useBroker({ leaseTtlMs: 1500, heartbeatIntervalMs: 500 });
let admin: Redis;

beforeAll(async () => {
  admin = new Redis(h.redis.url);
  await admin.config('SET', 'maxmemory-policy', 'noeviction');
});
afterAll(() => admin.disconnect());

/** Every write that adds data is refused from now on (used memory is far above 1 byte). */
async function fillRedis(): Promise<void> {
  await admin.config('SET', 'maxmemory', '1');
  await expect(admin.set('probe', 'x')).rejects.toThrow(/^OOM /);
}

describe('Redis out of memory', () => {
  it('refuses new data with RESOURCE_EXHAUSTED while workers drain the queue', async () => {
    const worker = await h.worker({ queues: ['oom'], capacity: 2 });
    const ids: string[] = [];
    for (let i = 0; i < 4; i++) {
      ids.push((await h.enqueue({ tenant: 'acme', queue: 'oom', max_attempts: 3 })).job_id);
    }
    const [first, second] = await worker.take(2);
    const waiting = ids.filter((id) => id !== first!.job_id && id !== second!.job_id);
    expect(waiting).toHaveLength(2);

    // A dead job, which a replay while full must leave where it is.
    const burier = await h.worker({ queues: ['oom-dead'], capacity: 1 });
    const dead = await h.enqueue({ tenant: 'acme', queue: 'oom-dead', max_attempts: 1 });
    burier.fail((await burier.take(1))[0]!, 'no', false);
    await h.waitState('acme', dead.job_id, 'DEAD');

    await fillRedis();
    try {
      // Each settles into its error at once: one answered before the loop reached it is not an unhandled rejection.
      const attempts = [
        h.enqueue({ tenant: 'acme', queue: 'oom' }),
        h.enqueueBatch([{ tenant: 'acme', queue: 'oom' }]),
        h.replay({ tenant: 'acme', queue: 'oom-dead', all: true }),
        h.setTenant({ tenant: 'acme', max_queued: 500 }),
      ].map((attempt) =>
        attempt.then(
          () => undefined,
          (e: unknown) => e,
        ),
      );
      for (const attempt of attempts) {
        const refused = (await attempt) as ServiceError;
        expect(refused.code).toBe(status.RESOURCE_EXHAUSTED);
        expect(refused.details).toMatch(/^Redis is out of memory .*nothing was stored.*maxmemory/);
      }
      expect((await h.getJob('acme', dead.job_id)).state).toBe('DEAD');

      // Still out of memory: progress is not stored (best effort, nothing breaks),
      // and a cancel, a completion and a retried failure all land.
      for (let i = 0; i < 20; i++) {
        worker.send({
          progress: {
            job_id: first!.job_id,
            lease_token: first!.lease_token,
            data: Buffer.from('x'),
          },
        });
      }
      expect((await h.cancel('acme', waiting[1]!)).cancelled).toBe(true);
      worker.complete(first!, Buffer.from('done while full'));
      worker.fail(second!, 'try again', true, 1);
      const completed = await h.waitState('acme', first!.job_id, 'COMPLETED');
      expect(completed.result.toString()).toBe('done while full');
      expect(completed.progress).toHaveLength(0);

      // The freed slots lease the waiting job and the retry: both complete.
      const next = await worker.take(2);
      expect(next.map((l) => l.job_id).sort()).toEqual([second!.job_id, waiting[0]!].sort());
      expect(next.find((l) => l.job_id === second!.job_id)!.attempt).toBe(2);
      for (const lease of next) worker.complete(lease);
      for (const lease of next) await h.waitState('acme', lease.job_id, 'COMPLETED');
      expect((await h.getJob('acme', waiting[1]!)).state).toBe('CANCELLED');
      expect(worker.ackOutcomes()).toEqual([]);
      expect(worker.ended).toBe(false);
    } finally {
      await admin.config('SET', 'maxmemory', '0');
    }

    const { job_id } = await h.enqueue({ tenant: 'acme', queue: 'oom' });
    const [after] = await worker.take(1);
    expect(after!.job_id).toBe(job_id);
  });

  it('purges a backlog and deletes dead letters while full, so memory comes back at once', async () => {
    const burier = await h.worker({ queues: ['oom-purge-dead'], capacity: 1 });
    const dead = await h.enqueue({ tenant: 'flood', queue: 'oom-purge-dead', max_attempts: 1 });
    burier.fail((await burier.take(1))[0]!, 'no', false);
    await h.waitState('flood', dead.job_id, 'DEAD');
    const backlog = await h.enqueueBatch(
      Array.from({ length: 30 }, (_, i) => ({
        tenant: 'flood',
        queue: 'oom-purge',
        delay_ms: i % 3 === 0 ? 60_000 : 0,
      })),
    );
    await fillRedis();
    try {
      expect(await h.purge({ tenant: 'flood', queue: 'oom-purge' })).toEqual({ purged: 30 });
      expect(await h.deleteDead({ tenant: 'flood', queue: 'oom-purge-dead', all: true })).toEqual({
        deleted: 1,
        not_found: [],
      });
    } finally {
      await admin.config('SET', 'maxmemory', '0');
    }
    const states = await Promise.all(
      backlog.results.map(async (item) => (await h.getJob('flood', item.job_id)).state),
    );
    expect(new Set(states)).toEqual(new Set(['CANCELLED']));
  });

  it('leases the jobs of a limited tenant while full (shared tokens and slots are taken)', async () => {
    await h.setTenant({ tenant: 'limited', rate: 100, max_in_flight: 5 });
    await h.enqueueBatch(
      Array.from({ length: 3 }, () => ({ tenant: 'limited', queue: 'oom-rate' })),
    );
    await fillRedis();
    try {
      const worker = await h.worker({ queues: ['oom-rate'], capacity: 5 });
      const leases = await worker.take(3);
      expect(leases.map((l) => l.tenant)).toEqual(['limited', 'limited', 'limited']);
    } finally {
      await admin.config('SET', 'maxmemory', '0');
    }
  });
});
