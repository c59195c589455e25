import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useBroker } from '../helpers/harness.js';
import { eventually } from '../helpers/broker.js';

const h = useBroker({ metricsAddress: '127.0.0.1:0' });
let redis: Redis;
beforeAll(() => {
  redis = new Redis(h.redis.url);
});
afterAll(() => redis.disconnect());

const key = (suffix: string): string => `${h.broker.config.keyPrefix}:${suffix}`;

async function deadGauge(tenant: string, queue: string): Promise<number | undefined> {
  const text = await (await fetch(h.broker.metricsUrl!)).text();
  const line = text
    .split('\n')
    .find(
      (l) =>
        l.startsWith('rota_queue_depth{') &&
        l.includes(`tenant="${tenant}"`) &&
        l.includes(`queue="${queue}"`) &&
        l.includes('state="dead"'),
    );
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1));
}

/** One job of the tenant dies, and the dispatcher, finding no work left, takes the tenant out of the queue's index. */
async function buryOne(tenant: string, queue: string): Promise<void> {
  const { job_id } = await h.enqueue({ tenant, queue, max_attempts: 1 });
  const worker = await h.worker({ queues: [queue] });
  const [lease] = await worker.take(1);
  worker.fail(lease!, 'boom');
  await h.waitState(tenant, job_id, 'DEAD');
  await eventually(async () =>
    (await redis.sismember(key(`queue:${queue}:tenants`), tenant)) === 0 ? true : undefined,
  );
  worker.end();
}

async function restartBroker(): Promise<void> {
  await h.broker.shutdown();
  await h.restartBroker();
}

describe('depths of a tenant whose only jobs are dead', () => {
  it('are in GetStats and rota_queue_depth after a broker restart, until the dead jobs are gone', async () => {
    await buryOne('buried', 'dead-only');
    await restartBroker();
    const { entries } = await h.stats({ queue: 'dead-only', tenant: '' });
    expect(entries).toEqual([expect.objectContaining({ tenant: 'buried', dead: '1' })]);
    expect(await eventually(() => deadGauge('buried', 'dead-only'), { timeoutMs: 15_000 })).toBe(1);

    expect(await h.deleteDead({ tenant: 'buried', queue: 'dead-only', all: true })).toMatchObject({
      deleted: 1,
    });
    // Read once with no dead job left, the tenant leaves that index too.
    await h.stats({ queue: 'dead-only', tenant: '' });
    await eventually(async () =>
      (await redis.scard(key('queue:dead-only:dead-tenants'))) === 0 ? true : undefined,
    );
  });

  it('are there after an upgrade for a tenant whose jobs all died before that index was kept', async () => {
    await buryOne('legacy', 'old-dead');
    // Its key ends as dead letters do, but it holds a job id (`{keyed}:idem:late:dead`).
    await h.enqueue({
      tenant: 'keyed',
      queue: 'other',
      idempotency_key: 'late:dead',
      delay_ms: 60_000,
    });
    // The data of a version before the index: neither it nor the mark that it was built.
    await redis.del(key('queue:old-dead:dead-tenants'), key('dead-tenants-indexed'));
    await restartBroker();
    const { entries } = await h.stats({ queue: 'old-dead', tenant: '' });
    expect(entries).toEqual([expect.objectContaining({ tenant: 'legacy', dead: '1' })]);
    expect(await redis.keys(key('queue:*:dead-tenants'))).toEqual([
      key('queue:old-dead:dead-tenants'),
    ]);
    expect((await redis.smembers(key('queues'))).sort()).toEqual([
      'dead-only',
      'old-dead',
      'other',
    ]);
    expect(await eventually(() => deadGauge('legacy', 'old-dead'), { timeoutMs: 15_000 })).toBe(1);
  });

  it('builds that index from the keyspace once per Redis, not at every start', async () => {
    expect(await redis.exists(key('dead-tenants-indexed'))).toBe(1);
    await redis.srem(key('queue:old-dead:dead-tenants'), 'legacy');
    await restartBroker();
    expect(await redis.sismember(key('queue:old-dead:dead-tenants'), 'legacy')).toBe(0);
  });
});

describe('GetStats for a tenant and no queue', () => {
  it("answers that tenant's row in each queue it has jobs in, dead ones too, and no other queue", async () => {
    await buryOne('roamer', 'roam-dead');
    await h.enqueue({ tenant: 'roamer', queue: 'roam-ready' });
    await h.enqueue({ tenant: 'roamer', queue: 'roam-later', delay_ms: 60_000 });
    await h.enqueue({ tenant: 'homebody', queue: 'roam-elsewhere' });
    // A fresh broker has no rates of its own: the rows come from Redis alone.
    await restartBroker();
    const { entries } = await h.stats({ queue: '', tenant: 'roamer' });
    expect(
      entries.map(({ queue, tenant, waiting, delayed, dead }) => ({
        queue,
        tenant,
        waiting,
        delayed,
        dead,
      })),
    ).toEqual([
      { queue: 'roam-dead', tenant: 'roamer', waiting: '0', delayed: '0', dead: '1' },
      { queue: 'roam-later', tenant: 'roamer', waiting: '0', delayed: '1', dead: '0' },
      { queue: 'roam-ready', tenant: 'roamer', waiting: '1', delayed: '0', dead: '0' },
    ]);
  });
});

describe('the set of queues', () => {
  it('is rebuilt at start from the indexes of active tenants when it is missing', async () => {
    await h.enqueue({ tenant: 'waiting', queue: 'unlisted', delay_ms: 60_000 });
    // Another deployment on this Redis, whose prefix begins with ours and `:queue`.
    await redis.sadd(key('queue:other:queue:theirs:tenants'), 'someone');
    // The data of a version before the set was kept.
    await redis.del(key('queues'));
    await restartBroker();
    const queues = await redis.smembers(key('queues'));
    expect(queues).toContain('unlisted');
    expect(queues.filter((queue) => queue.includes('theirs'))).toEqual([]);
  });
});
