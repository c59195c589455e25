import { status } from '@grpc/grpc-js';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useBroker } from '../helpers/harness.js';
import { eventually } from '../helpers/broker.js';
import { Keys } from '../../src/store/keys.js';

// A broker that keeps no completed or cancelled job (ROTA_COMPLETED_RETENTION_MS=0).
// The scripts' side (fencing before the delete, a TTL above 0) is in job-store.test.ts.
const h = useBroker({ completedRetentionMs: 0 });
let redis: Redis;
let keys: Keys;

beforeAll(() => {
  redis = new Redis(h.redis.url);
  keys = new Keys(h.broker.config.keyPrefix);
});
afterAll(() => redis.disconnect());

const notFound = (jobId: string) => ({
  code: status.NOT_FOUND,
  details: `job ${jobId} of tenant acme does not exist (wrong id or tenant, or it ended and its retention is over)`,
});

describe('completed retention 0: jobs are deleted as they end', () => {
  it('deletes a completed job with its stream entry; GetJob then says NOT_FOUND', async () => {
    const w = await h.worker({ queues: ['gone'] });
    const { job_id } = await h.enqueue({
      tenant: 'acme',
      queue: 'gone',
      payload: Buffer.from('x'),
    });
    const [lease] = await w.take(1);
    expect(lease!.job_id).toBe(job_id);
    expect(await redis.exists(keys.job('acme', job_id))).toBe(1);
    w.complete(lease!, Buffer.from('result'));
    await eventually(async () =>
      (await redis.exists(keys.job('acme', job_id))) === 0 ? true : undefined,
    );
    await expect(h.getJob('acme', job_id)).rejects.toMatchObject(notFound(job_id));
    expect(await redis.xlen(keys.ready('acme', 'gone', 0))).toBe(0);
    expect(w.ackOutcomes()).toEqual([]); // recorded, not refused
  });

  it('deletes a cancelled job; cancelling it again is NOT_FOUND, and it never runs', async () => {
    const { job_id } = await h.enqueue({ tenant: 'acme', queue: 'cancel-gone' });
    expect(await h.cancel('acme', job_id)).toEqual({ cancelled: true, state: 'CANCELLED' });
    expect(await redis.exists(keys.job('acme', job_id))).toBe(0);
    await expect(h.cancel('acme', job_id)).rejects.toMatchObject(notFound(job_id));
    const marker = await h.enqueue({ tenant: 'acme', queue: 'cancel-gone' });
    const w = await h.worker({ queues: ['cancel-gone'] });
    const [lease] = await w.take(1);
    expect(lease!.job_id).toBe(marker.job_id);
  });

  it("keeps an idempotency key's answer after its job is deleted: the job does not run again", async () => {
    const w = await h.worker({ queues: ['idem-gone'] });
    const request = { tenant: 'acme', queue: 'idem-gone', idempotency_key: 'order-7' };
    const first = await h.enqueue(request);
    const [lease] = await w.take(1);
    w.complete(lease!, Buffer.from('done'));
    await eventually(async () =>
      (await redis.exists(keys.job('acme', first.job_id))) === 0 ? true : undefined,
    );
    expect(await h.enqueue(request)).toEqual({ job_id: first.job_id, duplicate: true });
    const marker = await h.enqueue({ tenant: 'acme', queue: 'idem-gone' });
    const [next] = await w.take(1);
    expect(next!.job_id).toBe(marker.job_id);
  });
});
