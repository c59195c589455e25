/**
 * A tenant×queue an operator empties (PurgeQueue, CancelJob) leaves no key
 * behind when nothing of it is left, also in a queue no worker has served:
 * there no recovery sweep runs to find it idle, and its ready stream and
 * levels stayed for good.
 */
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useBroker } from '../helpers/harness.js';

const logs: Array<Record<string, unknown>> = [];
const h = useBroker({ onLog: (line) => logs.push(line) });
let redis: Redis;

beforeAll(() => {
  redis = new Redis(h.redis.url);
});
afterAll(() => redis.disconnect());

/** The tenant×queue's keys but its job records. */
const keysOf = async (tenant: string, queue: string): Promise<string[]> =>
  (await redis.keys(`*{${tenant}}:${queue}:*`)).filter((key) => !key.includes(':job:'));

const indexed = (queue: string): Promise<string[]> =>
  redis.smembers(h.broker.broker.store.keys.activeTenants(queue));

describe('a tenant×queue emptied by an operator', () => {
  it('purged with no worker about: its keys go, and a worker that comes later gets its next job', async () => {
    const queue = 'unserved-purged';
    for (const delay_ms of [0, 0, 60_000]) await h.enqueue({ tenant: 'acme', queue, delay_ms });
    expect(await keysOf('acme', queue)).not.toEqual([]);

    expect(await h.purge({ tenant: 'acme', queue })).toEqual({ purged: 3 });
    expect(await keysOf('acme', queue)).toEqual([]);
    expect(await indexed(queue)).toEqual([]);

    const { job_id: later } = await h.enqueue({ tenant: 'acme', queue });
    const worker = await h.worker({ queues: [queue], capacity: 1 });
    const [lease] = await worker.take(1);
    expect(lease!.job_id).toBe(later);
    worker.complete(lease!);
    await h.waitState('acme', later, 'COMPLETED');
    worker.end();
  });

  it('purged while a job of it is leased: its keys and its place in the index stay for that job', async () => {
    const queue = 'purged-while-leased';
    const worker = await h.worker({ queues: [queue], capacity: 1 });
    const { job_id: running } = await h.enqueue({ tenant: 'acme', queue });
    const [lease] = await worker.take(1);
    await h.enqueue({ tenant: 'acme', queue });

    expect(await h.purge({ tenant: 'acme', queue })).toEqual({ purged: 1 });
    expect(await keysOf('acme', queue)).not.toEqual([]);
    expect(await indexed(queue)).toEqual(['acme']);
    worker.complete(lease!);
    await h.waitState('acme', running, 'COMPLETED');
    worker.end();
  });

  it('cancelled job by job: its keys go with its last waiting job', async () => {
    const queue = 'unserved-cancelled';
    const { job_id: first } = await h.enqueue({ tenant: 'acme', queue });
    const { job_id: second } = await h.enqueue({ tenant: 'acme', queue, delay_ms: 60_000 });

    expect((await h.cancel('acme', first)).cancelled).toBe(true);
    expect(await keysOf('acme', queue)).not.toEqual([]);
    expect(await indexed(queue)).toEqual(['acme']);
    expect((await h.cancel('acme', second)).cancelled).toBe(true);
    expect(await keysOf('acme', queue)).toEqual([]);
    expect(await indexed(queue)).toEqual([]);
    expect((await h.getJob('acme', second)).state).toBe('CANCELLED');
  });

  it('purged when Redis refuses the retirement: the purge still answers, and says what it left', async () => {
    // The jobs are cancelled by then; failing the call would have the caller purge again for nothing.
    const queue = 'retirement-refused';
    const { store } = h.broker.broker;
    const retire = store.retire.bind(store);
    store.retire = () => Promise.reject(new Error('connection lost'));
    try {
      await h.enqueue({ tenant: 'acme', queue });
      expect(await h.purge({ tenant: 'acme', queue })).toEqual({ purged: 1 });
    } finally {
      store.retire = retire;
    }
    expect(logs).toContainEqual(
      expect.objectContaining({
        tenant: 'acme',
        queue,
        msg: 'could not take an emptied tenant×queue out of the index; its keys stay until a recovery sweep finds it idle',
      }),
    );
    expect(await indexed(queue)).toEqual(['acme']);
  });
});
