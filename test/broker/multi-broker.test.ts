import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useBroker, usePeer } from '../helpers/harness.js';
import { call, eventually, rawClients, type TestBroker } from '../helpers/broker.js';
import { monitor } from '../helpers/monitor.js';
import { RawWorker } from '../helpers/raw-worker.js';
import { holdWithBufferFull } from '../helpers/full-buffer.js';
import { Keys } from '../../src/store/keys.js';
import { PREFETCH_MAX } from '../../src/broker/prefetch-buffers.js';

// Two brokers on one Redis and one key prefix: A (the harness's) and B.
const h = useBroker();
const peer = usePeer(h);

describe('several brokers on one Redis', () => {
  it('delivers a job enqueued on one broker to a worker on another at once', async () => {
    const worker = await peer.worker(['shared']);
    const { job_id } = await h.enqueue({ tenant: 'acme', queue: 'shared' });
    const [lease] = await worker.take(1, 2000);
    expect(lease!.job_id).toBe(job_id);
    worker.complete(lease!);
    await h.waitState('acme', job_id, 'COMPLETED');
  });

  it('rings the doorbell for the jobs it leaves in Redis, not for those its own claim read', async () => {
    // Another broker could read only what is left in the streams: a ring of a
    // job read here cost each of them an empty fetch, and this one a PUBLISH.
    const keys = new Keys(h.broker.config.keyPrefix);
    const listener = new Redis(h.redis.url);
    const rings: Array<ReadonlyArray<readonly [string, number, number?]>> = [];
    listener.on('message', (_channel: string, message: string) => {
      const { work } = JSON.parse(message) as { work: Array<[string, number, number?]> };
      if (work.length > 0) rings.push(work); // not the idle-room announcements
    });
    await listener.subscribe(keys.doorbell('bell'));
    try {
      const worker = await h.worker({ queues: ['bell'], capacity: 4 });
      for (let i = 0; i < 5; i++) {
        const { job_id } = await h.enqueue({ tenant: 'acme', queue: 'bell' });
        const [lease] = await worker.take(1);
        expect(lease!.job_id).toBe(job_id);
        worker.complete(lease!);
        await h.waitState('acme', job_id, 'COMPLETED');
      }
      // Not runnable yet: no claim reads it, and the ring names its due time and priority.
      const delayed = await h.enqueue({
        tenant: 'acme',
        queue: 'bell',
        delay_ms: 60_000,
        priority: 3,
      });
      await eventually(() => (rings.length > 0 ? true : undefined));
      const { run_at_unix_ms } = await h.getJob('acme', delayed.job_id);
      expect(rings).toEqual([[['acme', Number(run_at_unix_ms), 3]]]);

      // A runnable and a delayed job of one tenant in one turn, through B (no
      // worker there, so no claim): two rings, the delayed one's due time kept.
      rings.length = 0;
      const onPeer = rawClients(peer.broker.address);
      try {
        const { results } = await call(onPeer.broker.EnqueueBatch.bind(onPeer.broker), {
          jobs: [
            { tenant: 'acme', queue: 'bell', priority: 1 },
            { tenant: 'acme', queue: 'bell', priority: 5, delay_ms: 60_000 },
          ],
        });
        await eventually(() => (rings.length > 0 ? true : undefined));
        const due = await h.getJob('acme', results[1]!.job_id);
        expect(rings).toEqual([
          [
            ['acme', 0, 1],
            ['acme', Number(due.run_at_unix_ms), 5],
          ],
        ]);
      } finally {
        onPeer.close();
      }
    } finally {
      listener.disconnect();
    }
  });

  /**
   * Acme's buffer of `queue` on A at its target, A's one worker holding a
   * lease, and a count of A's reads of acme's ready streams from then on.
   */
  async function fullBufferOnA(queue: string) {
    for (let i = 0; i < 2; i++) {
      await h.enqueueBatch(Array.from({ length: PREFETCH_MAX }, () => ({ tenant: 'acme', queue })));
    }
    const onA = await h.worker({ queues: [queue], capacity: 1 });
    const held = await holdWithBufferFull(h.broker.broker.dispatcher(queue), onA);
    // Each read of the tenant×queue's ready streams looks up its levels first.
    const levels = new Keys(h.broker.config.keyPrefix).levels('acme', queue);
    let reads = 0;
    const stopMonitor = await monitor(h.redis.port, ([command, key]) => {
      if (command === 'ZREVRANGE' && key === levels) reads++;
    });
    return { onA, held, reads: () => reads, stopMonitor };
  }

  it("leases an urgent job rung by another broker ahead of this one's full buffer", async () => {
    const queue = 'rung-urgent';
    const { onA, held, reads, stopMonitor } = await fullBufferOnA(queue);
    // B serves no worker of the queue: it stores the jobs and rings A's doorbell.
    const onPeer = rawClients(peer.broker.address);
    try {
      const enqueue = onPeer.broker.Enqueue.bind(onPeer.broker);
      const flat = { tenant: 'acme', queue };
      for (let i = 0; i < 20; i++) await call(enqueue, flat);
      const urgent = await call(enqueue, { ...flat, priority: 9 });
      await expect
        .poll(() => h.broker.broker.dispatcher(queue).prefetchUse().jobs)
        .toBe(PREFETCH_MAX + 1);
      // One read, the urgent job's: the rings said the twenty before it beat
      // nothing buffered (a ring that does not say costs a read each).
      await expect.poll(reads).toBe(1);
      onA.complete(held);
      const [next] = await onA.take(1);
      expect(next!.job_id).toBe(urgent.job_id);
    } finally {
      stopMonitor();
      onPeer.close();
    }
  });

  it('reads a delayed urgent job rung by another broker beside a runnable one at its due time only', async () => {
    // Rung as one, the two were heard as an urgent job runnable now: A read at
    // once for a job not there (learning its due time only from that read's
    // answer), and again when it came due.
    const queue = 'rung-urgent-due';
    const dispatcher = h.broker.broker.dispatcher(queue);
    const { onA, held, reads, stopMonitor } = await fullBufferOnA(queue);
    const onPeer = rawClients(peer.broker.address);
    try {
      const { results } = await call(onPeer.broker.EnqueueBatch.bind(onPeer.broker), {
        jobs: [
          { tenant: 'acme', queue },
          { tenant: 'acme', queue, priority: 9, delay_ms: 200 },
        ],
      });
      await expect
        .poll(() => dispatcher.prefetchUse().jobs, { timeout: 5000 })
        .toBe(PREFETCH_MAX + 1);
      await expect.poll(reads).toBe(1); // MONITOR's line may come after the read's answer
      onA.complete(held);
      const [next] = await onA.take(1);
      expect(next!.job_id).toBe(results[1]!.job_id);
    } finally {
      stopMonitor();
      onPeer.close();
    }
  });

  describe('a retry that comes due while the broker that made it has no free slot', () => {
    // C: a broker with a production-like lease TTL. Its recovery sweep (every
    // half TTL) would otherwise find the retry, and stand in for the
    // announcement under test.
    let c: TestBroker;
    const onC: RawWorker[] = [];
    beforeAll(async () => {
      c = await h.startPeer({ leaseTtlMs: 60_000 });
    });
    afterAll(async () => {
      for (const worker of onC) worker.drop();
      await c.shutdown();
    });

    /**
     * An idle worker on C, once C has said so on the queue's doorbell (A then
     * leaves it due work), of acme's jobs only when `dedicated`.
     */
    async function idleOnC(queue: string, dedicated = false): Promise<RawWorker> {
      const listener = new Redis(h.redis.url);
      try {
        const heard = new Promise<void>((resolve) => {
          listener.on('message', (_channel: string, message: string) => {
            const { from, room } = JSON.parse(message) as { from: string; room?: true };
            if (room && from === c.broker.id) resolve();
          });
        });
        await listener.subscribe(new Keys(h.broker.config.keyPrefix).doorbell(queue));
        const tenants = dedicated ? ['acme'] : [];
        const worker = await RawWorker.connect(c.address, {
          queues: [queue],
          capacity: 1,
          tenants,
        });
        onC.push(worker);
        await heard;
        return worker;
      } finally {
        listener.disconnect();
      }
    }

    it("goes to another broker's idle worker while the failing worker is busy with the next job", async () => {
      const queue = 'retry-elsewhere';
      const onA = await h.worker({ queues: [queue], capacity: 1 });
      const x = await h.enqueue({ tenant: 'acme', queue });
      const [leaseX] = await onA.take(1);
      // Read into A's buffer. Another tenant's: C's worker, acme's only, does
      // not take it, so A keeps it for its own worker (acme's would go to C).
      const y = await h.enqueue({ tenant: 'other', queue });
      const worker = await idleOnC(queue, true);
      onA.fail(leaseX!, 'try again shortly', true, 300);
      const [leaseY] = await onA.take(1); // A's worker is busy with Y from now on
      expect(leaseY!.job_id).toBe(y.job_id);
      const [retry] = await worker.take(1, 10_000);
      expect(retry!.job_id).toBe(x.job_id);
    });

    it("goes to another broker's idle worker when the failing worker has left", async () => {
      const queue = 'retry-after-leave';
      const onA = await h.worker({ queues: [queue], capacity: 1 });
      const x = await h.enqueue({ tenant: 'acme', queue });
      const [leaseX] = await onA.take(1);
      const worker = await idleOnC(queue);
      onA.fail(leaseX!, 'try again shortly', true, 300);
      await h.waitState('acme', x.job_id, 'FAILED_RETRYING');
      onA.end(); // A has no worker of the queue any more
      const [retry] = await worker.take(1, 10_000);
      expect(retry!.job_id).toBe(x.job_id);
    });

    it("goes to another broker's idle worker when a sweep made it of a dead broker's lease", async () => {
      const queue = 'retry-reclaimed';
      const dying = await h.startPeer();
      const onDying = await RawWorker.connect(dying.address, { queues: [queue], capacity: 1 });
      const x = await h.enqueue({ tenant: 'acme', queue, backoff: { initial_ms: 300 } });
      await onDying.take(1);
      await dying.kill();
      onDying.drop();
      // A's worker, busy: A's sweep takes the lease over as expired, a retry.
      const onA = await h.worker({ queues: [queue], capacity: 1 });
      await h.enqueue({ tenant: 'acme', queue });
      await onA.take(1);
      const worker = await idleOnC(queue);
      const [retry] = await worker.take(1, 10_000);
      expect(retry!.job_id).toBe(x.job_id);
      expect(retry!.attempt).toBe(2);
    });
  });

  it('says it has idle workers of a queue only where another broker listens', async () => {
    // Once a second per queue with idle workers: a broker alone published a
    // message per queue that only it heard.
    const keys = new Keys(h.broker.config.keyPrefix);
    const channel = keys.doorbell('roomy');
    const commands: string[] = [];
    const stop = await monitor(h.redis.port, (args) => {
      if (args.includes(channel)) commands.push(args[0]!.toUpperCase());
    });
    const listener = new Redis(h.redis.url);
    try {
      await h.worker({ queues: ['roomy'], capacity: 2 });
      await eventually(() =>
        commands.filter((c) => c === 'PUBSUB').length >= 2 ? true : undefined,
      );
      expect(commands).not.toContain('PUBLISH');

      // Another listener on the queue's doorbell (as a broker serving it): told.
      const rooms: unknown[] = [];
      listener.on('message', (_channel: string, message: string) => {
        const parsed = JSON.parse(message) as { room?: true };
        if (parsed.room) rooms.push(parsed);
      });
      await listener.subscribe(channel);
      await eventually(() => (rooms.length > 0 ? true : undefined), { timeoutMs: 5000 });
    } finally {
      stop();
      listener.disconnect();
    }
  });

  it('keeps a lease that a worker moved to another broker while the first lives on', async () => {
    const onA = await h.worker({ queues: ['move'], capacity: 1 });
    const { job_id } = await h.enqueue({ tenant: 'acme', queue: 'move' });
    const [lease] = await onA.take(1);
    onA.drop();
    const onB = await peer.reattach('move', 'acme', lease!);
    expect((await onB.welcome()).reattached_job_ids).toEqual([job_id]);
    await new Promise((resolve) => setTimeout(resolve, 2500)); // A's orphan would have expired by now
    expect((await h.getJob('acme', job_id)).state).toBe('LEASED');
    onB.complete(lease!);
    const job = await h.waitState('acme', job_id, 'COMPLETED');
    expect(job.attempts).toBe(1);
  });

  it('records the ack of a lease moved back to the broker that still holds it (A → B → A)', async () => {
    const first = await h.worker({ queues: ['pingpong'], capacity: 1 });
    const { job_id } = await h.enqueue({ tenant: 'acme', queue: 'pingpong' });
    const [lease] = await first.take(1);
    const inFlight = [{ job_id, lease_token: lease!.lease_token, tenant: 'acme' }];
    first.drop(); // A keeps the lease as an orphan
    const onB = await RawWorker.connect(peer.broker.address, {
      queues: ['pingpong'],
      capacity: 1,
      in_flight: inFlight,
    });
    peer.keep(onB);
    expect((await onB.welcome()).reattached_job_ids).toEqual([job_id]);
    onB.drop(); // B keeps it as an orphan now
    const backOnA = await h.worker({ queues: ['pingpong'], capacity: 1, in_flight: inFlight });
    expect((await backOnA.welcome()).reattached_job_ids).toEqual([job_id]);

    backOnA.complete(lease!, Buffer.from('done'));
    const job = await h.waitState('acme', job_id, 'COMPLETED');
    expect(job.attempts).toBe(1);
    expect(job.result.toString()).toBe('done');
    expect(backOnA.ackOutcomes()).toEqual([]);
  });

  it('re-attaches a later lease of a job this broker holds a stale copy of, and frees its slot', async () => {
    // A still holds attempt 1 (orphaned) when the worker brings back attempt 2,
    // granted by B after B adopted attempt 1 and the worker failed it there.
    await h.setTenant({ tenant: 'relay', max_in_flight: 2 });
    const first = await h.worker({ queues: ['relay'], capacity: 1 });
    const { job_id } = await h.enqueue({ tenant: 'relay', queue: 'relay', max_attempts: 3 });
    const [attempt1] = await first.take(1);
    first.drop();
    const adopter = await peer.reattach('relay', 'relay', attempt1!);
    expect((await adopter.welcome()).reattached_job_ids).toEqual([job_id]);
    adopter.send({ drain: {} });
    adopter.fail(attempt1!, 'try again', true, 1);
    const second = await peer.worker(['relay'], 1);
    const [attempt2] = await second.take(1);
    expect(attempt2!.attempt).toBe(2);
    second.drop();
    const backOnA = await h.worker({
      queues: ['relay'],
      capacity: 2,
      in_flight: [{ job_id, lease_token: attempt2!.lease_token, tenant: 'relay' }],
    });
    expect((await backOnA.welcome()).reattached_job_ids).toEqual([job_id]);
    backOnA.complete(attempt2!);
    expect((await h.waitState('relay', job_id, 'COMPLETED')).attempts).toBe(2);

    // Past the stale copy's expiry: its slot of the tenant's 2 is free again.
    await new Promise((resolve) => setTimeout(resolve, 2000));
    await h.enqueueBatch([
      { tenant: 'relay', queue: 'relay' },
      { tenant: 'relay', queue: 'relay' },
    ]);
    const next = await backOnA.take(2);
    for (const lease of next) backOnA.complete(lease);
  });

  it('keeps in the index a tenant whose job another broker took while this one retired it', async () => {
    // The job reaches C between A's fetch that found the tenant empty and A's
    // retirement of it; then C dies holding it. Only a tenant in the index is
    // swept, so A gets the job back only if the index still names its tenant.
    // C's long lease TTL keeps its own sweep (every half TTL) from retiring the tenant first.
    const c = await h.startPeer({ leaseTtlMs: 60_000 });
    const holder = await RawWorker.connect(c.address, { queues: ['reindex'], capacity: 1 });
    peer.keep(holder);
    const heir = await h.worker({ queues: ['reindex'], capacity: 1 });
    const redis = new Redis(h.redis.url);
    const store = h.broker.broker.store;
    const fetch = store.fetch.bind(store);
    let jobId: string | undefined;
    store.fetch = async (queue, wants, now) => {
      const results = await fetch(queue, wants, now);
      const late = wants.findIndex((want) => want.tenant === 'late');
      const result = results[late];
      const idle = result !== undefined && !(result instanceof Error) && result.idle;
      if (queue === 'reindex' && idle && jobId === undefined) {
        const clients = rawClients(c.address);
        const enqueue = clients.broker.Enqueue.bind(clients.broker);
        jobId = (await call(enqueue, { tenant: 'late', queue: 'reindex' })).job_id;
        clients.close();
        expect((await holder.take(1))[0]!.job_id).toBe(jobId);
      }
      return results;
    };
    try {
      // C swept the queue when its worker joined; the tenant goes in after that
      // sweep, so only A's sweep finds it (in the index with nothing: fetched
      // once, found empty, retired).
      await new Promise((resolve) => setTimeout(resolve, 300));
      await redis.sadd(store.keys.activeTenants('reindex'), 'late');
      await eventually(() => jobId);
      await c.kill();
      holder.drop();
      const [lease] = await heir.take(1, 15_000);
      expect([lease!.job_id, lease!.attempt]).toEqual([jobId, 2]);
    } finally {
      store.fetch = fetch;
      redis.disconnect();
    }
  });

  it('hands the jobs a broker read ahead to the workers of another once its own workers left', async () => {
    // A worker of capacity 1 on A: A reads more of acme's jobs than it leases.
    const onA = await h.worker({ queues: ['moved'], capacity: 1 });
    const ids = new Set<string>();
    for (let i = 0; i < 20; i++) {
      ids.add((await h.enqueue({ tenant: 'acme', queue: 'moved' })).job_id);
    }
    const [first] = await onA.take(1);
    onA.complete(first!);
    await onA.take(1); // lost with the worker: it expires and runs again
    onA.drop(); // the worker restarts and connects to B, as behind a load balancer
    const onB = await peer.worker(['moved']);
    const done = new Set([first!.job_id]);
    await eventually(
      () => {
        for (const lease of onB.leases) {
          if (done.has(lease.job_id)) continue;
          done.add(lease.job_id);
          onB.complete(lease);
        }
        return done.size === ids.size ? true : undefined;
      },
      { timeoutMs: 20_000 },
    );
  }, 30_000);

  it('gives the jobs it read ahead back at once when their worker moves to another broker', async () => {
    // A lease TTL of a minute: jobs left in A's pending list would reach B
    // only when a sweep found them idle past it.
    const slow = { leaseTtlMs: 60_000, heartbeatIntervalMs: 300 };
    const a = await h.startPeer(slow);
    const b = await h.startPeer(slow);
    const clients = rawClients(a.address);
    const workers: RawWorker[] = [];
    try {
      const onA = await RawWorker.connect(a.address, { queues: ['moved-slow'], capacity: 1 });
      workers.push(onA);
      const enqueue = clients.broker.EnqueueBatch.bind(clients.broker);
      const { results } = await call(enqueue, {
        jobs: Array.from({ length: 10 }, () => ({ tenant: 'acme', queue: 'moved-slow' })),
      });
      const [running] = await onA.take(1);
      expect(a.broker.dispatcher('moved-slow').prefetchUse().jobs).toBeGreaterThan(0);
      // The worker's connection to A breaks; it reconnects to B with its lease.
      onA.drop();
      const onB = await RawWorker.connect(b.address, {
        queues: ['moved-slow'],
        capacity: 2,
        in_flight: [{ job_id: running!.job_id, lease_token: running!.lease_token, tenant: 'acme' }],
      });
      workers.push(onB);
      const others = results.map((r) => r.job_id).filter((id) => id !== running!.job_id);
      const seen: string[] = [];
      while (seen.length < others.length) {
        const [lease] = await onB.take(1, 10_000);
        seen.push(lease!.job_id);
        onB.complete(lease!);
      }
      expect(seen.sort()).toEqual(others.sort());
      onB.complete(running!);
    } finally {
      for (const worker of workers) worker.drop();
      clients.close();
      await a.shutdown();
      await b.shutdown();
    }
  }, 40_000);

  it('leaves the jobs it could not give back to the sweep, a lease TTL later', async () => {
    const warnings: unknown[] = [];
    const a = await h.startPeer({ onLog: (line) => warnings.push(line.msg) });
    a.broker.store.release = () => Promise.reject(new Error('Redis is unreachable'));
    const clients = rawClients(a.address);
    const onA = await RawWorker.connect(a.address, { queues: ['not-given'], capacity: 1 });
    try {
      const enqueue = clients.broker.EnqueueBatch.bind(clients.broker);
      const { results } = await call(enqueue, {
        jobs: Array.from({ length: 6 }, () => ({ tenant: 'acme', queue: 'not-given' })),
      });
      const [first] = await onA.take(1);
      onA.complete(first!);
      await h.waitState('acme', first!.job_id, 'COMPLETED');
      onA.drop();
      const onB = await peer.worker(['not-given'], 5);
      const others = results.map((r) => r.job_id).filter((id) => id !== first!.job_id);
      const seen = new Set<string>();
      await eventually(() => {
        for (const lease of onB.leases) {
          if (seen.has(lease.job_id)) continue;
          seen.add(lease.job_id);
          onB.complete(lease);
        }
        return seen.size === others.length ? true : undefined;
      });
      expect([...seen].sort()).toEqual(others.sort());
      expect(warnings).toContain(
        'could not give back jobs no worker got; other brokers take them after the lease TTL',
      );
    } finally {
      onA.drop();
      clients.close();
      await a.shutdown();
    }
  });

  it("takes over a dead broker's leases and prefetched jobs", async () => {
    const onA = await h.worker({ queues: ['takeover'], capacity: 3 });
    const { results } = await h.enqueueBatch(
      Array.from({ length: 30 }, (_, i) => ({
        tenant: 'acme',
        queue: 'takeover',
        payload: Buffer.from(String(i)),
      })),
    );
    const held = await onA.take(3); // A also holds the rest in its prefetch buffer
    const heir = await peer.worker(['takeover'], 30);
    await h.broker.kill();
    onA.drop();

    const seen = new Map<string, number>();
    while (seen.size < 30) {
      for (const lease of await heir.take(1, 15_000)) {
        seen.set(lease.job_id, lease.attempt);
        heir.complete(lease);
      }
    }
    expect([...seen.keys()].sort()).toEqual(results.map((r) => r.job_id).sort());
    const heldIds = new Set(held.map((l) => l.job_id));
    for (const [id, attempt] of seen) expect([id, attempt]).toEqual([id, heldIds.has(id) ? 2 : 1]);
  });
});

describe('several brokers on one Redis, one of them dead', () => {
  it("renews a dead broker's lease as it moves: a sweep just after leaves the job to its worker", async () => {
    await h.restartBroker(); // the test before killed A
    const onA = await h.worker({ queues: ['late-move'], capacity: 1 });
    const { job_id } = await h.enqueue({ tenant: 'acme', queue: 'late-move' });
    const [lease] = await onA.take(1);
    await h.broker.kill();
    onA.drop();
    // The worker reaches B most of a lease TTL (1.5 s) after A's last renewal.
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const onB = await peer.reattach('late-move', 'acme', lease!);
    expect((await onB.welcome()).reattached_job_ids).toEqual([job_id]);

    // Its entry idles from the move on, not from A's last renewal: no sweep
    // takes it as expired before B's first renewal, up to 500 ms later.
    const redis = new Redis(h.redis.url);
    try {
      const stream = new Keys(h.broker.config.keyPrefix).ready('acme', 'late-move', 0);
      const [pending] = (await redis.xpending(stream, 'rota', '-', '+', 1)) as Array<
        [string, string, number, number]
      >;
      expect(pending?.[2]).toBeLessThan(500);
    } finally {
      redis.disconnect();
    }
    onB.complete(lease!);
    const onPeer = rawClients(peer.broker.address);
    try {
      const job = await eventually(async () => {
        const read = await call(onPeer.broker.GetJob.bind(onPeer.broker), {
          tenant: 'acme',
          job_id,
        });
        return read.state === 'COMPLETED' ? read : undefined;
      });
      expect(job.attempts).toBe(1);
    } finally {
      onPeer.close();
    }
  });
});

describe('several brokers on one Redis, after Redis restarted', () => {
  it('still tells a worker on the other broker that its job was cancelled', async () => {
    await h.restartBroker(); // the test before killed A
    await h.redis.kill();
    await h.redis.restart();
    // Both brokers listen again: A's subscriber and B's (each subscribes on its own).
    const observer = new Redis(h.redis.url);
    const channel = `${h.broker.config.keyPrefix}:cancellations`;
    try {
      await expect
        .poll(async () => ((await observer.pubsub('NUMSUB', channel)) as [string, number])[1], {
          timeout: 10_000,
        })
        .toBe(2);
    } finally {
      observer.disconnect();
    }
    const worker = await peer.worker(['cancel-after-restart']);
    const { job_id } = await eventually(() =>
      h.enqueue({ tenant: 'acme', queue: 'cancel-after-restart' }).catch(() => undefined),
    );
    await worker.take(1, 5000);
    expect(await h.cancel('acme', job_id)).toEqual({ cancelled: true, state: 'CANCELLED' });
    await expect.poll(() => worker.cancels(), { timeout: 5000 }).toContain(job_id);
  });
});
