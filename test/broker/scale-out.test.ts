import net from 'node:net';
import { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import type { BrokerDeps } from '../../src/broker/broker.js';
import type { Recovery } from '../../src/broker/recovery.js';
import { useBroker, usePeer } from '../helpers/harness.js';
import { call, eventually, rawClients, type TestBroker } from '../helpers/broker.js';
import { RawWorker, autoComplete } from '../helpers/raw-worker.js';
import { Keys } from '../../src/store/keys.js';

// Two brokers on one Redis and one key prefix: A (the harness's) and B.
// Redis with AOF appendfsync always: its restarts keep every acknowledged write.
const h = useBroker({}, { appendfsync: 'always' });
const peer = usePeer(h);

/** A broker's Redis connections (commands and pub/sub). */
function connections(broker: TestBroker): { redis: Redis; subscriber: Redis } {
  const { redis, subscriber } = (broker.broker as unknown as { deps: BrokerDeps }).deps;
  return { redis, subscriber };
}

/** Ends the wait of a connection for its next reconnect attempt: it reconnects now, as its timer would. */
async function reconnectNow(redis: Redis): Promise<void> {
  const backoff = redis as unknown as { reconnectTimeout: NodeJS.Timeout | null };
  if (backoff.reconnectTimeout) clearTimeout(backoff.reconnectTimeout);
  backoff.reconnectTimeout = null;
  await redis.connect();
  await eventually(() => (redis.status === 'ready' ? true : undefined));
}

/**
 * Cuts the broker's pub/sub connection, as a network blip would, and keeps it
 * down for `downMs` (its reconnect waits that long): doorbells rung meanwhile are lost.
 */
async function cutSubscriber(broker: TestBroker, downMs: number): Promise<void> {
  const { subscriber } = connections(broker);
  const retryStrategy = subscriber.options.retryStrategy;
  subscriber.options.retryStrategy = () => {
    subscriber.options.retryStrategy = retryStrategy;
    return downMs;
  };
  const admin = new Redis(h.redis.url);
  try {
    const address = `127.0.0.1:${subscriber.stream.localPort}`;
    await admin.call('CLIENT', 'KILL', 'ADDR', address);
  } finally {
    admin.disconnect();
  }
  await eventually(() => (subscriber.status === 'ready' ? undefined : true));
}

describe('several brokers on one Redis: a lost doorbell', () => {
  it('is repaired by the sweep for a tenant the broker follows only for a far delayed job', async () => {
    const worker = await peer.worker(['lost-bell'], 1);
    // B follows the tenant for this job: it runs in a minute.
    await h.enqueue({ tenant: 'acme', queue: 'lost-bell', delay_ms: 60_000 });
    await new Promise((resolve) => setTimeout(resolve, 300)); // its doorbell reaches B
    await cutSubscriber(peer.broker, 1000);
    const { job_id } = await h.enqueue({ tenant: 'acme', queue: 'lost-bell' });
    // Not in a minute: the sweep (every half lease TTL) finds the job nobody read.
    const [lease] = await worker.take(1, 5000);
    expect(lease!.job_id).toBe(job_id);
    worker.complete(lease!);
    await h.waitState('acme', job_id, 'COMPLETED');
  });

  it('is repaired by the sweep for a delayed job of a tenant the broker follows for a later one', async () => {
    const worker = await peer.worker(['lost-bell-delayed'], 1);
    await h.enqueue({ tenant: 'acme', queue: 'lost-bell-delayed', delay_ms: 60_000 });
    await new Promise((resolve) => setTimeout(resolve, 300)); // its doorbell reaches B
    await cutSubscriber(peer.broker, 1000);
    // Its doorbell is lost: B knows of the job only from a sweep.
    const { job_id } = await h.enqueue({
      tenant: 'acme',
      queue: 'lost-bell-delayed',
      delay_ms: 1500,
    });
    const [lease] = await worker.take(1, 6000);
    expect(lease!.job_id).toBe(job_id);
    worker.complete(lease!);
  });

  it('is repaired as soon as the broker listens again, not at the next sweep', async () => {
    // A lease TTL of a minute: C's next sweep is half a minute away.
    const c = await h.startPeer({ leaseTtlMs: 60_000 });
    const worker = await RawWorker.connect(c.address, { queues: ['deaf'], capacity: 1 });
    try {
      await new Promise((resolve) => setTimeout(resolve, 300)); // its first sweep is over
      const { subscriber } = connections(c);
      await cutSubscriber(c, 500);
      const { job_id } = await h.enqueue({ tenant: 'acme', queue: 'deaf' });
      await eventually(() => (subscriber.status === 'ready' ? true : undefined));
      const [lease] = await worker.take(1, 10_000);
      expect(lease!.job_id).toBe(job_id);
      worker.complete(lease!);
      await h.waitState('acme', job_id, 'COMPLETED');
    } finally {
      worker.drop();
      await c.shutdown();
    }
  }, 30_000);

  it('is repaired by a sweep after the one running when the broker listens again, never two at once', async () => {
    const c = await h.startPeer({ leaseTtlMs: 60_000 });
    const { store } = c.broker;
    const reclaim = store.reclaim.bind(store);
    let running = 0;
    let mostAtOnce = 0;
    let read = false;
    let releaseSweep = (): void => undefined;
    const sweepHeld = new Promise<void>((resolve) => (releaseSweep = resolve));
    store.reclaim = async (...args) => {
      running++;
      mostAtOnce = Math.max(mostAtOnce, running);
      try {
        // The first sweep reads the queue before the job is enqueued, and ends after C listens again.
        const outcomes = await reclaim(...args);
        read = true;
        await sweepHeld;
        return outcomes;
      } finally {
        running--;
      }
    };
    const { recovery } = c.broker as unknown as { recovery: Recovery };
    const missedDoorbells = recovery.missedDoorbells.bind(recovery);
    let heardAgain = false;
    recovery.missedDoorbells = () => {
      missedDoorbells();
      heardAgain = true;
    };
    // A tenant in the index, so the sweep C runs when its worker joins has a page to read.
    await h.enqueue({ tenant: 'acme', queue: 'deaf-swept', delay_ms: 60_000 });
    const worker = await RawWorker.connect(c.address, { queues: ['deaf-swept'], capacity: 1 });
    try {
      await eventually(() => (read ? true : undefined));
      await cutSubscriber(c, 500);
      const { job_id } = await h.enqueue({ tenant: 'acme', queue: 'deaf-swept' });
      await eventually(() => (heardAgain ? true : undefined));
      releaseSweep();
      const [lease] = await worker.take(1, 10_000);
      expect(lease!.job_id).toBe(job_id);
      worker.complete(lease!);
      expect(mostAtOnce).toBe(1);
    } finally {
      releaseSweep();
      worker.drop();
      await c.shutdown();
    }
  }, 30_000);

  it('tells the worker of a job cancelled while its broker was not listening, once it is back', async () => {
    const worker = await peer.worker(['lost-cancel'], 1);
    const { job_id } = await h.enqueue({ tenant: 'acme', queue: 'lost-cancel' });
    await worker.take(1);
    await cutSubscriber(peer.broker, 1000);
    // The announcement goes out while B's pub/sub connection is down.
    expect(await h.cancel('acme', job_id)).toEqual({ cancelled: true, state: 'CANCELLED' });
    await expect.poll(() => worker.cancels(), { timeout: 5000 }).toContain(job_id);
  });

  // adopt.lua announces the move; A, not listening then, kept the lease (its
  // session's slot, the tenant's max_in_flight) until that session ended,
  // and its worker ran the job on beside the new one.
  it('tells the worker of a lease re-attached elsewhere while its broker was not listening, once it is back', async () => {
    const onA = await h.worker({ queues: ['lost-move'], capacity: 1 });
    const { job_id } = await h.enqueue({ tenant: 'acme', queue: 'lost-move' });
    const [lease] = await onA.take(1);
    await cutSubscriber(h.broker, 1000);
    const onB = await peer.reattach('lost-move', 'acme', lease!);
    expect((await onB.welcome()).reattached_job_ids).toEqual([job_id]);
    await expect
      .poll(() => onA.messages.find((m) => m.cancel?.job_id === job_id)?.cancel, {
        timeout: 5000,
      })
      .toEqual({ job_id, reason: 'lease lost' });
    onB.complete(lease!);
    expect((await h.waitState('acme', job_id, 'COMPLETED')).attempts).toBe(1);
  });

  it('tells it also when cancelled jobs are deleted at once (completed retention 0)', async () => {
    // The cancel goes through C, which keeps no record of a cancelled job.
    const c = await h.startPeer({ completedRetentionMs: 0 });
    const clients = rawClients(c.address);
    try {
      const worker = await peer.worker(['lost-cancel-0'], 1);
      const { job_id } = await h.enqueue({ tenant: 'acme', queue: 'lost-cancel-0' });
      await worker.take(1);
      await cutSubscriber(peer.broker, 1000);
      const cancel = clients.broker.CancelJob.bind(clients.broker);
      expect(await call(cancel, { tenant: 'acme', job_id })).toEqual({
        cancelled: true,
        state: 'CANCELLED',
      });
      await expect.poll(() => worker.cancels(), { timeout: 5000 }).toContain(job_id);
    } finally {
      clients.close();
      await c.shutdown();
    }
  });
});

describe('several brokers on one Redis: a Redis restart', () => {
  it('leaves the live leases of a broker that reconnects a little later than another alone', async () => {
    // Down longer than the lease TTL, so every entry is idle past it when
    // Redis is back. B reconnects first and sweeps; A, whose worker still runs
    // the job, reconnects a moment later (ioredis's backoff put them up to 2 s apart).
    const onA = await h.worker({ queues: ['restart-two'], capacity: 1 });
    await peer.worker(['restart-two'], 1);
    const { job_id } = await h.enqueue({ tenant: 'acme', queue: 'restart-two' });
    const [lease] = await onA.take(1);
    // B retries every 100 ms; A comes back 0.8 s after B is ready, past B's
    // sweep at its reconnect (which would take the entry, idle past the TTL,
    // at once) and its next one 0.75 s later, and within B's hold-off (a lease
    // TTL, 1.5 s, from its reconnect). Timed from B's reconnect, not from the
    // outage: a fixed retry delay for A (2.9 s) missed the hold-off whenever
    // the restart, which loads the AOF, took over 0.9 s on a loaded machine.
    const a = connections(h.broker).redis;
    const { redis: bRedis } = connections(peer.broker);
    const strategies = [a, bRedis].map((redis) => redis.options.retryStrategy);
    a.options.retryStrategy = () => 60_000; // until reconnected below
    bRedis.options.retryStrategy = () => 100;
    try {
      await h.redis.kill();
      await new Promise((resolve) => setTimeout(resolve, 2000));
      await h.redis.restart();
      await eventually(() => (bRedis.status === 'ready' ? true : undefined));
      await new Promise((resolve) => setTimeout(resolve, 800));
      await reconnectNow(a);
    } finally {
      [a.options.retryStrategy, bRedis.options.retryStrategy] = strategies;
    }
    onA.complete(lease!, Buffer.from('done'));
    const job = await h.waitState('acme', job_id, 'COMPLETED');
    expect(job.attempts).toBe(1);
    expect(job.result.toString()).toBe('done');
    expect(onA.ackOutcomes()).toEqual([]);
  });
});

describe('several brokers on one Redis: a Redis restart that lost every key', () => {
  it('serves the workers waiting on either broker again, without a reconnect', async () => {
    const onA = await h.worker({ queues: ['amnesia'], capacity: 2 });
    const onB = await peer.worker(['amnesia-b'], 2);
    for (const queue of ['amnesia', 'amnesia-b']) {
      await h.enqueueBatch(Array.from({ length: 10 }, () => ({ tenant: 'acme', queue })));
    }
    const held = [...(await onA.take(2)), ...(await onB.take(2))];
    await h.redis.restartEmpty();
    // Their jobs are gone with the data: the acks free the slots all the same.
    for (const lease of held.slice(0, 2)) onA.complete(lease);
    for (const lease of held.slice(2)) onB.complete(lease);
    const ids: string[] = [];
    for (let i = 0; i < 6; i++) {
      const queue = i % 2 === 0 ? 'amnesia' : 'amnesia-b';
      const { job_id } = await eventually(() =>
        h.enqueue({ tenant: 'acme', queue }).catch(() => undefined),
      );
      ids.push(job_id);
    }
    const seen = new Set<string>();
    await eventually(() => {
      for (const worker of [onA, onB]) {
        for (const lease of worker.leases) {
          if (!ids.includes(lease.job_id) || seen.has(lease.job_id)) continue;
          seen.add(lease.job_id);
          worker.complete(lease);
        }
      }
      return seen.size === ids.length ? true : undefined;
    });
    for (const id of ids) await h.waitState('acme', id, 'COMPLETED');
  });
});

/**
 * A TCP proxy to Redis whose open connections can go silent (freeze): no byte
 * passes either way and neither side is told, as when a NAT or firewall drops
 * an idle connection. New connections pass.
 */
async function silencingProxy(upstreamPort: number): Promise<{
  url: string;
  freeze(): void;
  close(): Promise<void>;
}> {
  const open = new Set<{ client: net.Socket; upstream: net.Socket }>();
  const server = net.createServer((client) => {
    const upstream = net.connect({ host: '127.0.0.1', port: upstreamPort });
    const pair = { client, upstream };
    open.add(pair);
    for (const socket of [client, upstream]) {
      socket.on('error', () => undefined);
      socket.on('close', () => {
        open.delete(pair);
        client.destroy();
        upstream.destroy();
      });
    }
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  return {
    url: `redis://127.0.0.1:${port}`,
    freeze() {
      for (const { client, upstream } of open) {
        client.unpipe(upstream);
        upstream.unpipe(client);
        client.removeAllListeners('data');
        upstream.removeAllListeners('data');
        client.resume(); // read and drop
        upstream.resume();
      }
      open.clear();
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

describe('several brokers on one Redis: a connection to Redis that went silent', () => {
  it('is noticed on the pub/sub connection too: a cancellation still reaches the worker', async () => {
    const proxy = await silencingProxy(h.redis.port);
    const c = await h.startPeer({ redisUrl: proxy.url, redisTimeoutMs: 1000 });
    const worker = await RawWorker.connect(c.address, { queues: ['silent'], capacity: 1 });
    try {
      const { job_id } = await h.enqueue({ tenant: 'acme', queue: 'silent' });
      await worker.take(1);
      proxy.freeze();
      // C's command connection times out and reconnects; its pub/sub one must as well.
      await new Promise((resolve) => setTimeout(resolve, 3000));
      expect(await h.cancel('acme', job_id)).toEqual({ cancelled: true, state: 'CANCELLED' });
      await expect.poll(() => worker.cancels(), { timeout: 5000 }).toContain(job_id);
    } finally {
      worker.drop();
      await c.kill();
      await proxy.close();
    }
  }, 20_000);
});

describe('several brokers on one Redis: a graceful stop', () => {
  it('gives the jobs it read ahead back at once, for the workers of the other broker', async () => {
    // A lease TTL of a minute: a job left in the stopped broker's pending list
    // would reach the other broker's worker only after it.
    const slow = { leaseTtlMs: 60_000, heartbeatIntervalMs: 300 };
    const stopping = await h.startPeer(slow);
    const staying = await h.startPeer(slow);
    const clients = rawClients(stopping.address);
    const busy = await RawWorker.connect(stopping.address, { queues: ['handover'], capacity: 1 });
    const idle = await RawWorker.connect(staying.address, { queues: ['handover'], capacity: 1 });
    try {
      const enqueue = clients.broker.EnqueueBatch.bind(clients.broker);
      const { results } = await call(enqueue, {
        jobs: Array.from({ length: 2 }, () => ({ tenant: 'acme', queue: 'handover' })),
      });
      const [running] = await busy.take(1); // the other job waits in the broker's buffer
      await stopping.shutdown(100);
      const [lease] = await idle.take(1, 10_000);
      const waiting = results.map((r) => r.job_id).find((id) => id !== running!.job_id);
      expect([lease!.job_id, lease!.attempt]).toEqual([waiting, 1]);
      idle.complete(lease!);
      await h.waitState('acme', waiting!, 'COMPLETED');
    } finally {
      busy.drop();
      idle.drop();
      clients.close();
      await stopping.shutdown();
      await staying.shutdown();
    }
  }, 30_000);
});

describe('several brokers on one Redis: where a job goes', () => {
  // A broker whose workers are busy used to read a tenant's new jobs ahead all
  // the same, and an idle worker on another broker got them only once one of
  // those workers freed a slot (after its job: minutes, maybe).
  it('reaches an idle worker on another broker while its own are busy', async () => {
    const busy = await h.worker({ queues: ['busy'], capacity: 1 });
    const idle = await peer.worker(['busy'], 1);
    const first = await h.enqueue({ tenant: 'acme', queue: 'busy' });
    const [running] = await busy.take(1);
    try {
      expect(running!.job_id).toBe(first.job_id);
      // A's only worker runs its job for long; B's waits.
      const { job_id } = await h.enqueue({ tenant: 'acme', queue: 'busy' });
      const [lease] = await idle.take(1, 5000);
      expect(lease!.job_id).toBe(job_id);
      idle.complete(lease!);
    } finally {
      busy.complete(running!);
    }
  });
});

describe('several brokers on one Redis: read-ahead while another broker idles', () => {
  // A broker with one free slot read a tenant's new jobs up to its buffer
  // target (hundreds), leased one and held the rest for its own busy worker,
  // while the other broker's worker idled until that job ended.
  it('leaves the jobs its free slots cannot start to the idle worker on the other broker', async () => {
    const local = await h.worker({ queues: ['hoard'], capacity: 1 });
    const idle = await peer.worker(['hoard'], 1);
    await h.enqueueBatch([
      { tenant: 'acme', queue: 'hoard' },
      { tenant: 'acme', queue: 'hoard' },
    ]);
    const [running] = await local.take(1);
    try {
      const [lease] = await idle.take(1, 3000);
      expect(lease!.job_id).not.toBe(running!.job_id);
      idle.complete(lease!);
    } finally {
      local.complete(running!);
    }
  });

  it("hands a backlog it read ahead to the other broker's worker once that one idles", async () => {
    const local = await h.worker({ queues: ['hoard-backlog'], capacity: 1 });
    const { results } = await h.enqueueBatch(
      Array.from({ length: 20 }, () => ({ tenant: 'acme', queue: 'hoard-backlog' })),
    );
    const [running] = await local.take(1);
    try {
      // Joins after the backlog was read ahead here (for a worker of one slot).
      const idle = await peer.worker(['hoard-backlog'], 1);
      const done = new Set<string>();
      for (let i = 0; i < 19; i++) {
        const [lease] = await idle.take(1, 3000);
        done.add(lease!.job_id);
        idle.complete(lease!);
      }
      expect(done.size).toBe(19);
      expect(done.has(running!.job_id)).toBe(false);
      expect(results.map((r) => r.job_id)).toEqual(expect.arrayContaining([...done]));
    } finally {
      local.complete(running!);
    }
  });

  // A broker whose free slots waited on its buffer of a tenant held back by
  // that tenant's limits said nothing of them, and the other broker kept the
  // backlog of another tenant it had read ahead for its busy worker until
  // that one was done. Now it says so, leaving the held-back tenant out.
  it.each([
    ['an in-flight cap', { max_in_flight: 1 }],
    ['a rate limit', { rate: 0.1, burst: 1 }],
  ])(
    'hands a backlog over to free slots that wait on a tenant held back by %s',
    async (_, limit) => {
      const queue = `held-back-${Object.keys(limit)[0]}`;
      const held = `${queue}-tenant`;
      await h.setTenant({ tenant: held, ...limit });
      const { limits } = peer.broker.broker;
      await eventually(() =>
        limits.maxInFlight(held, queue) === 1 || limits.rate(held, queue) === 0.1
          ? true
          : undefined,
      );
      const waiting = await peer.worker([queue], 2);
      const givenBack = countGivenBack();
      await h.enqueueBatch(Array.from({ length: 5 }, () => ({ tenant: held, queue })));
      // One runs; the peer holds the other four, held back by the limit.
      const [heldRunning] = await waiting.take(1);
      const busy = await h.worker({ queues: [queue], capacity: 1 });
      await h.enqueueBatch(Array.from({ length: 20 }, () => ({ tenant: 'acme', queue })));
      const [running] = await busy.take(1);
      try {
        const [lease] = await waiting.take(1, 3000);
        expect(lease!.tenant).toBe('acme');
        waiting.complete(lease!);
        expect(givenBack.tenants).not.toContain(held);
      } finally {
        givenBack.restore();
        busy.complete(running!);
        waiting.complete(heldRunning!);
      }
    },
    20_000,
  );

  // The word is looked for after every dispatch round: with a thousand
  // capped tenants buffered, each look scanned them all, and the word named
  // them all each second.
  it('says nothing of free slots that wait on more held-back tenants than a word names', async () => {
    const queue = 'held-back-many';
    const tenants = Array.from({ length: 33 }, (_, i) => `capped-${i}`);
    for (const tenant of tenants) await h.setTenant({ tenant, max_in_flight: 1 });
    const { limits } = peer.broker.broker;
    await eventually(() =>
      tenants.every((tenant) => limits.maxInFlight(tenant, queue) === 1) ? true : undefined,
    );
    const waiting = await peer.worker([queue], 40);
    const dispatcher = peer.broker.broker.dispatcher(queue);
    const batch = (names: string[]) =>
      h.enqueueBatch(names.flatMap((tenant) => [0, 1].map(() => ({ tenant, queue }))));
    await batch(tenants.slice(0, 32));
    const running = await waiting.take(32);
    // 32 tenants held back, each with a job buffered: named, all of them.
    const room = await eventually(() => dispatcher.idleRoom());
    expect([...room.except!].sort()).toEqual(tenants.slice(0, 32).sort());
    await batch(tenants.slice(32));
    running.push(...(await waiting.take(1)));
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(dispatcher.idleRoom()).toBeUndefined();
    for (const lease of running) waiting.complete(lease);
  });

  // Jobs handed over to another broker's idle workers that never take them
  // (they left, or that broker's reads fail) go back to the ready stream, and
  // this broker reads them only for its free slots while the other's word
  // holds. Then it reads them as any: read again only once nothing else was
  // ready here (or at a sweep), they waited for the other tenants' backlog.
  it('reads the jobs it handed over again once the other broker has not taken them', async () => {
    const queue = 'handed-back';
    // Its sweeps 30 s apart: they would find the jobs too.
    const c = await h.startPeer({ leaseTtlMs: 60_000 });
    const worker = peer.keep(await RawWorker.connect(c.address, { queues: [queue], capacity: 1 }));
    try {
      await h.enqueueBatch(Array.from({ length: 6 }, () => ({ tenant: 'handed', queue })));
      await h.enqueueBatch(Array.from({ length: 200 }, () => ({ tenant: 'other', queue })));
      const order: string[] = [];
      const [first] = await worker.take(1);
      // Another broker's idle workers of 'handed' only, as its word on the doorbell says.
      const publisher = new Redis(h.redis.url);
      const room = { from: 'a-broker-that-never-reads', work: [], room: true, tenants: ['handed'] };
      await publisher.publish(
        new Keys(h.broker.config.keyPrefix).doorbell(queue),
        JSON.stringify(room),
      );
      publisher.disconnect();
      for (let lease = first; lease !== undefined;) {
        order.push(lease.tenant);
        worker.complete(lease);
        if (order.length === 206) break;
        [lease] = await worker.take(1);
      }
      // The word lapses 2.5 s after it came: by then at most 125 jobs have run
      // (each take polls every 20 ms), and the six are done well before the
      // last of 'other' (after all 200 of 'other' before).
      expect(order.filter((tenant) => tenant === 'handed')).toHaveLength(6);
      expect(order.lastIndexOf('handed')).toBeLessThan(180);
    } finally {
      worker.drop();
      await c.shutdown();
    }
  }, 30_000);

  it('keeps weighted shares with workers on both brokers and the backlog enqueued on one', async () => {
    await h.setTenant({ tenant: 'light', weight: 1 });
    await h.setTenant({ tenant: 'heavy', weight: 4 });
    await eventually(() =>
      peer.broker.broker.limits.weight('heavy', 'x') === 4 ? true : undefined,
    );
    for (const tenant of ['light', 'heavy']) {
      for (let sent = 0; sent < 4000; sent += 1000) {
        await h.enqueueBatch(Array.from({ length: 1000 }, () => ({ tenant, queue: 'shares' })));
      }
    }
    const runs = [
      autoComplete(await h.worker({ queues: ['shares'], capacity: 10 })),
      autoComplete(await peer.worker(['shares'], 10)),
    ];
    const served = () => runs.reduce((sum, run) => sum + run.order.length, 0);
    await eventually(() => (served() >= 3000 ? true : undefined), { timeoutMs: 30_000 });
    for (const run of runs) run.stop();
    // Past the warm-up, while both tenants are backlogged.
    const order = runs.flatMap((run) => run.order.slice(100, 1400));
    const heavy = order.filter((tenant) => tenant === 'heavy').length / order.length;
    expect(heavy).toBeGreaterThan(0.75); // 4/5
    expect(heavy).toBeLessThan(0.85);
  }, 40_000);

  // Given all of A's buffer, B read it ahead for its own worker, now busy;
  // A's worker, its job over, found nothing and said so, and B gave it all
  // back: the whole backlog moved each time a job ended on the broker
  // without it (100 jobs: about 900 given back).
  it('hands a backlog over a few times, not once per job, with a worker busy on each broker', async () => {
    const workers = [
      await h.worker({ queues: ['ping-pong'], capacity: 1 }),
      await peer.worker(['ping-pong'], 1),
    ];
    await new Promise((resolve) => setTimeout(resolve, 300)); // both brokers have swept
    const givenBack = countGivenBack();
    try {
      const { results } = await h.enqueueBatch(
        Array.from({ length: 100 }, () => ({ tenant: 'acme', queue: 'ping-pong' })),
      );
      const order = await runAll(workers, results.length, 20); // jobs that take a while
      expect(new Set(order).size).toBe(results.length);
      expect(givenBack.jobs).toBeLessThan(results.length);
    } finally {
      givenBack.restore();
    }
  }, 30_000);

  // Each broker's workers idled while its buffer of the tenant waited for the
  // limit (shared by both), so each said it had idle room, and each gave the
  // other's buffer to the tail of the ready stream, behind the backlog, where
  // the other's workers started them no sooner: each second, a dozen jobs
  // went back behind the rest (some ran 50 places out of their order in 60).
  it.each([
    ['a rate limit', { rate: 10 }, 0],
    ['an in-flight cap', { max_in_flight: 1 }, 20],
  ])(
    "leaves a tenant's buffer where it is under %s, with idle workers on both brokers",
    async (_, limit, runMs) => {
      const tenant = `limited-${runMs}`;
      const queue = `limited-${runMs}`;
      await h.setTenant({ tenant, ...limit });
      const { limits } = peer.broker.broker;
      await eventually(() =>
        limits.rate(tenant, queue) === 10 || limits.maxInFlight(tenant, queue) === 1
          ? true
          : undefined,
      );
      const workers = [
        await h.worker({ queues: [queue], capacity: 1 }),
        await peer.worker([queue], 1),
      ];
      const givenBack = countGivenBack();
      try {
        const { results } = await h.enqueueBatch(
          Array.from({ length: 60 }, () => ({ tenant, queue })),
        );
        const order = await runAll(workers, results.length, runMs);
        expect(new Set(order).size).toBe(results.length);
        expect(givenBack.jobs).toBeLessThan(3);
      } finally {
        givenBack.restore();
      }
    },
    30_000,
  );
});

/**
 * Counts the jobs either broker gives back to the ready streams
 * (JobStore.release) until restored, and notes their tenants.
 */
function countGivenBack(): { readonly jobs: number; readonly tenants: string[]; restore(): void } {
  const stores = [h.broker.broker.store, peer.broker.broker.store];
  const releases = stores.map((store) => store.release.bind(store));
  const counted = {
    jobs: 0,
    tenants: [] as string[],
    restore: () => stores.forEach((s, i) => (s.release = releases[i]!)),
  };
  stores.forEach((store, i) => {
    store.release = (jobs, tokens) => {
      counted.jobs += jobs.length;
      counted.tenants.push(...jobs.map((job) => job.tenant));
      return releases[i]!(jobs, tokens);
    };
  });
  return counted;
}

/**
 * Runs leases on the workers, each for `runMs`, until `count` have run, and
 * returns their job ids in the order they came.
 */
async function runAll(workers: RawWorker[], count: number, runMs: number): Promise<string[]> {
  const order: string[] = [];
  await Promise.all(
    workers.map(async (worker) => {
      while (order.length < count) {
        const [lease] = await worker.take(1, 200).catch(() => [undefined]);
        if (!lease) continue;
        order.push(lease.job_id);
        await new Promise((resolve) => setTimeout(resolve, runMs));
        worker.complete(lease);
      }
    }),
  );
  return order;
}

describe('several brokers on one Redis: where a job that comes due goes', () => {
  // As a new job: a broker whose workers are busy read a delayed job (or a
  // retry) ahead at its due time as fast as the other broker, and it waited
  // there for a busy worker while the other broker's worker idled.
  it('reaches an idle worker on another broker while its own are busy', async () => {
    const busy = await h.worker({ queues: ['due'], capacity: 1 });
    const idle = await peer.worker(['due'], 10);
    const first = await h.enqueue({ tenant: 'acme', queue: 'due' });
    const [running] = await busy.take(1);
    try {
      expect(running!.job_id).toBe(first.job_id);
      // Rounds: which broker reads first at a due time is a race.
      for (let round = 0; round < 4; round++) {
        const { results } = await h.enqueueBatch(
          Array.from({ length: 5 }, (_, i) => ({ tenant: `t${i}`, queue: 'due', delay_ms: 300 })),
        );
        const leases = await idle.take(5, 5000);
        expect(leases.map((lease) => lease.job_id).sort()).toEqual(
          results.map((result) => result.job_id).sort(),
        );
        for (const lease of leases) idle.complete(lease);
      }
    } finally {
      busy.complete(running!);
    }
  });
});

describe('several brokers on one Redis: a graceful stop during a read', () => {
  it('gives back the jobs of a read that answers after the stop began', async () => {
    const slow = { leaseTtlMs: 60_000, heartbeatIntervalMs: 300 };
    const stopping = await h.startPeer(slow);
    const staying = await h.startPeer(slow);
    const clients = rawClients(stopping.address);
    const busy = await RawWorker.connect(stopping.address, { queues: ['late-read'], capacity: 1 });
    const admin = new Redis(h.redis.url);
    let idle: RawWorker | undefined;
    try {
      const enqueue = clients.broker.Enqueue.bind(clients.broker);
      await call(enqueue, { tenant: 'acme', queue: 'late-read' });
      const [running] = await busy.take(1);
      // Redis busy for a moment: the next enqueue's read (it rides on the
      // enqueue script) answers only after the stop has begun.
      const blocked = admin.eval(
        "local t = redis.call('TIME') local s = t[1] * 1e6 + t[2] " +
          "repeat local n = redis.call('TIME') until n[1] * 1e6 + n[2] - s > 600000 return 1",
        0,
      );
      await new Promise((resolve) => setTimeout(resolve, 50));
      const second = call(enqueue, { tenant: 'acme', queue: 'late-read' });
      await new Promise((resolve) => setTimeout(resolve, 50));
      const stopped = stopping.shutdown(100);
      await blocked;
      const { job_id } = await second;
      await stopped;
      idle = await RawWorker.connect(staying.address, { queues: ['late-read'], capacity: 1 });
      const [lease] = await idle.take(1, 10_000);
      expect([lease!.job_id, lease!.attempt]).toEqual([job_id, 1]);
      expect(running!.job_id).not.toBe(job_id);
      idle.complete(lease!);
      await h.waitState('acme', job_id, 'COMPLETED');
    } finally {
      busy.drop();
      idle?.drop();
      admin.disconnect();
      clients.close();
      await stopping.shutdown();
      await staying.shutdown();
    }
  }, 30_000);
});
