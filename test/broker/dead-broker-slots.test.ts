import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { GROUP, Keys } from '../../src/store/keys.js';
import { useBroker } from '../helpers/harness.js';
import type { TestBroker } from '../helpers/broker.js';
import { RawWorker } from '../helpers/raw-worker.js';

// B is the harness's broker; each test starts its own A and kills it. The
// lease TTL (9 s) is well past the holding TTL (3 s), as by default (30 s):
// A's entries, renewed every 3 s, cannot be reclaimed before 6 s after A died.
const h = useBroker({ leaseTtlMs: 9000 });
const workers: RawWorker[] = [];
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

afterAll(() => {
  for (const worker of workers) worker.drop();
});

async function flood(tenant: string, queue: string, count: number): Promise<void> {
  await h.enqueueBatch(Array.from({ length: count }, () => ({ tenant, queue })));
}

/** A broker that dies, as a crash would, while its worker's leases run on. */
async function killWithWorker(a: TestBroker, worker: RawWorker): Promise<void> {
  await a.kill();
  worker.drop();
}

describe('the in-flight slots of a broker that died', () => {
  it("keep its leases' slots while those leases may run, and let its spare slots lapse", async () => {
    await h.setTenant({ tenant: 'stranded', max_in_flight: 4 });
    const a = await h.startPeer();
    await flood('stranded', 'stranded-a', 4);
    const onA = await RawWorker.connect(a.address, { queues: ['stranded-a'], capacity: 4 });
    const leases = await onA.take(4); // A holds all 4 slots
    for (const lease of leases.slice(2)) onA.complete(lease);
    for (const lease of leases.slice(2)) await h.waitState('stranded', lease.job_id, 'COMPLETED');
    await sleep(1200); // a renewal tells Redis that 2 of A's 4 slots back leases
    const onB = await h.worker({ queues: ['stranded-b'], capacity: 10 });
    await flood('stranded', 'stranded-a', 1);
    // In a slot A held spare at its last renewal: A tells Redis at once, not at the next.
    const running = [...leases.slice(0, 2), ...(await onA.take(1))];
    await killWithWorker(a, onA);
    await flood('stranded', 'stranded-b', 10);

    // Past A's holding TTL: its spare slot went to B, not the 3 of its leases.
    await sleep(4500);
    for (const lease of running) {
      expect((await h.getJob('stranded', lease.job_id)).state).toBe('LEASED');
    }
    expect(onB.leases).toHaveLength(1);

    // No broker sweeps stranded-a (none has a worker of it) to reclaim A's
    // leases and free their slots: those lapse two lease TTLs and a second
    // after A's last renewal.
    await onB.take(4, 20_000);
  }, 40_000);

  it('hand a lease re-attached to another broker its slot at once', async () => {
    await h.setTenant({ tenant: 'rescued', max_in_flight: 4 });
    const a = await h.startPeer();
    await flood('rescued', 'rescued-a', 2);
    const onA = await RawWorker.connect(a.address, { queues: ['rescued-a'], capacity: 2 });
    const leases = await onA.take(2);
    await killWithWorker(a, onA);
    // Its worker re-attaches them to B (as to A restarted, under a new name).
    const moved = await RawWorker.connect(h.broker.address, {
      queues: ['rescued-idle'],
      capacity: 2,
      in_flight: leases.map(({ job_id, lease_token, tenant }) => ({ job_id, lease_token, tenant })),
    });
    workers.push(moved);
    expect((await moved.welcome()).reattached_job_ids).toHaveLength(2);

    // A's holding, lapsing or not, no longer counts them: B serves the rest of the cap now.
    const onB = await h.worker({ queues: ['rescued-b'], capacity: 10 });
    await flood('rescued', 'rescued-b', 10);
    await onB.take(2, 1000);
    await sleep(500);
    expect(onB.leases).toHaveLength(2);
  });

  it('free the slot of a lease the sweep reclaims at once, not when it lapses', async () => {
    await h.setTenant({ tenant: 'reclaimed', max_in_flight: 3 });
    // A's leased slots lapse two minutes after it died (its lease TTL is a
    // minute): long after B's sweep, to which its entries look idle past B's
    // lease TTL.
    const a = await h.startPeer({ leaseTtlMs: 60_000 });
    await flood('reclaimed', 'reclaimed-q', 3);
    const onA = await RawWorker.connect(a.address, { queues: ['reclaimed-q'], capacity: 3 });
    const leases = await onA.take(3); // A holds all 3 slots
    await killWithWorker(a, onA);
    await idleFor(60_000, 'reclaimed', 'reclaimed-q');
    await flood('reclaimed', 'reclaimed-q', 10);

    // B's first sweep of the queue (at its first worker) fails A's leases
    // (retried later) and frees their slots: B serves the cap, and no more.
    const onB = await h.worker({ queues: ['reclaimed-q'], capacity: 10 });
    const taken = await onB.take(3);
    await sleep(500);
    expect(onB.leases).toHaveLength(3);
    const onBNow = new Set(taken.map((lease) => lease.job_id));
    for (const lease of leases) {
      const job = await h.getJob('reclaimed', lease.job_id);
      if (!onBNow.has(lease.job_id)) expect(job.state).not.toBe('LEASED');
      expect(job.last_error).toMatch(/lease expired/);
    }
  });
});

/** Makes the pending entries of tenant×queue (priority 0) look idle for `ms`, as when their broker died that long ago. */
async function idleFor(ms: number, tenant: string, queue: string): Promise<void> {
  const redis = new Redis(h.redis.url);
  try {
    const stream = new Keys(h.broker.config.keyPrefix).ready(tenant, queue, 0);
    const pending = (await redis.xpending(stream, GROUP, '-', '+', 100)) as Array<[string, string]>;
    for (const [entry, consumer] of pending) {
      await redis.xclaim(stream, GROUP, consumer, 0, entry, 'IDLE', ms, 'JUSTID');
    }
  } finally {
    redis.disconnect();
  }
}
