import { Redis } from 'ioredis';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { JobStore } from '../../src/store/job-store.js';
import type { HoldingTtls, SlotCount } from '../../src/scheduler/index.js';
import { NO_SLOT } from '../../src/store/lease-writes.js';
import { SharedLimitStore } from '../../src/store/shared-limits.js';
import type { FetchedJob, FetchRequest, FetchResult, NewJob } from '../../src/store/types.js';
import { monitor } from '../helpers/monitor.js';
import { newJob } from '../helpers/new-job.js';
import { startTestRedis, type TestRedis } from '../helpers/redis.js';

const now = 1_700_000_000_000;

/** A broker's store: every broker of these tests shares one key prefix. */
const storeOf = (
  redis: Redis,
  consumer: string,
  completedRetentionMs = 60_000,
  clock = (): number => now,
): JobStore =>
  new JobStore(redis, {
    keyPrefix: 'claim:',
    consumer,
    completedRetentionMs,
    deadRetentionMs: 60_000,
    idempotencyRetentionMs: 60_000,
    clock,
  });

/** For a reclaim: no tenant's jobs count against an in-flight cap. */
const noCaps = (): string[] => [];

/** A fetch whose every tenant's read went through (a failed one fails the test). */
const fetchAll = async (
  on: JobStore,
  ...args: Parameters<JobStore['fetch']>
): Promise<FetchResult[]> =>
  (await on.fetch(...args)).map((result) => {
    if (result instanceof Error) throw result;
    return result;
  });

describe('JobStore', () => {
  let server: TestRedis;
  let redis: Redis;
  let store: JobStore;

  beforeAll(async () => {
    server = await startTestRedis();
    redis = new Redis(server.url, { lazyConnect: true });
    await redis.connect();
    store = storeOf(redis, 'broker-a');
  });
  afterAll(async () => {
    redis.disconnect();
    await server.dispose();
  });
  beforeEach(async () => {
    await redis.flushall();
  });

  const job = (payload: string, fields: Partial<NewJob> = {}): NewJob =>
    newJob(now, { payload: Buffer.from(payload), headers: { trace: payload }, ...fields });

  const enqueueClaiming = async (
    jobs: NewJob[],
    request: FetchRequest,
  ): Promise<FetchResult | Error> => {
    const reply = await store.enqueue(
      jobs,
      () => 0,
      now,
      () => request,
    );
    expect(reply.outcomes.map((outcome) => outcome.kind)).toEqual(jobs.map(() => 'stored'));
    return reply.claimed.get(request)!;
  };

  // A claim is the fetch an enqueue's new jobs need, done by the enqueue script
  // itself: the jobs it has just stored come back without being read again, any
  // others as a fetch would read them.
  it('claims: answers its own jobs and unread older ones alike, highest priority first', async () => {
    const older = job('older');
    await store.enqueue([older], () => 0, now);
    const low = job('low');
    const high = job('high', { priority: 5, maxAttempts: 7, timeoutMs: 1234 });
    const result = await enqueueClaiming([low, high], { tenant: 't', count: 10 });
    if (result instanceof Error) throw result;
    expect(result.jobs.map((claimed) => claimed.id)).toEqual([high.id, older.id, low.id]);
    for (const [claimed, stored] of [
      [result.jobs[0]!, high],
      [result.jobs[1]!, older],
      [result.jobs[2]!, low],
    ] as const) {
      expect(claimed).toMatchObject({
        priority: stored.priority,
        attempts: 0,
        maxAttempts: stored.maxAttempts,
        timeoutMs: stored.timeoutMs,
        createdAt: stored.createdAt,
        runAt: stored.runAt,
        headers: stored.headers,
      });
      expect(claimed.payload.toString()).toBe(stored.payload.toString());
    }
    expect(result.leased).toBe(0);
    // Claimed means read into this broker's pending list: a fetch finds nothing more.
    const [fetched] = await fetchAll(store, 'q', [{ tenant: 't', count: 10 }], now);
    expect(fetched!.jobs).toEqual([]);
  });

  // A job read ahead or leased can stay in the broker for minutes (in a slow
  // tenant's buffer, or running long): its payload must not keep alive the
  // whole reply or request it arrived in, which the byte bound never counted.
  it('gives each job it reads a payload of its own, not a view into the reply or the request', async () => {
    const size = 8192; // past Buffer's pool: a copy gets a backing store of its own size
    const request = Buffer.alloc(3 * size, 7); // decoded payloads are views into one message
    const [claimedJob, firstFetched, secondFetched] = [0, 1, 2].map((k) =>
      job('', { payload: request.subarray(k * size, (k + 1) * size) }),
    );
    const claimed = await enqueueClaiming([claimedJob!], { tenant: 't', count: 10 });
    if (claimed instanceof Error) throw claimed;
    await store.enqueue([firstFetched!, secondFetched!], () => 0, now);
    const [fetched] = await fetchAll(store, 'q', [{ tenant: 't', count: 10 }], now);
    const read = [...claimed.jobs, ...fetched!.jobs];
    expect(read.map((job) => job.id)).toEqual([
      claimedJob!.id,
      firstFetched!.id,
      secondFetched!.id,
    ]);
    for (const job of read) {
      expect(job.payload.equals(request.subarray(0, size))).toBe(true);
      expect(job.payload.buffer.byteLength).toBeLessThan(2 * size);
    }
  });

  it('claims: leases the first jobs at once under the tokens it was given', async () => {
    const first = job('first');
    const second = job('second');
    const result = await enqueueClaiming([first, second], {
      tenant: 't',
      count: 4,
      leaseTokens: ['token-1'],
    });
    if (result instanceof Error) throw result;
    expect(result.leased).toBe(1);
    expect(result.jobs.map((claimed) => claimed.id)).toEqual([first.id, second.id]);
    expect(await store.getJob('t', first.id)).toMatchObject({ state: 'leased', attempts: 1 });
    expect(await store.getJob('t', second.id)).toMatchObject({ state: 'waiting' });
  });

  // A read for a buffer full of lower-priority jobs (see PrefetchBuffers):
  // only what beats them, so jobs of their own level stay for a later refill.
  it('reads and claims only jobs above a priority when asked, promoting due ones all the same', async () => {
    const low = job('low');
    const due = job('due', { priority: 7, runAt: now - 1 });
    await store.enqueue([low, job('later', { runAt: now + 60_000 })], () => 0, now - 10);
    await store.enqueue([due], () => 0, now - 10);
    const [fetched] = await fetchAll(store, 'q', [{ tenant: 't', count: 10, above: 0 }], now);
    expect(fetched!.jobs.map(({ id }) => id)).toEqual([due.id]);
    expect(fetched!.nextDueAt).toBe(now + 60_000);
    const urgent = job('urgent', { priority: 3 });
    const claimed = await enqueueClaiming([job('flat'), urgent], {
      tenant: 't',
      count: 10,
      above: 0,
    });
    if (claimed instanceof Error) throw claimed;
    expect(claimed.jobs.map(({ id }) => id)).toEqual([urgent.id]);
    const [rest] = await fetchAll(store, 'q', [{ tenant: 't', count: 10 }], now);
    expect(rest!.jobs.map(({ payload }) => payload.toString())).toEqual(['low', 'flat']);
  });

  it('never answers a tenant idle for a read that found nothing above its priority', async () => {
    await store.enqueue([job('low')], () => 0, now);
    const [fetched] = await fetchAll(store, 'q', [{ tenant: 't', count: 10, above: 0 }], now);
    expect(fetched).toMatchObject({ jobs: [], idle: false });
  });

  it('claims: stores the jobs and reports the claim as failed when it cannot read', async () => {
    await store.enqueue([job('first')], () => 0, now);
    await redis.xgroup('DESTROY', store.keys.ready('t', 'q', 0), 'rota');
    const next = job('next');
    const result = await enqueueClaiming([next], { tenant: 't', count: 4 });
    expect(result).toBeInstanceOf(Error);
    expect((result as Error).message).toMatch(/NOGROUP/);
    expect(await store.getJob('t', next.id)).toMatchObject({ state: 'waiting' });
  });

  // A script error used to drop the whole reply: the broker never learnt of
  // tenant a's job, leased by the same call, and it expired as a failed attempt.
  it('answers a tenant whose read fails with its error, the other tenants with their jobs', async () => {
    const a = job('a', { tenant: 'a' });
    const b = job('b', { tenant: 'b' });
    const c = job('c', { tenant: 'c' });
    await store.enqueue([a, b, c], () => 0, now);
    await redis.xgroup('DESTROY', store.keys.ready('b', 'q', 0), 'rota');
    const [forA, forB, forC] = await store.fetch(
      'q',
      [
        { tenant: 'a', count: 1, leaseTokens: ['tok-a'] },
        { tenant: 'b', count: 1 },
        { tenant: 'c', count: 1 },
      ],
      now,
    );
    expect(forA).toMatchObject({ leased: 1, jobs: [{ id: a.id }] });
    expect(forB).toBeInstanceOf(Error);
    expect((forB as Error).message).toMatch(/tenant b .*NOGROUP/);
    expect(forC).toMatchObject({ leased: 0, jobs: [{ id: c.id }] });
    expect(await store.getJob('a', a.id)).toMatchObject({ state: 'leased', leaseToken: 'tok-a' });
  });

  // The part's jobs read at a higher level before the error were dropped from
  // the reply but stayed read (and leased) by this broker, unknown to it.
  it('gives back what a failed tenant read before its error, its lease taken back', async () => {
    const high = job('high', { priority: 5 });
    const low = job('low');
    await store.enqueue([high, low], () => 0, now);
    await redis.xgroup('DESTROY', store.keys.ready('t', 'q', 0), 'rota');
    const [result] = await store.fetch('q', [{ tenant: 't', count: 2, leaseTokens: ['tok'] }], now);
    expect(result).toBeInstanceOf(Error);
    expect(await store.getJob('t', high.id)).toMatchObject({ state: 'waiting', attempts: 0 });
    await redis.xgroup('CREATE', store.keys.ready('t', 'q', 0), 'rota', '0');
    const [again] = await fetchAll(
      store,
      'q',
      [{ tenant: 't', count: 1, leaseTokens: ['tok-2'] }],
      now,
    );
    expect(again).toMatchObject({ leased: 1, jobs: [{ id: high.id, attempts: 0 }] });
  });

  it('counts jobs waiting and delayed against max queued, not those leased or read ahead', async () => {
    const limit = (): number => 3;
    const first = [job('a'), job('b'), job('c', { priority: 4 }), job('d')];
    expect((await store.enqueue(first, limit, now)).outcomes.map((o) => o.kind)).toEqual([
      'stored',
      'stored',
      'stored',
      'full',
    ]);
    // One leased and one only read ahead: one job still waits.
    await fetchAll(store, 'q', [{ tenant: 't', count: 2, leaseTokens: ['tok'] }], now);
    const more = [job('e'), job('f', { runAt: now + 60_000 }), job('g')];
    expect((await store.enqueue(more, limit, now)).outcomes).toEqual([
      { kind: 'stored', jobId: more[0]!.id },
      { kind: 'stored', jobId: more[1]!.id },
      { kind: 'full', queued: 3 },
    ]);
  });

  // The script stores a batch grouped by tenant×queue: a later job of another
  // queue once took the key from the first job that carried it.
  it('gives an idempotency key to the first job of a batch that carries it, whatever its queue', async () => {
    const existing = job('existing', { queue: 'z', idempotencyKey: 'old' });
    await store.enqueue([existing], () => 0, now);
    const j0 = job('j0', { queue: 'x' });
    const j1 = job('j1', { queue: 'y', idempotencyKey: 'K' });
    const j2 = job('j2', { queue: 'x', idempotencyKey: 'K' });
    const j3 = job('j3', { queue: 'y', idempotencyKey: 'old' });
    const j4 = job('j4', { queue: 'x', idempotencyKey: 'old' });
    const j5 = job('j5', { queue: 'x', idempotencyKey: 'K', tenant: 'other' });
    const { outcomes } = await store.enqueue([j0, j1, j2, j3, j4, j5], () => 0, now);
    expect(outcomes).toEqual([
      { kind: 'stored', jobId: j0.id },
      { kind: 'stored', jobId: j1.id },
      { kind: 'duplicate', jobId: j1.id },
      { kind: 'duplicate', jobId: existing.id },
      { kind: 'duplicate', jobId: existing.id },
      { kind: 'stored', jobId: j5.id },
    ]);
    expect((await store.getJob('t', j1.id))!.queue).toBe('y');
    expect(await store.getJob('t', j2.id)).toBeUndefined();
  });

  it('sends the next job with a key on when the first was over its queue’s limit, as calls one by one would', async () => {
    await store.enqueue([job('filler', { queue: 'full' })], () => 0, now);
    const maxQueued = (_tenant: string, queue: string): number => (queue === 'full' ? 1 : 0);
    const refused = job('refused', { queue: 'full', idempotencyKey: 'K' });
    const alsoRefused = job('also refused', { queue: 'full', idempotencyKey: 'K' });
    const stored = job('stored', { queue: 'open', idempotencyKey: 'K' });
    const duplicate = job('duplicate', { queue: 'full', idempotencyKey: 'K' });
    const { outcomes } = await store.enqueue(
      [refused, alsoRefused, stored, duplicate],
      maxQueued,
      now,
    );
    expect(outcomes).toEqual([
      { kind: 'full', queued: 1 },
      { kind: 'full', queued: 1 },
      { kind: 'stored', jobId: stored.id },
      { kind: 'duplicate', jobId: stored.id },
    ]);
  });

  it('reads depths of many tenant×queues in packed calls, each row its own', async () => {
    // 450 pairs: three script calls of at most 200; the tenants with jobs sit at the edges.
    const pairs = Array.from({ length: 450 }, (_, i) => ({ tenant: `d${i}`, queue: 'q' }));
    const busy = [0, 199, 200, 449];
    for (const [n, i] of busy.entries()) {
      const tenant = `d${i}`;
      await store.enqueue(
        Array.from({ length: n + 1 }, () => job('x', { tenant })),
        () => 0,
        now,
      );
      await store.enqueue([job('later', { tenant, runAt: now + 60_000 })], () => 0, now);
    }
    const depths = await store.depths(pairs);
    expect(depths).toHaveLength(450);
    depths.forEach((depth, i) => {
      const n = busy.indexOf(i);
      expect(depth).toMatchObject({
        tenant: `d${i}`,
        queue: 'q',
        waiting: n + 1,
        delayed: n >= 0 ? 1 : 0,
        leased: 0,
        dead: 0,
      });
    });
  });

  /** Stores a job of tenant `ended` and leases it under token `current`, as a worker holds it. */
  const leaseOne = async (on: JobStore, payload: string) => {
    const stored = job(payload, { tenant: 'ended' });
    await on.enqueue([stored], () => 0, now);
    const [fetched] = await fetchAll(
      on,
      'q',
      [{ tenant: 'ended', count: 1, leaseTokens: ['current'] }],
      now,
    );
    const { id, entry, priority } = fetched!.jobs[0]!;
    const ack = {
      tenant: 'ended',
      queue: 'q',
      jobId: id,
      result: Buffer.from('done'),
      resultContentType: 'text/plain',
      entry,
      priority,
    };
    return { ack, key: on.keys.job('ended', id) };
  };

  /** Stores a waiting job of tenant `ended`, cancels it, and answers its id. */
  const cancelOne = async (on: JobStore): Promise<string> => {
    const waiting = job('cancelled', { tenant: 'ended' });
    await on.enqueue([waiting], () => 0, now);
    expect(await on.cancel('ended', waiting.id, now)).toEqual({
      kind: 'cancelled',
      previous: 'waiting',
      queue: 'q',
    });
    return waiting.id;
  };

  it('keeps an ended job for the completed retention, with a TTL', async () => {
    const { ack, key } = await leaseOne(store, 'kept');
    expect(await store.complete([{ ...ack, token: 'current' }], now)).toEqual(['ok']);
    expect(await redis.hmget(key, 'state', 'result', 'resultType')).toEqual([
      'completed',
      'done',
      'text/plain',
    ]);
    expect((await store.getJob('ended', ack.jobId))?.resultContentType).toBe('text/plain');
    const ttl = await redis.pttl(key);
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(60_000);
    const cancelled = await cancelOne(store);
    expect(await redis.pttl(store.keys.job('ended', cancelled))).toBeGreaterThan(0);
  });

  it('with a retention of 0, deletes an ended job, after the fencing check', async () => {
    const keepsNone = storeOf(redis, 'broker-a', 0);
    const { ack, key } = await leaseOne(keepsNone, 'gone');
    expect(await keepsNone.complete([{ ...ack, token: 'stale' }], now)).toEqual(['stale']);
    expect(await redis.hget(key, 'state')).toBe('leased');
    expect(await keepsNone.complete([{ ...ack, token: 'current' }], now)).toEqual(['ok']);
    expect(await redis.exists(key)).toBe(0);
    expect(await redis.xlen(keepsNone.keys.ready('ended', 'q', 0))).toBe(0);
    const cancelled = await cancelOne(keepsNone);
    expect(await redis.exists(keepsNone.keys.job('ended', cancelled))).toBe(0);
    expect(await keepsNone.cancel('ended', cancelled, now)).toEqual({ kind: 'not_found' });
  });

  // A reply lost on the way back (a dropped connection, a timed-out call) has
  // the same ack run again: by ioredis on its next connection, or by the broker.
  it('answers a Complete run again as the first run, and records nothing more', async () => {
    const { ack, key } = await leaseOne(store, 'twice');
    const complete = { ...ack, token: 'current' };
    expect(await store.complete([complete], now)).toEqual(['ok']);
    const recorded = await redis.hgetall(key);
    expect(await store.complete([complete], now + 1000)).toEqual(['ok']);
    expect(await redis.hgetall(key)).toEqual(recorded);
    // Only for the broker that held the lease, and not as a Fail of it.
    expect(await storeOf(redis, 'broker-b').complete([complete], now)).toEqual(['stale']);
    const failure = { ...complete, message: 'no', retryable: true, retryAfterMs: 0 };
    expect(await store.fail([failure], now)).toEqual([{ kind: 'stale' }]);
  });

  it('with a retention of 0, takes a Complete sent again whose job is gone for recorded', async () => {
    const keepsNone = storeOf(redis, 'broker-a', 0);
    const { ack, key } = await leaseOne(keepsNone, 'gone twice');
    const complete = { ...ack, token: 'current' };
    expect(await keepsNone.complete([complete], now)).toEqual(['ok']);
    expect(await redis.exists(key)).toBe(0);
    expect(await keepsNone.complete([complete], now, true)).toEqual(['ok']);
    // Not sent before: the job is not there.
    expect(await keepsNone.complete([complete], now)).toEqual(['unknown']);
  });

  it('answers a Fail run again as the first run: the same retry, or dead', async () => {
    const { ack, key } = await leaseOne(store, 'retried');
    const failure = {
      ...ack,
      token: 'current',
      message: 'no',
      retryable: true,
      retryAfterMs: 5000,
    };
    const retrying = { kind: 'retrying', runAt: now + 5000 };
    expect(await store.fail([failure], now)).toEqual([retrying]);
    const recorded = await redis.hgetall(key);
    expect(await store.fail([failure], now + 1000)).toEqual([retrying]);
    expect(await redis.hgetall(key)).toEqual(recorded);
    expect(await storeOf(redis, 'broker-b').fail([failure], now)).toEqual([{ kind: 'stale' }]);
    expect(await store.complete([failure], now)).toEqual(['stale']);
    // Promoted and leased again, by the same broker: still that retry.
    const [next] = await fetchAll(
      store,
      'q',
      [{ tenant: 'ended', count: 1, leaseTokens: ['next'] }],
      now + 6000,
    );
    expect(next!.leased).toBe(1);
    expect(await store.fail([failure], now + 6000)).toEqual([retrying]);

    const dying = await leaseOne(store, 'dies');
    const fatal = {
      ...dying.ack,
      token: 'current',
      message: 'no',
      retryable: false,
      retryAfterMs: 0,
    };
    expect(await store.fail([fatal], now)).toEqual([{ kind: 'dead' }]);
    expect(await store.fail([fatal], now)).toEqual([{ kind: 'dead' }]);
    // Replayed, the job is no longer what that Fail left.
    await store.takeDead('replay', 'ended', 'q', [dying.ack.jobId]);
    expect(await store.fail([fatal], now)).toEqual([{ kind: 'stale' }]);
  });

  it('retires a tenant from the index only while it has no job at all', async () => {
    const index = store.keys.activeTenants('q');
    const indexed = async (tenant: string): Promise<boolean> =>
      (await redis.sismember(index, tenant)) === 1;
    await store.enqueue([job('done', { tenant: 'idle' })], () => 0, now);
    const [fetched] = await fetchAll(
      store,
      'q',
      [{ tenant: 'idle', count: 4, leaseTokens: ['x'] }],
      now,
    );
    const { id, entry, priority } = fetched!.jobs[0]!;
    const ack = {
      tenant: 'idle',
      queue: 'q',
      jobId: id,
      token: 'x',
      result: Buffer.alloc(0),
      resultContentType: '',
    };
    await store.complete([{ ...ack, entry, priority }], now);
    expect(await store.retire('q', 'idle')).toBe(true);
    expect(await indexed('idle')).toBe(false);

    // A job read into some broker's pending list (the race a plain SREM lost),
    // one waiting, one delayed: each keeps its tenant in the index.
    await store.enqueue([job('held', { tenant: 'held' })], () => 0, now);
    await storeOf(redis, 'broker-b').fetch('q', [{ tenant: 'held', count: 4 }], now);
    await store.enqueue([job('waiting', { tenant: 'waiting' })], () => 0, now);
    await store.enqueue([job('later', { tenant: 'later', runAt: now + 60_000 })], () => 0, now);
    for (const tenant of ['held', 'waiting', 'later']) {
      await redis.srem(index, tenant); // as if retired by a broker that had just found nothing
      expect(await store.retire('q', tenant)).toBe(false);
      expect(await indexed(tenant)).toBe(true);
    }
  });

  it("deletes a retired tenant×queue's ready streams and levels, and makes them again for its next job", async () => {
    // A SaaS whose tenants come and go kept ~0.7 KB of Redis per tenant×queue
    // ever used: its ready stream (with the group) and its set of levels.
    const keysOf = async (tenant: string): Promise<string[]> =>
      (await redis.keys(`${store.keys.queueBase(tenant, 'q')}*`)).sort();
    await store.enqueue(
      [job('a', { tenant: 'gone' }), job('b', { tenant: 'gone', priority: 3 })],
      () => 0,
      now,
    );
    expect(await keysOf('gone')).toHaveLength(3); // two ready streams, the levels
    const [fetched] = await fetchAll(
      store,
      'q',
      [{ tenant: 'gone', count: 4, leaseTokens: ['x', 'y'] }],
      now,
    );
    const acks = fetched!.jobs.map(({ id, entry, priority }, i) => ({
      tenant: 'gone',
      queue: 'q',
      jobId: id,
      token: ['x', 'y'][i]!,
      result: Buffer.alloc(0),
      resultContentType: '',
      entry,
      priority,
    }));
    // Not while a job is still held.
    await store.complete([acks[0]!], now);
    expect(await store.retire('q', 'gone')).toBe(false);
    expect(await keysOf('gone')).toHaveLength(3);
    await store.complete([acks[1]!], now);
    expect(await store.retire('q', 'gone')).toBe(true);
    expect(await keysOf('gone')).toEqual([]);

    // The next job makes its stream and group again, and is fetched as ever.
    await store.enqueue([job('again', { tenant: 'gone' })], () => 0, now);
    const [again] = await fetchAll(store, 'q', [{ tenant: 'gone', count: 4 }], now);
    expect(again!.jobs.map(({ payload }) => payload.toString())).toEqual(['again']);
    expect(await keysOf('gone')).toHaveLength(2);
  });

  it('keeps the dead letters and the delayed jobs of a tenant×queue it retires', async () => {
    await store.enqueue([job('later', { tenant: 't', runAt: now + 60_000 })], () => 0, now);
    expect(await store.retire('q', 't')).toBe(false);
    expect(await redis.zcard(store.keys.delayed('t', 'q'))).toBe(1);

    await store.enqueue([job('dies', { tenant: 'd', maxAttempts: 1 })], () => 0, now);
    const [fetched] = await fetchAll(
      store,
      'q',
      [{ tenant: 'd', count: 1, leaseTokens: ['x'] }],
      now,
    );
    const { id } = fetched!.jobs[0]!;
    await store.fail(
      [
        {
          tenant: 'd',
          queue: 'q',
          jobId: id,
          token: 'x',
          message: 'no',
          retryable: false,
          retryAfterMs: 0,
        },
      ],
      now,
    );
    expect(await store.retire('q', 'd')).toBe(true);
    expect(await redis.exists(store.keys.ready('d', 'q', 0))).toBe(0);
    expect(await redis.zrange(store.keys.dead('d', 'q'), '0', '-1')).toEqual([id]);
  });

  it('marks the tenant in the index before and after the enqueue and replay scripts', async () => {
    // Before: a write cut short leaves no job unindexed. After: a retirement
    // that ran between the first mark and the script is undone.
    const index = store.keys.activeTenants('q');
    const log: string[] = [];
    let pings = 0;
    let sawPings: () => void = () => undefined;
    const seen = new Promise<void>((resolve) => (sawPings = resolve));
    const stop = await monitor(server.port, ([command = '', key]) => {
      if (/^eval(sha)?$/i.test(command)) log.push('script');
      else if (/^sadd$/i.test(command) && key === index) log.push('index');
      else if (/^ping$/i.test(command)) {
        log.push('|');
        if (++pings === 3) sawPings();
      }
    });
    await store.enqueue([job('a', { tenant: 'marked', maxAttempts: 1 })], () => 0, now);
    const [fetched] = await fetchAll(
      store,
      'q',
      [{ tenant: 'marked', count: 1, leaseTokens: ['x'] }],
      now,
    );
    const { id } = fetched!.jobs[0]!;
    const failure = { tenant: 'marked', queue: 'q', jobId: id, token: 'x', message: 'no' };
    await store.fail([{ ...failure, retryable: false, retryAfterMs: 0 }], now);
    await redis.ping();
    expect(await store.takeDead('replay', 'marked', 'q', [id])).toEqual({ taken: 1, notFound: [] });
    await redis.ping();
    await store.enqueue([job('b', { tenant: 'marked' })], () => 0, now);
    await redis.ping();
    await seen;
    stop();
    const [, replay, enqueue] = log
      .join(' ')
      .split('|')
      .map((part) => part.trim());
    expect(replay).toBe('index script index');
    expect(enqueue).toBe('index script index');
  });

  /** A job of `tenant` that dies at `at`: leased with whatever else waits, failed for good. */
  const kill = async (tenant: string, payload: string, at: number): Promise<string> => {
    await store.enqueue([job(payload, { tenant, maxAttempts: 1 })], () => 0, at);
    // replayed jobs wait before it: all are leased, it alone fails
    const tokens = Array.from({ length: 10 }, (_, i) => `${payload}-${i}`);
    const [fetched] = await fetchAll(store, 'q', [{ tenant, count: 10, leaseTokens: tokens }], at);
    const index = fetched!.jobs.findIndex((read) => read.payload.toString() === payload);
    const { id } = fetched!.jobs[index]!;
    const token = tokens[index]!;
    const failure = { tenant, queue: 'q', jobId: id, token, message: 'no' };
    await store.fail([{ ...failure, retryable: false, retryAfterMs: 0 }], at);
    return id;
  };

  // The dead set was trimmed only when another job of the tenant×queue died:
  // past the retention, its job hash gone, a dead letter was counted for good.
  it('drops dead letters past their retention wherever the dead letter queue is read', async () => {
    let clock = now;
    const later = storeOf(redis, 'broker-a', 60_000, () => clock);
    const ids: string[] = [];
    for (const at of [now, now + 1000]) {
      const dying = job(`dies at ${at}`, { maxAttempts: 1 });
      ids.push(dying.id);
      await later.enqueue([dying], () => 0, at);
      await fetchAll(later, 'q', [{ tenant: 't', count: 1, leaseTokens: ['tok'] }], at);
      const failure = { tenant: 't', queue: 'q', jobId: dying.id, token: 'tok', message: 'no' };
      expect(await later.fail([{ ...failure, retryable: false, retryAfterMs: 0 }], at)).toEqual([
        { kind: 'dead' },
      ]);
    }
    const [older, newer] = ids as [string, string];
    const dead = async (): Promise<number> =>
      (await later.depths([{ tenant: 't', queue: 'q' }]))[0]!.dead;
    clock = now + 59_999;
    expect(await dead()).toBe(2);
    clock = now + 60_000; // the older one's retention is over, the newer one's not
    expect(await later.listDead('t', 'q', 0, 10)).toEqual({ ids: [newer], total: 1 });
    await redis.zadd(later.keys.dead('t', 'q'), now, older); // as it stood before that read
    expect(await dead()).toBe(1);
    await redis.zadd(later.keys.dead('t', 'q'), now, older);
    expect(await later.takeDead('replay', 't', 'q', [older, newer])).toEqual({
      taken: 1,
      notFound: [older],
    });
    await redis.zadd(later.keys.dead('t', 'q'), now, older);
    expect(await later.takeOldestDead('delete', 't', 'q', 10, '')).toEqual({
      taken: 0,
      looked: 0,
      diedBy: '-inf',
    });
  });

  it('replays the oldest dead jobs in steps, keeping to the bound of the first step', async () => {
    const early = [
      await kill('poison', 'a', now),
      await kill('poison', 'b', now + 1),
      await kill('poison', 'c', now + 2),
    ];
    const first = await store.takeOldestDead('replay', 'poison', 'q', 2, '');
    expect(first).toEqual({ taken: 2, looked: 2, diedBy: String(now + 2) });
    // one that dies after the replay began is not part of it
    const late = await kill('poison', 'd', now + 3);
    const second = await store.takeOldestDead('replay', 'poison', 'q', 2, first.diedBy);
    expect(second).toEqual({ taken: 1, looked: 1, diedBy: first.diedBy });
    expect((await store.listDead('poison', 'q', 0, 10)).ids).toEqual([late]);
    const jobs = await Promise.all(early.map((id) => store.getJob('poison', id)));
    expect(jobs.map((stored) => stored?.state)).toEqual(['leased', 'leased', 'waiting']);
    expect(await store.takeOldestDead('replay', 'poison', 'q', 2, '')).toEqual({
      taken: 1,
      looked: 1,
      diedBy: String(now + 3),
    });
    expect(await store.takeOldestDead('replay', 'poison', 'q', 2, '')).toEqual({
      taken: 0,
      looked: 0,
      diedBy: '-inf',
    });
  });

  it('deletes dead jobs by id, and the oldest in steps within the first step’s bound', async () => {
    const ids = [
      await kill('gone', 'a', now),
      await kill('gone', 'b', now + 1),
      await kill('gone', 'c', now + 2),
    ];
    expect(await store.takeDead('delete', 'gone', 'q', [ids[0]!, 'no-such-job'])).toEqual({
      taken: 1,
      notFound: ['no-such-job'],
    });
    expect(await redis.exists(store.keys.job('gone', ids[0]!))).toBe(0);
    const first = await store.takeOldestDead('delete', 'gone', 'q', 1, '');
    expect(first).toEqual({ taken: 1, looked: 1, diedBy: String(now + 2) });
    const late = await kill('gone', 'd', now + 3);
    expect(await store.takeOldestDead('delete', 'gone', 'q', 5, first.diedBy)).toEqual({
      taken: 1,
      looked: 1,
      diedBy: first.diedBy,
    });
    expect((await store.listDead('gone', 'q', 0, 10)).ids).toEqual([late]);
    for (const id of ids) expect(await store.getJob('gone', id)).toBeUndefined();
    expect((await store.getJob('gone', late))?.state).toBe('dead');
    // a job that is not dead is left as it is, though named
    const alive = await kill('gone', 'e', now + 4);
    await redis.hset(store.keys.job('gone', alive), 'state', 'waiting');
    expect(await store.takeDead('delete', 'gone', 'q', [alive])).toEqual({
      taken: 0,
      notFound: [alive],
    });
    expect(await redis.exists(store.keys.job('gone', alive))).toBe(1);
  });

  it('purges the jobs waiting when it began, in steps; leased, dead and newer jobs stay', async () => {
    const tenant = 'purged';
    const state = async (id: string): Promise<string | null> =>
      redis.hget(store.keys.job(tenant, id), 'state');
    const enqueue = async (fields: Partial<NewJob>, at = now): Promise<string> => {
      const stored = job('x', { tenant, ...fields, createdAt: at });
      await store.enqueue([stored], () => 0, at);
      return stored.id;
    };
    // Leased, then failed: one waits out its backoff, one is dead.
    const failed = await Promise.all(
      [true, false].map(async (retryable) => {
        const id = await enqueue({ priority: 9, backoffInitialMs: 60_000 });
        await fetchAll(store, 'q', [{ tenant, count: 1, leaseTokens: ['t'] }], now);
        const failure = { tenant, queue: 'q', jobId: id, token: 't', message: 'no' };
        await store.fail([{ ...failure, retryable, retryAfterMs: 0 }], now);
        return id;
      }),
    );
    expect(await Promise.all(failed.map(state))).toEqual(['retrying', 'dead']);
    const leased = await enqueue({ priority: 9 });
    await fetchAll(store, 'q', [{ tenant, count: 1, leaseTokens: ['held'] }], now);
    // Read into a broker's buffer but not leased: still waiting, so purged,
    // and a lease of it afterwards is refused.
    const buffered = await enqueue({ priority: 9 });
    const [read] = await fetchAll(store, 'q', [{ tenant, count: 1 }], now);
    const waiting = [];
    for (let i = 0; i < 7; i++) waiting.push(await enqueue({ priority: i % 2 === 0 ? 0 : 5 }));
    const delayed = [await enqueue({ runAt: now + 60_000 }), await enqueue({ runAt: now + 1 })];

    const createdBy = now + 5;
    // Enqueued after the purge began: kept, whether they come before its
    // first step (through a broker whose call was in flight) or between steps.
    const enqueueNewer = async (): Promise<string[]> => [
      await enqueue({}, now + 10),
      await enqueue({ runAt: now + 60_000 }, now + 10),
    ];
    const newer = await enqueueNewer();
    const steps: Array<{ purged: number; cursor: string }> = [];
    let cursor = '';
    do {
      const step = await store.purgeStep(tenant, 'q', createdBy, now + 6, 3, cursor);
      steps.push(step);
      cursor = step.cursor;
      if (steps.length === 1) newer.push(...(await enqueueNewer()));
    } while (cursor !== '' && steps.length < 50);

    expect(cursor).toBe('');
    expect(steps.length).toBeGreaterThan(3);
    expect(steps.every((step) => step.purged <= 3)).toBe(true);
    expect(steps.reduce((sum, step) => sum + step.purged, 0)).toBe(7 + 2 + 2);
    const purged = [failed[0]!, buffered, ...waiting, ...delayed];
    expect(await Promise.all(purged.map(state))).toEqual(purged.map(() => 'cancelled'));
    expect(await state(leased)).toBe('leased');
    expect(await state(failed[1]!)).toBe('dead');
    expect(await Promise.all(newer.map(state))).toEqual([
      'waiting',
      'delayed',
      'waiting',
      'delayed',
    ]);
    const stillDelayed = await redis.zrange(store.keys.delayed(tenant, 'q'), '0', '-1');
    expect(stillDelayed.sort()).toEqual([newer[1]!, newer[3]!].sort());
    const entries = async (priority: number): Promise<string[]> =>
      (await redis.xrange(store.keys.ready(tenant, 'q', priority), '-', '+')).map(
        ([, fields]) => fields[1]!,
      );
    expect(await entries(0)).toEqual([newer[0], newer[2]]);
    expect(await entries(5)).toEqual([]);
    expect(await entries(9)).toEqual([leased]);
    expect(await store.lease([{ job: read!.jobs[0]!, token: 'late' }], now + 7)).toEqual([0]);
    expect(await store.purgeStep(tenant, 'q', createdBy, now + 8, 20, '')).toEqual({
      purged: 0,
      cursor: '',
    });
    // A purge that begins later takes them.
    expect(await store.purgeStep(tenant, 'q', now + 10, now + 11, 20, '')).toEqual({
      purged: 4,
      cursor: '',
    });
  });

  it('ends a purge while new jobs arrive faster than it steps', async () => {
    const tenant = 'busy';
    const arrive = async (count: number, at: number): Promise<void> => {
      const jobs = Array.from({ length: count }, () => job('x', { tenant, createdAt: at }));
      await store.enqueue(jobs, () => 0, at);
    };
    await arrive(7, now); // not a whole number of steps: the last step reaches past them
    let cursor = '';
    let steps = 0;
    let purged = 0;
    do {
      const step = await store.purgeStep(tenant, 'q', now, now + 1, 3, cursor);
      purged += step.purged;
      cursor = step.cursor;
      await arrive(5, now + 10 + steps); // more than a step looks at
    } while (cursor !== '' && ++steps < 20);
    expect(cursor).toBe('');
    expect(purged).toBe(7);
    expect(await redis.xlen(store.keys.ready(tenant, 'q', 0))).toBe(5 * (steps + 1));
  });

  it('takes a given-back job cancelled or purged unread out of the requeued set at once', async () => {
    const tenant = 'given';
    const requeued = `${store.keys.queueBase(tenant, 'q')}requeued`;
    const jobs = [1, 2, 3, 4].map((n) => job(`g${n}`, { tenant }));
    await store.enqueue(jobs, () => 0, now);
    const [read] = await fetchAll(store, 'q', [{ tenant, count: 4 }], now);
    expect(await store.release(read!.jobs)).toEqual([true, true, true, true]);
    expect(await redis.zcard(requeued)).toBe(4);

    expect(await store.cancel(tenant, jobs[0]!.id, now + 1)).toMatchObject({ kind: 'cancelled' });
    expect(await redis.zcard(requeued)).toBe(3);
    // The next fetch reads one of those left: it leaves the set as it did.
    const [next] = await fetchAll(store, 'q', [{ tenant, count: 1 }], now + 2);
    expect(next!.jobs.map((j) => j.id)).toEqual([jobs[1]!.id]);
    expect(await redis.zcard(requeued)).toBe(2);
    // Read ahead but not leased, that one still waits: the purge takes it too.
    expect(await store.purgeStep(tenant, 'q', now, now + 3, 10, '')).toEqual({
      purged: 3,
      cursor: '',
    });
    expect(await redis.exists(requeued)).toBe(0);
  });

  it('moves a lease another broker held, with its slot of each cap, in one step (adopt.lua)', async () => {
    const leased = job('leased', { tenant: 'capped' });
    await store.enqueue([leased], () => 0, now);
    await fetchAll(store, 'q', [{ tenant: 'capped', count: 1, leaseTokens: ['tok'] }], now);
    const other = storeOf(redis, 'broker-b');
    const caps = [undefined, 'q'];
    const slots = caps.map((queue) => store.keys.slots('capped', queue));
    const ttls = { holdingMs: 10_000, leasesMs: 20_000 };
    // Broker A holds 3 slots of each cap, 1 for this lease.
    await new SharedLimitStore(redis, store.keys, 'broker-a').holdSlots(
      caps.map((queue) => ({ tenant: 'capped', queue, cap: 4, wanted: 3, keep: 1 })),
      ttls,
    );
    const adopt = (by: JobStore, token: string): Promise<boolean[]> =>
      by.adopt([{ tenant: 'capped', jobId: leased.id, token, caps }], ttls);

    expect(await adopt(other, 'wrong token')).toEqual([false]);
    expect(await adopt(other, 'tok')).toEqual([true]);
    // A learns of the move (a stale ack) only after B holds its slot; A, maybe
    // dead, no longer holds it for its leases.
    for (const key of slots) {
      expect(await redis.hgetall(key)).toEqual({ 'broker-a': '2', 'broker-b': '1' });
      expect(await redis.hgetall(`${key}:leased`)).toEqual({ 'broker-b': '1' });
      expect(await redis.zscore(`${key}:until`, 'broker-b')).not.toBeNull();
      expect(await redis.zscore(`${key}:leases-until`, 'broker-b')).not.toBeNull();
      expect(await redis.pttl(key)).toBeGreaterThan(10_000); // the leased slots' lapse
    }
    // Re-attached again to the broker that holds it: its slot is held already.
    expect(await adopt(other, 'tok')).toEqual([true]);
    for (const key of slots) {
      expect(await redis.hgetall(key)).toEqual({ 'broker-a': '2', 'broker-b': '1' });
    }
  });

  it('renews the entry of a lease it moves (adopt.lua): a sweep right after leaves the lease to its new holder', async () => {
    const { ack } = await leaseOne(store, 'moved');
    // Broker A died after its last renewal: the entry idles from then on, and
    // the worker reaches broker B only a while later.
    await new Promise((resolve) => setTimeout(resolve, 300));
    const b = storeOf(redis, 'broker-b');
    const lease = { tenant: 'ended', jobId: ack.jobId, token: 'current', caps: [] };
    expect(await b.adopt([lease], { holdingMs: 10_000, leasesMs: 20_000 })).toEqual([true]);

    // Another broker's sweep before B's first renewal, with a lease TTL that
    // the entry's idle time since A's last renewal has passed.
    const [swept] = await storeOf(redis, 'broker-c').reclaim('q', ['ended'], 200, now, noCaps);
    expect(swept).toMatchObject({ requeued: 0, retrying: 0, dead: 0 });
    const stream = store.keys.ready('ended', 'q', ack.priority);
    const [pending] = (await redis.xpending(stream, 'rota', '-', '+', 1)) as Array<
      [string, string]
    >;
    expect(pending?.[1]).toBe('broker-b');
    expect(await b.complete([{ ...ack, token: 'current' }], now)).toEqual(['ok']);
  });

  it('renews 200,000 held entries of one stream (in XCLAIM calls of 1,000)', async () => {
    const stream = store.keys.ready('t', 'q', 0);
    await redis.xgroup('CREATE', stream, 'rota', '$', 'MKSTREAM');
    const count = 200_000;
    const adding = redis.pipeline();
    for (let i = 0; i < count; i++) adding.xadd(stream, '*', 'j', `job-${i}`);
    await adding.exec();
    const read = (await redis.xreadgroup(
      'GROUP',
      'rota',
      'broker-a',
      'COUNT',
      count,
      'STREAMS',
      stream,
      '>',
    )) as Array<[string, Array<[string, string[]]>]>;
    const entries = read[0]![1].map(([entry]) => ({ tenant: 't', queue: 'q', priority: 0, entry }));
    expect(entries).toHaveLength(count);
    await new Promise((resolve) => setTimeout(resolve, 1000));

    const renewedFrom = Date.now();
    await store.renew(entries);

    // A renewed entry's idle time counts from its XCLAIM, made after renewedFrom (JUSTID
    // keeps its delivery count); one left alone would be idle for a second longer.
    const expectRenewed = async (id: string): Promise<void> => {
      const pending = (await redis.xpending(stream, 'rota', id, id, 1)) as Array<
        [string, string, number, number]
      >;
      const [, consumer, idle, deliveries] = pending[0]!;
      expect([consumer, deliveries]).toEqual(['broker-a', 1]);
      expect(idle).toBeLessThanOrEqual(Date.now() - renewedFrom + 2);
    };
    await expectRenewed(entries[0]!.entry);
    await expectRenewed(entries[count - 1]!.entry);
  });

  it('reclaims every tenant of a dead holder, sending again the tenants a full call skipped', async () => {
    const tenants = ['r1', 'r2', 'r3', 'r4', 'r5'];
    const perTenant = 150; // 750 entries: more than one call takes (200 per call)
    await store.enqueue(
      tenants.flatMap((tenant) =>
        Array.from({ length: perTenant }, (_, i) => job(`${tenant}-${i}`, { tenant })),
      ),
      () => 0,
      now,
    );
    // Another broker prefetches them all, then dies.
    const deadRedis = new Redis(server.url);
    const deadBroker = storeOf(deadRedis, 'broker-dead');
    const fetched = await fetchAll(
      deadBroker,
      'q',
      tenants.map((tenant) => ({ tenant, count: perTenant })),
      now,
    );
    deadRedis.disconnect();
    expect(fetched.map((result) => result.jobs.length)).toEqual(tenants.map(() => perTenant));
    await new Promise((resolve) => setTimeout(resolve, 20));

    // Script calls (EVAL when Redis did not have the script yet, EVALSHA after).
    const calls = async (): Promise<number> => {
      const stats = await redis.info('commandstats');
      return [...stats.matchAll(/cmdstat_eval(?:sha)?:calls=(\d+)/g)].reduce(
        (sum, [, n]) => sum + Number(n),
        0,
      );
    };
    const before = await calls();
    const outcomes = await store.reclaim('q', tenants, 10, now, noCaps);
    expect(outcomes.map((outcome) => outcome.requeued)).toEqual(tenants.map(() => perTenant));
    expect(outcomes.every((outcome) => outcome.unread && outcome.pending === 0)).toBe(true);
    // r1 and r2 fill the first call (300 entries), r3 and r4 the second, r5 the third.
    expect((await calls()) - before).toBe(3);
    // Back in their streams, unread: this broker reads them all.
    const again = await fetchAll(
      store,
      'q',
      tenants.map((tenant) => ({ tenant, count: perTenant + 1 })),
      now,
    );
    expect(again.map((result) => result.jobs.length)).toEqual(tenants.map(() => perTenant));
  });

  // XAUTOCLAIM looks at no more than 10 × COUNT (2,000) pending entries per
  // command: a sweep that always began at 0-0 never reached the entries behind
  // 2,000 live ones.
  it('reclaims a dead holder’s lease behind 2,000 live pending entries', async () => {
    const live = storeOf(redis, 'broker-live');
    const count = 2000;
    await live.enqueue(
      Array.from({ length: count }, (_, i) => job(`live-${i}`)),
      () => 0,
      now,
    );
    const tokens = Array.from({ length: count }, (_, i) => `live-${i}`);
    const [held] = await fetchAll(live, 'q', [{ tenant: 't', count, leaseTokens: tokens }], now);
    expect(held!.leased).toBe(count);
    const victim = job('victim');
    await store.enqueue([victim], () => 0, now);
    const deadRedis = new Redis(server.url);
    await storeOf(deadRedis, 'broker-dead').fetch(
      'q',
      [{ tenant: 't', count: 1, leaseTokens: ['dead'] }],
      now,
    );
    deadRedis.disconnect();
    // Idle for 1 s when reclaimed, the live ones (renewed just before) for far less.
    await new Promise((resolve) => setTimeout(resolve, 1000));
    await live.renew(
      held!.jobs.map(({ entry }) => ({ tenant: 't', queue: 'q', priority: 0, entry })),
    );

    const [outcome] = await store.reclaim('q', ['t'], 500, now, noCaps);
    expect(outcome).toMatchObject({ requeued: 0, retrying: 1, dead: 0, pending: count });
    expect((await store.getJob('t', victim.id))!.state).toBe('retrying');
  });

  describe('the slot of each in-flight cap a reclaimed lease held (reclaim.lua)', () => {
    const caps = [undefined, 'q'];
    const LASTING = { holdingMs: 60_000, leasesMs: 60_000 };
    const capsOf = (tenant: string): Array<string | undefined> => (tenant === 'capped' ? caps : []);
    /** The holding hash of the cap and its leased slots. */
    const holding = async (
      tenant: string,
      queue?: string,
    ): Promise<Array<Record<string, string>>> => {
      const key = store.keys.slots(tenant, queue);
      return [await redis.hgetall(key), await redis.hgetall(`${key}:leased`)];
    };
    /** Broker A asks for the whole tenant cap (6): it gets what the others leave. */
    const othersLeave = async (): Promise<number> => {
      const request = { tenant: 'capped', queue: undefined, cap: 6, wanted: 6, keep: 0 };
      const [answer] = await new SharedLimitStore(redis, store.keys, 'broker-a').holdSlots(
        [request],
        LASTING,
      );
      return answer!.usable;
    };

    /**
     * Broker "broker-dead" leases two jobs of `tenant` on q and one on q2, and
     * prefetches one more on q; it holds 5 slots of the tenant's cap (its 3
     * leases, 2 spare) and 3 of q's override (its 2 leases there, 1 spare).
     */
    const deadBroker = async (tenant: string, ttls: HoldingTtls): Promise<void> => {
      const jobs = [job('a', { tenant }), job('b', { tenant }), job('c', { tenant, queue: 'q2' })];
      await store.enqueue(jobs, () => 0, now);
      const deadRedis = new Redis(server.url);
      const dead = storeOf(deadRedis, 'broker-dead');
      await fetchAll(dead, 'q', [{ tenant, count: 2, leaseTokens: ['a', 'b'] }], now);
      await fetchAll(dead, 'q2', [{ tenant, count: 1, leaseTokens: ['c'] }], now);
      await store.enqueue([job('prefetched', { tenant })], () => 0, now);
      await fetchAll(dead, 'q', [{ tenant, count: 1 }], now);
      await new SharedLimitStore(deadRedis, store.keys, 'broker-dead').holdSlots(
        [
          { tenant, queue: undefined, cap: 6, wanted: 5, keep: 3 },
          { tenant, queue: 'q', cap: 6, wanted: 3, keep: 2 },
        ],
        ttls,
      );
      deadRedis.disconnect();
    };

    it('takes one slot per lease off its holder, none for a prefetched entry or a cap not given', async () => {
      await deadBroker('capped', { holdingMs: 50, leasesMs: 60_000 });
      await deadBroker('uncapped', { holdingMs: 50, leasesMs: 60_000 });
      await new Promise((resolve) => setTimeout(resolve, 100)); // past its holding's lapse

      const outcomes = await store.reclaim('q', ['capped', 'uncapped'], 10, now, capsOf);
      expect(outcomes.map(({ requeued, retrying }) => [requeued, retrying])).toEqual([
        [1, 2],
        [1, 2],
      ]);
      // Its spare slots lapsed, and its leases on q were reclaimed: the lease
      // on q2 holds the only slot left, and the others have the rest at once.
      expect(await holding('capped')).toEqual([{ 'broker-dead': '1' }, { 'broker-dead': '1' }]);
      expect(await holding('capped', 'q')).toEqual([{}, {}]);
      expect(await othersLeave()).toBe(5);
      // Caps the sweeping broker does not know of are left to lapse.
      expect((await holding('uncapped'))[1]).toEqual({ 'broker-dead': '3' });
      expect((await holding('uncapped', 'q'))[1]).toEqual({ 'broker-dead': '2' });
      // A sweep again finds nothing more to take.
      await store.reclaim('q', ['capped'], 10, now, capsOf);
      expect(await holding('capped')).toEqual([
        { 'broker-dead': '1', 'broker-a': '5' },
        { 'broker-dead': '1' },
      ]);
    });

    it('takes no slot whose time lapsed first', async () => {
      await deadBroker('capped', { holdingMs: 50, leasesMs: 50 });
      await new Promise((resolve) => setTimeout(resolve, 100));
      await store.reclaim('q', ['capped'], 10, now, capsOf);
      expect(await holding('capped')).toEqual([{}, {}]);
      expect(await holding('capped', 'q')).toEqual([{}, {}]);
      expect(await othersLeave()).toBe(6);
    });

    it('keeps the slot in the holding of a holder that still renews it', async () => {
      // Hung, or cut off from its entries: it may still count the lease, and
      // its worker still run the job. Left its spare, the slot goes to no
      // other broker's dispatch; the holder's next request says what it holds.
      await deadBroker('capped', LASTING);
      await new Promise((resolve) => setTimeout(resolve, 20));
      await store.reclaim('q', ['capped'], 10, now, capsOf);
      expect(await holding('capped')).toEqual([{ 'broker-dead': '5' }, { 'broker-dead': '1' }]);
      expect(await holding('capped', 'q')).toEqual([{ 'broker-dead': '3' }, {}]);
      expect(await othersLeave()).toBe(1);
    });
  });

  describe('the slot of each shared in-flight cap a lease takes (lease.lua)', () => {
    const LEASES_LAST = 60_000;
    /** Broker `name` holds `wanted` slots of capped's tenant cap (of 4), its spare ones lapsing after `holdingMs`. */
    const holdSlots = async (name: string, wanted: number, holdingMs = 60_000): Promise<number> => {
      const request = { tenant: 'capped', queue: undefined, cap: 4, wanted, keep: 0 };
      const [answer] = await new SharedLimitStore(redis, store.keys, name).holdSlots([request], {
        holdingMs,
        leasesMs: LEASES_LAST,
      });
      return answer!.usable;
    };
    /** Broker A's lease of `count` new jobs of capped, with its leases in flight under each cap. */
    const lease = async (
      count: number,
      caps: SlotCount[],
    ): Promise<{ ids: string[]; fetched: FetchedJob[]; attempts: number[] }> => {
      const jobs = Array.from({ length: count }, (_, i) =>
        job(`capped-${i}`, { tenant: 'capped' }),
      );
      await store.enqueue(jobs, () => 0, now);
      const [read] = await fetchAll(store, 'q', [{ tenant: 'capped', count }], now);
      const grants = read!.jobs.map((fetched, i) => ({ job: fetched, token: `t${i}` }));
      const slots = { caps: () => caps, ttls: { holdingMs: 60_000, leasesMs: LEASES_LAST } };
      const attempts = await store.lease(grants, now, slots);
      return { ids: jobs.map((j) => j.id), fetched: read!.jobs, attempts };
    };
    const state = async (id: string): Promise<string | null> =>
      redis.hget(store.keys.job('capped', id), 'state');

    it('refuses the leases the holdings leave no slot for (they stay waiting), and holds the slots of the rest', async () => {
      expect(await holdSlots('broker-b', 2)).toBe(2);
      expect(await holdSlots('broker-a', 2)).toBe(2);
      // A counts 3 leases under the tenant cap; B holds 2 of its 4 slots.
      const { ids, attempts } = await lease(3, [
        { queue: undefined, cap: 4, inFlight: 3 },
        { queue: 'q', cap: 10, inFlight: 3 },
      ]);
      expect(attempts).toEqual([1, 1, NO_SLOT]);
      expect(await Promise.all(ids.map(state))).toEqual(['leased', 'leased', 'waiting']);
      const tenantCap = store.keys.slots('capped');
      expect(await redis.hgetall(tenantCap)).toEqual({ 'broker-a': '2', 'broker-b': '2' });
      expect(await redis.hgetall(`${tenantCap}:leased`)).toEqual({ 'broker-a': '2' });
      // The queue's cap, which had room, holds the slots of the 2 leases too.
      const queueCap = store.keys.slots('capped', 'q');
      expect(await redis.hgetall(queueCap)).toEqual({ 'broker-a': '2' });
      expect(await redis.hgetall(`${queueCap}:leased`)).toEqual({ 'broker-a': '2' });
      expect(await redis.zscore(`${queueCap}:leases-until`, 'broker-a')).not.toBeNull();
      expect(await redis.pttl(queueCap)).toBeGreaterThan(LEASES_LAST - 5_000);
    });

    it('holds the slots of leases at once: they outlive the spare slots of a broker whose next request comes late', async () => {
      // Redis stalled (or the broker did) after the leases and before the broker told it of them.
      expect(await holdSlots('broker-a', 3, 50)).toBe(3);
      const { attempts } = await lease(2, [{ queue: undefined, cap: 4, inFlight: 2 }]);
      expect(attempts).toEqual([1, 1]);
      await new Promise((resolve) => setTimeout(resolve, 100)); // past its holding's lapse
      expect(await holdSlots('broker-b', 4)).toBe(2);
    });

    it('refuses a lease after the spare slots it was to fill lapsed and went to another broker', async () => {
      expect(await holdSlots('broker-a', 4, 50)).toBe(4);
      await new Promise((resolve) => setTimeout(resolve, 100));
      expect(await holdSlots('broker-b', 4)).toBe(4);
      const { ids, fetched, attempts } = await lease(1, [
        { queue: undefined, cap: 4, inFlight: 1 },
      ]);
      expect(attempts).toEqual([NO_SLOT]);
      expect(await state(ids[0]!)).toBe('waiting');
      expect(await redis.hgetall(store.keys.slots('capped'))).toEqual({ 'broker-b': '4' });
      expect(await redis.exists(`${store.keys.slots('capped')}:leased`)).toBe(0);
      // A gives it back (Grants.deliver): broker B reads it and leases it, as its first attempt.
      expect(await store.release(fetched, ['t0'])).toEqual([true]);
      const b = storeOf(redis, 'broker-b');
      const [read] = await fetchAll(
        b,
        'q',
        [{ tenant: 'capped', count: 1, leaseTokens: ['b'] }],
        now,
      );
      expect(read!.jobs.map((j) => j.id)).toEqual(ids);
      expect(await redis.hget(store.keys.job('capped', ids[0]!), 'attempts')).toBe('1');
    });
  });

  it('reclaims all of a stream past one call’s limit, going on where the call stopped', async () => {
    const count = 450; // more than two calls take (200 each)
    const jobs = Array.from({ length: count }, (_, i) => job(`held-${i}`, { priority: i % 2 }));
    await store.enqueue(jobs, () => 0, now);
    const deadRedis = new Redis(server.url);
    await storeOf(deadRedis, 'broker-dead').fetch('q', [{ tenant: 't', count }], now);
    deadRedis.disconnect();
    await new Promise((resolve) => setTimeout(resolve, 20));

    const [outcome] = await store.reclaim('q', ['t'], 10, now, noCaps);
    expect(outcome).toMatchObject({ requeued: count, unread: true, pending: 0 });
    const [again] = await fetchAll(store, 'q', [{ tenant: 't', count: count + 1 }], now);
    expect(again!.jobs).toHaveLength(count);
  });
});
