import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useBroker } from '../helpers/harness.js';
import { call, eventually, rawClients, type TestBroker } from '../helpers/broker.js';
import { RawWorker, autoComplete } from '../helpers/raw-worker.js';
import { Keys } from '../../src/store/keys.js';

// Two brokers on one Redis and one key prefix: A (the harness's) and B.
const h = useBroker();
let b: TestBroker;
let redis: Redis;
const workers: RawWorker[] = [];
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

beforeAll(async () => {
  b = await h.startPeer();
  redis = new Redis(h.redis.url);
});

afterAll(async () => {
  for (const worker of workers) worker.drop();
  redis.disconnect();
  await b.shutdown();
});

async function flood(tenant: string, queue: string, count: number): Promise<void> {
  await h.enqueueBatch(Array.from({ length: count }, () => ({ tenant, queue })));
}

/** Workers on A and on B complete every job they get for `ms`; the jobs each one served. */
async function serveOnBoth(
  queueOnA: string,
  queueOnB: string,
  ms: number,
): Promise<[number, number]> {
  const onA = await h.worker({ queues: [queueOnA], capacity: 20 });
  const onB = await RawWorker.connect(b.address, { queues: [queueOnB], capacity: 20 });
  workers.push(onB);
  const runs = [autoComplete(onA), autoComplete(onB)] as const;
  await sleep(ms);
  for (const run of runs) run.stop();
  return [runs[0].order.length, runs[1].order.length];
}

describe('rate limits with several brokers', () => {
  it('holds a tenant to its rate across brokers, not to the rate per broker', async () => {
    // Its jobs wait on two queues, each served by a worker of one broker, so
    // both brokers dispatch the tenant at once; its rate covers all queues.
    await h.setTenant({ tenant: 'limited', rate: 20, burst: 5 });
    await flood('limited', 'rated-a', 200);
    await flood('limited', 'rated-b', 200);
    const started = Date.now(); // before either broker can take a token
    const [onAServed, onBServed] = await serveOnBoth('rated-a', 'rated-b', 3000);
    const seconds = (Date.now() - started) / 1000;
    // Each broker alone would allow 5 + 20/s; together they must not exceed that once.
    expect(onAServed + onBServed).toBeLessThanOrEqual(5 + 20 * seconds);
    expect(onAServed).toBeGreaterThanOrEqual(5); // and both serve it
    expect(onBServed).toBeGreaterThanOrEqual(5);
  });

  it("lets every broker's workers serve a rate-limited tenant of one queue", async () => {
    // A broker buffers about a second of the tenant's rate, not 512 jobs, so
    // its backlog is not held by whichever broker fetched first.
    await h.setTenant({ tenant: 'spread', rate: 20, burst: 5 });
    await flood('spread', 'spread', 300);
    const [onAServed, onBServed] = await serveOnBoth('spread', 'spread', 3000);
    expect(onAServed).toBeGreaterThanOrEqual(5);
    expect(onBServed).toBeGreaterThanOrEqual(5);
  });

  it('keeps a tenant waiting, not unlimited, while its tokens cannot be taken', async () => {
    await h.setTenant({ tenant: 'blocked', rate: 1000 });
    const bucket = new Keys(h.broker.config.keyPrefix).tokens('blocked');
    await redis.set(bucket, 'not a bucket'); // take_tokens fails with WRONGTYPE
    const worker = await h.worker({ queues: ['broken-bucket'], capacity: 10 });
    await flood('blocked', 'broken-bucket', 5);
    await sleep(1500);
    expect(worker.leases).toHaveLength(0);
    await redis.del(bucket);
    const leases = await worker.take(5, 5000);
    expect(leases.map((l) => l.tenant)).toEqual(Array(5).fill('blocked'));
  });
});

describe('in-flight caps with several brokers', () => {
  it('holds a tenant to its max_in_flight across brokers, and both brokers serve it', async () => {
    // As for the rate: two queues, each served by a worker of one broker.
    await h.setTenant({ tenant: 'capped', max_in_flight: 4 });
    await flood('capped', 'cap-a', 20);
    await flood('capped', 'cap-b', 20);
    const onA = await h.worker({ queues: ['cap-a'], capacity: 10 });
    const onB = await RawWorker.connect(b.address, { queues: ['cap-b'], capacity: 10 });
    workers.push(onB);
    const held = (): number => onA.leases.length + onB.leases.length;
    await sleep(1500); // each broker alone would hand out 4
    expect(held()).toBe(4);

    // Completing one lease at a time, the oldest first: never more than 4 at once,
    // and the two brokers share the cap until all 40 jobs are done.
    const done = new Set<string>();
    const deadline = Date.now() + 30_000;
    while (done.size < 40 && Date.now() < deadline) {
      for (const worker of [onA, onB]) {
        const open = worker.leases.filter((lease) => !done.has(lease.job_id));
        expect(held() - done.size).toBeLessThanOrEqual(4);
        const oldest = open[0];
        if (oldest) {
          worker.complete(oldest);
          done.add(oldest.job_id);
        }
      }
      await sleep(20);
    }
    expect(done.size).toBe(40);
    expect(onA.leases).toHaveLength(20);
    expect(onB.leases).toHaveLength(20);
  });

  it("holds a queue override's max_in_flight across brokers serving that queue", async () => {
    await h.setTenant({ tenant: 'narrow', queues: [{ queue: 'narrow-q', max_in_flight: 2 }] });
    const onA = await h.worker({ queues: ['narrow-q'], capacity: 10 });
    const onB = await RawWorker.connect(b.address, { queues: ['narrow-q'], capacity: 10 });
    workers.push(onB);
    // Enqueued on both brokers while both wait: each claims jobs of its own enqueues.
    const onBClients = rawClients(b.address);
    try {
      for (let i = 0; i < 20; i++) {
        await h.enqueue({ tenant: 'narrow', queue: 'narrow-q' });
        await call(onBClients.broker.Enqueue.bind(onBClients.broker), {
          tenant: 'narrow',
          queue: 'narrow-q',
        });
      }
    } finally {
      onBClients.close();
    }
    await sleep(1500);
    expect(onA.leases.length + onB.leases.length).toBe(2);
  });

  it('keeps a capped tenant waiting, not uncapped, while its slots cannot be held', async () => {
    await h.setTenant({ tenant: 'unheld', max_in_flight: 3 });
    const slots = new Keys(h.broker.config.keyPrefix).slots('unheld');
    await redis.set(slots, 'not a holding'); // hold_slots fails with WRONGTYPE
    const worker = await h.worker({ queues: ['broken-slots'], capacity: 10 });
    await flood('unheld', 'broken-slots', 3);
    await sleep(1500);
    expect(worker.leases).toHaveLength(0);
    await redis.del(slots);
    const leases = await worker.take(3, 5000);
    expect(leases.map((l) => l.tenant)).toEqual(Array(3).fill('unheld'));
  });

  it('holds the brokers together to a max_in_flight lowered while they hold the old one', async () => {
    await h.setTenant({ tenant: 'lowered', max_in_flight: 20 });
    await flood('lowered', 'lower-a', 60);
    await flood('lowered', 'lower-b', 60);
    const onA = await h.worker({ queues: ['lower-a'], capacity: 20 });
    const onB = await RawWorker.connect(b.address, { queues: ['lower-b'], capacity: 20 });
    workers.push(onB);
    const done = new Set<string>();
    const open = (worker: RawWorker) => worker.leases.filter((lease) => !done.has(lease.job_id));
    const held = (): number => open(onA).length + open(onB).length;
    const complete = (worker: RawWorker, count: number): void => {
      for (const lease of open(worker).slice(0, count)) {
        worker.complete(lease);
        done.add(lease.job_id);
      }
    };
    await eventually(() => (held() === 20 ? true : undefined)); // both brokers hold slots
    // Steady: after a renewal round neither broker is told that the other
    // waits, so each keeps the slots its releases free.
    await sleep(1500);

    await h.setTenant({ tenant: 'lowered', max_in_flight: 4 }); // through A
    await eventually(() =>
      b.broker.limits.maxInFlight('lowered', 'lower-b') === 4 ? true : undefined,
    ); // the announcement reached B
    // Every lease ends at once: the slots each broker held under the old cap
    // are no longer its to refill.
    complete(onA, 20);
    complete(onB, 20);
    const servedBefore = [onA.leases.length, onB.leases.length] as const;
    // Then the oldest lease of each worker completes every 100 ms for 5 s:
    // never more than 4 at once, and both brokers' workers get jobs.
    let most = 0;
    for (let round = 0; round < 50; round++) {
      await sleep(100);
      most = Math.max(most, held());
      complete(onA, 1);
      complete(onB, 1);
    }
    expect(most).toBeLessThanOrEqual(4);
    expect(onA.leases.length).toBeGreaterThan(servedBefore[0]);
    expect(onB.leases.length).toBeGreaterThan(servedBefore[1]);
  });

  it('lets a broker refill no slot of its leases while its holding cannot be renewed', async () => {
    const logged: Array<Record<string, unknown>> = [];
    const c = await h.startPeer({ onLog: (line) => logged.push(line) });
    try {
      await h.setTenant({ tenant: 'unrenewed', max_in_flight: 3 });
      await flood('unrenewed', 'unrenewed', 6);
      const onC = await RawWorker.connect(c.address, { queues: ['unrenewed'], capacity: 10 });
      workers.push(onC);
      const [first] = await onC.take(3);
      const slots = new Keys(h.broker.config.keyPrefix).slots('unrenewed');
      await redis.set(slots, 'not a holding'); // hold_slots fails with WRONGTYPE
      await eventually(() =>
        logged.some((line) => String(line.msg).startsWith('could not hold in-flight slots'))
          ? true
          : undefined,
      );
      // Not knowing what Redis holds for it, the broker uses no slot, not even one it frees.
      onC.complete(first!);
      await h.waitState('unrenewed', first!.job_id, 'COMPLETED');
      await sleep(500);
      expect(onC.leases).toHaveLength(3);
      await redis.del(slots);
      const [next] = await onC.take(1);
      expect(next!.tenant).toBe('unrenewed');
    } finally {
      await c.shutdown(200);
    }
  });

  it('counts a lease a worker moved to another broker against the cap there, not freed here', async () => {
    await h.setTenant({ tenant: 'moved', max_in_flight: 2 });
    await flood('moved', 'move-cap', 2);
    const first = await h.worker({ queues: ['move-cap'], capacity: 2 });
    const moved = await first.take(2); // A holds both slots
    first.drop(); // A keeps the leases as orphans until they expire (stale: B adopts them)
    const onB = await RawWorker.connect(b.address, {
      queues: ['move-cap-b'], // B has no job of the tenant to dispatch
      capacity: 2,
      in_flight: moved.map((l) => ({
        job_id: l.job_id,
        lease_token: l.lease_token,
        tenant: l.tenant,
      })),
    });
    workers.push(onB);
    expect((await onB.welcome()).reattached_job_ids).toHaveLength(2);

    await flood('moved', 'move-cap', 2);
    const onA = await h.worker({ queues: ['move-cap'], capacity: 2 });
    // Past A's orphan expiry (lease TTL 1.5 s) and a renewal of the holdings.
    await sleep(3500);
    for (const lease of moved) {
      expect((await h.getJob('moved', lease.job_id)).state).toBe('LEASED'); // both still run on B
    }
    expect(onA.leases).toHaveLength(0);

    for (const lease of moved) onB.complete(lease);
    const leases = await onA.take(2, 10_000);
    expect(leases.map((l) => l.tenant)).toEqual(['moved', 'moved']);
  });

  it('refuses a lease whose slot Redis gave another broker, and runs the job once a slot is free', async () => {
    // Broker C counts on spare slots that are no longer its own in Redis (they
    // lapsed while Redis stalled, and another broker got them): the lease
    // script finds no slot, and the job goes back to wait, its attempt uncounted.
    const logged: Array<Record<string, unknown>> = [];
    const c = await h.startPeer({ onLog: (line) => logged.push(line) });
    try {
      await h.setTenant({ tenant: 'stale-slots', max_in_flight: 3 });
      await flood('stale-slots', 'stale-slots', 3);
      const onC = await RawWorker.connect(c.address, { queues: ['stale-slots'], capacity: 5 });
      workers.push(onC);
      const [kept, ...done] = await onC.take(3);
      for (const lease of done) onC.complete(lease);
      for (const lease of done) await h.waitState('stale-slots', lease.job_id, 'COMPLETED');
      // C keeps the 3 slots (1 leased) while no one else waits. Redis now says otherwise:
      const slots = new Keys(h.broker.config.keyPrefix).slots('stale-slots');
      const [seconds] = await redis.time();
      await redis
        .multi()
        .hset(slots, c.broker.id, 1, 'elsewhere', 2)
        .zadd(`${slots}:until`, Number(seconds) * 1000 + 2500, 'elsewhere')
        .exec();
      const { job_id: id } = await h.enqueue({ tenant: 'stale-slots', queue: 'stale-slots' });
      await sleep(500);
      expect((await h.getJob('stale-slots', id)).state).toBe('WAITING');
      expect(onC.leases).toHaveLength(3);
      // Once the other broker's slots lapse, C gets one and the job runs, as its first attempt.
      const [next] = await onC.take(1, 10_000);
      expect(next!.job_id).toBe(id);
      expect(next!.attempt).toBe(1);
      onC.complete(kept!);
      // Unless C's renewal came first (then it asked, and wrote no lease), the refusal was logged.
      const refusals = logged.filter((line) => String(line.msg).startsWith('Redis refused leases'));
      for (const line of refusals) expect(line).toMatchObject({ tenant: 'stale-slots', jobId: id });
    } finally {
      await c.shutdown(200);
    }
  });

  it('lets the slots of a broker that died lapse, so the other broker serves the tenant', async () => {
    await h.setTenant({ tenant: 'orphaned', max_in_flight: 2 });
    await flood('orphaned', 'lapse-b', 2);
    const onB = await RawWorker.connect(b.address, { queues: ['lapse-b'], capacity: 5 });
    workers.push(onB);
    await onB.take(2); // B holds both slots
    await flood('orphaned', 'lapse-a', 2);
    const onA = await h.worker({ queues: ['lapse-a'], capacity: 5 });
    await sleep(500);
    expect(onA.leases).toHaveLength(0);
    await b.kill();
    onB.drop();
    // After the slots of B's leases lapse (4 s): no broker sweeps lapse-b to reclaim them.
    const leases = await onA.take(2, 10_000);
    expect(leases.map((l) => l.tenant)).toEqual(['orphaned', 'orphaned']);
  });
});

describe('a pause with several brokers', () => {
  it('stops and resumes the tenant on a broker other than the one that took the call', async () => {
    const c = await h.startPeer();
    try {
      const onC = await RawWorker.connect(c.address, { queues: ['paused-c'], capacity: 5 });
      workers.push(onC);
      await h.setTenant({ tenant: 'halted', paused: true }); // through A
      await eventually(() =>
        c.broker.limits.blockedUntil('halted', 'paused-c') === Infinity ? true : undefined,
      ); // the announcement reached C
      await flood('halted', 'paused-c', 2);
      await flood('running', 'paused-c', 1);
      const [served] = await onC.take(1);
      expect(served!.tenant).toBe('running');
      await sleep(300);
      expect(onC.leases).toHaveLength(1);
      await h.setTenant({ tenant: 'halted', paused: false });
      const resumed = await onC.take(2);
      expect(resumed.map((lease) => lease.tenant)).toEqual(['halted', 'halted']);
    } finally {
      await c.shutdown(200);
    }
  });
});

describe('a broker that shuts down', () => {
  it('gives up its share of an in-flight cap at once, but the slots of leases left running', async () => {
    const c = await h.startPeer();
    await h.setTenant({ tenant: 'leaving', max_in_flight: 3 });
    await flood('leaving', 'leave', 3);
    const onC = await RawWorker.connect(c.address, { queues: ['leave'], capacity: 5 });
    workers.push(onC);
    const [done] = await onC.take(3); // two held through the shutdown, which they outlive
    onC.complete(done!);
    await h.waitState('leaving', done!.job_id, 'COMPLETED');
    const slots = new Keys(h.broker.config.keyPrefix).slots('leaving');
    expect(await redis.hget(slots, c.broker.id)).toBe('3');
    await c.shutdown(200);
    expect(await redis.hget(slots, c.broker.id)).toBe('2');
    expect(await redis.hget(`${slots}:leased`, c.broker.id)).toBe('2');
  });
});
