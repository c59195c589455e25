/**
 * A purge whose Redis connection drops after its first step: the jobs of that
 * step are gone, and the caller, the metric and the log say how many, so a
 * second call (which takes only the jobs still waiting) finishes the job.
 */
import { status, type ServiceError } from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import { TcpProxy } from '../faults/proxy.js';
import { call, eventually, rawClients } from '../helpers/broker.js';
import { useBroker } from '../helpers/harness.js';
import { scrape, value } from '../helpers/metrics.js';

const h = useBroker();

describe('a purge that fails part way', () => {
  it('answers UNAVAILABLE with the jobs purged before, counts and logs them', async () => {
    // The peer reaches Redis through the proxy; the harness's broker does not.
    const proxy = await TcpProxy.start(h.redis.port);
    const logged: Array<Record<string, unknown>> = [];
    const peer = await h.startPeer({
      redisUrl: `redis://${proxy.address}`,
      metricsAddress: '127.0.0.1:0',
      onLog: (line) => logged.push(line),
    });
    const clients = rawClients(peer.address);
    try {
      for (let i = 0; i < 3; i++) {
        await h.enqueueBatch(
          Array.from({ length: 400 }, () => ({ tenant: 'acme', queue: 'flood' })),
        );
      }
      // Every step but the first sends the cursor its step before answered,
      // 'delayed …' or 'ready …': the connection drops before the second reaches Redis.
      const cut = proxy.cutWhenSent(/\r\n(?:ready|delayed) /);
      const failed = (await call(clients.admin.PurgeQueue.bind(clients.admin), {
        tenant: 'acme',
        queue: 'flood',
      }).then(
        () => undefined,
        (e: unknown) => e,
      )) as ServiceError | undefined;
      await cut;
      expect(failed?.code).toBe(status.UNAVAILABLE);
      expect(failed?.details).toMatch(
        /^Redis is unreachable \(.*\); retry later; the purge stopped after 500 jobs were cancelled: call PurgeQueue again to cancel the rest$/,
      );
      expect(logged).toContainEqual(
        expect.objectContaining({ tenant: 'acme', queue: 'flood', purged: 500 }),
      );
      proxy.restore();
      const labels = 'tenant="acme",queue="flood",reason="purge"';
      expect(value(await scrape(peer.metricsUrl!), 'rota_jobs_cancelled_total', labels)).toBe(500);

      const [row] = (await h.stats({ queue: 'flood', tenant: 'acme' })).entries;
      expect(row).toMatchObject({ waiting: '700' });
      const again = await eventually(() =>
        call(clients.admin.PurgeQueue.bind(clients.admin), { tenant: 'acme', queue: 'flood' }),
      );
      expect(again).toEqual({ purged: 700 });
      expect(value(await scrape(peer.metricsUrl!), 'rota_jobs_cancelled_total', labels)).toBe(1200);
    } finally {
      clients.close();
      await peer.shutdown();
      await proxy.close();
    }
  });
});
