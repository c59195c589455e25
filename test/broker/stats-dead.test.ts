import { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { useBroker } from '../helpers/harness.js';
import { eventually } from '../helpers/broker.js';

const h = useBroker({ metricsAddress: '127.0.0.1:0' });

async function deadGauge(): Promise<number | undefined> {
  const text = await (await fetch(h.broker.metricsUrl!)).text();
  const line = text
    .split('\n')
    .find(
      (l) =>
        l.startsWith('rota_queue_depth{') &&
        l.includes('tenant="buried"') &&
        l.includes('queue="dead-only"') &&
        l.includes('state="dead"'),
    );
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1));
}

describe('depths of a tenant whose only jobs are dead', () => {
  it('are in GetStats and rota_queue_depth after a broker restart, until the dead jobs are gone', async () => {
    const { job_id } = await h.enqueue({ tenant: 'buried', queue: 'dead-only', max_attempts: 1 });
    const worker = await h.worker({ queues: ['dead-only'] });
    const [lease] = await worker.take(1);
    worker.fail(lease!, 'boom');
    await h.waitState('buried', job_id, 'DEAD');
    const redis = new Redis(h.redis.url);
    const prefix = h.broker.config.keyPrefix;
    try {
      // The dispatcher finds no work left and takes the tenant out of the queue's index.
      const active = `${prefix}:queue:dead-only:tenants`;
      await eventually(async () =>
        (await redis.sismember(active, 'buried')) === 0 ? true : undefined,
      );
      worker.end();
      await h.broker.shutdown();
      await h.restartBroker();
      const { entries } = await h.stats({ queue: 'dead-only', tenant: '' });
      expect(entries).toEqual([expect.objectContaining({ tenant: 'buried', dead: '1' })]);
      expect(await eventually(deadGauge, { timeoutMs: 15_000 })).toBe(1);

      expect(await h.deleteDead({ tenant: 'buried', queue: 'dead-only', all: true })).toMatchObject(
        { deleted: 1 },
      );
      // Read once with no dead job left, the tenant leaves that index too.
      await h.stats({ queue: 'dead-only', tenant: '' });
      const dead = `${prefix}:queue:dead-only:dead-tenants`;
      await eventually(async () => ((await redis.scard(dead)) === 0 ? true : undefined));
    } finally {
      redis.disconnect();
    }
  });
});
