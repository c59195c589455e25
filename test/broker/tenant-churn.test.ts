import { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { useBroker } from '../helpers/harness.js';
import { RawWorker } from '../helpers/raw-worker.js';

/**
 * A SaaS broker sees very many tenants that enqueue a few jobs and go quiet.
 * What a queue's dispatcher keeps of a tenant must go once nothing of it is
 * queued here or in flight, not only when a recovery sweep later fetches it
 * and finds it idle: a queue whose workers have all left is swept no more,
 * and kept what it knew of its last tenants for good. The lease TTL is long
 * here, so no sweep runs during a test (one runs every half TTL) and only the
 * dispatcher's own bookkeeping can empty its tables.
 */
const h = useBroker({ leaseTtlMs: 60_000 });

const nothingKept = {
  scheduled: 0,
  buffered: 0,
  drained: 0,
  jobSizes: 0,
  lineTags: 0,
  told: 0,
};

/** Enqueues `jobsEach` jobs per tenant, and has the worker complete them all. */
async function runThrough(
  worker: RawWorker,
  queue: string,
  tenants: string[],
  jobsEach: number,
): Promise<void> {
  await h.enqueueBatch(
    tenants.flatMap((tenant) =>
      Array.from({ length: jobsEach }, (_, j) => ({ tenant, queue, payload: Buffer.from(`${j}`) })),
    ),
  );
  let done = 0;
  while (done < tenants.length * jobsEach) {
    for (const lease of await worker.take(1)) {
      worker.complete(lease);
      done++;
    }
  }
}

describe('tenant churn', () => {
  it("forgets a tenant's scheduling and read-ahead state once its last job here has ended", async () => {
    const queue = 'churn';
    const tenants = Array.from({ length: 20 }, (_, i) => `churned-${i}`);
    await runThrough(await h.worker({ queues: [queue], capacity: 8 }), queue, tenants, 3);

    // The last completions are written to Redis after the worker's acks.
    const dispatcher = h.broker.broker.dispatcher(queue);
    await expect.poll(() => dispatcher.tenantTables(), { timeout: 5000 }).toEqual(nothingKept);
  });

  it('serves a tenant that comes back after it was forgotten', async () => {
    const queue = 'returning';
    const worker = await h.worker({ queues: [queue], capacity: 8 });
    await runThrough(worker, queue, ['back'], 2);
    const dispatcher = h.broker.broker.dispatcher(queue);
    await expect.poll(() => dispatcher.tenantTables(), { timeout: 5000 }).toEqual(nothingKept);

    await runThrough(worker, queue, ['back'], 5);
    await expect.poll(() => dispatcher.tenantTables(), { timeout: 5000 }).toEqual(nothingKept);
  });

  it('forgets a tenant whose jobs another broker took before its fetch', async () => {
    // The enqueue on A claims the jobs for A's waiting worker; B, rung by the
    // doorbell (A rings only for jobs it leaves in Redis, so the ring here is
    // the test's, as from a broker whose jobs a third read first), fetches
    // the tenant and finds nothing for it (not idle: A holds them). B has
    // nothing of the tenant then, and keeps nothing.
    const queue = 'elsewhere';
    const peer = await h.startPeer({ leaseTtlMs: 60_000 });
    const onB = await RawWorker.connect(peer.address, { queues: [queue], capacity: 8 });
    try {
      const onA = await h.worker({ queues: [queue], capacity: 8 });
      const store = peer.broker.store;
      const fetch = store.fetch.bind(store);
      let answered: () => void = () => undefined;
      const fetchedOnB = new Promise<void>((resolve) => (answered = resolve));
      store.fetch = async (fetchQueue, wants, now) => {
        const results = await fetch(fetchQueue, wants, now);
        if (wants.some((want) => want.tenant === 'taken')) setImmediate(answered);
        return results;
      };
      await h.enqueueBatch([0, 1].map(() => ({ tenant: 'taken', queue })));
      const leases = await onA.take(2);
      const ring = { from: 'another broker', work: [['taken', 0]] };
      const publisher = new Redis(h.redis.url);
      await publisher.publish(store.keys.doorbell(queue), JSON.stringify(ring));
      publisher.disconnect();
      await fetchedOnB;
      expect(peer.broker.dispatcher(queue).tenantTables()).toEqual(nothingKept);
      for (const lease of leases) onA.complete(lease);
    } finally {
      onB.drop();
      await peer.shutdown();
    }
  });
});
