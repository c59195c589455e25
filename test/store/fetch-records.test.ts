import { Redis } from 'ioredis';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { packArgs, unpackReply } from '../../src/store/cmsgpack.js';
import { JobStore } from '../../src/store/job-store.js';
import { runScript } from '../../src/store/scripts.js';
import type { NewJob } from '../../src/store/types.js';
import { newJob } from '../helpers/new-job.js';
import { startTestRedis, type TestRedis } from '../helpers/redis.js';

// A fetch call keeps a record of what it read, so that running it a second
// time (ioredis sends a call again when the connection dropped before its
// reply) answers the same jobs, and a call whose reply never came can give
// them back (JobStore.abandonCall). The calls here are made by hand, as the
// store makes them, so that one call can be run twice.
const now = 1_700_000_000_000;
const consumer = 'broker-a';

describe('fetch records', () => {
  let server: TestRedis;
  let redis: Redis;
  let store: JobStore;
  const newStore = (): JobStore =>
    new JobStore(redis, {
      keyPrefix: 'records',
      consumer,
      completedRetentionMs: 60_000,
      deadRetentionMs: 60_000,
      idempotencyRetentionMs: 60_000,
      clock: () => now,
    });

  beforeAll(async () => {
    server = await startTestRedis();
    redis = new Redis(server.url, { lazyConnect: true });
    await redis.connect();
    store = newStore();
    record = recordOf(1);
  });
  afterAll(async () => {
    redis.disconnect();
    await server.dispose();
  });
  beforeEach(async () => {
    await redis.flushall();
  });

  const enqueue = async (count: number): Promise<NewJob[]> => {
    const jobs = Array.from({ length: count }, () => newJob(now));
    await store.enqueue(jobs, () => 0, now);
    return jobs;
  };

  /**
   * The record key of the `call`th call made by hand here (by `maker`; the
   * store's own calls, its enqueues among them, are named after `consumer`).
   */
  const recordOf = (call: number, maker = 'by-hand'): string =>
    store.keys.callRecord('t', maker, call);
  /** The record of the first call by hand (run twice where a test says so). */
  let record: string;

  /** One run of a fetch call of tenant t: its jobs' ids, how many leased, and their attempts. */
  const runFetch = async (
    count: number,
    tokens: string[],
    recordKey = record,
  ): Promise<{ ids: string[]; leased: number; attempts: number[] }> => {
    const { keys } = store;
    const args = [consumer, recordKey, 60_000, 0, now, 500];
    args.push(keys.queueBase('t', 'q'), keys.jobBase('t'), count, -1, tokens.length, ...tokens);
    const reply = await runScript(redis, 'fetch', [keys.levels('t', 'q')], [packArgs(args)], true);
    const values = unpackReply(reply as Buffer).map(String);
    const found = Number(values[2]);
    const ids: string[] = [];
    const attempts: number[] = [];
    for (let k = 0; k < found; k++) {
      ids.push(values[4 + k * 10]!);
      attempts.push(Number(values[4 + k * 10 + 3]));
    }
    return { ids, leased: Number(values[3]), attempts };
  };

  it('answers a second run of a call with the jobs of the first, not with newer ones', async () => {
    const [a, b, c] = await enqueue(3);
    const first = await runFetch(2, ['tok-a']);
    expect(first).toEqual({ ids: [a!.id, b!.id], leased: 1, attempts: [0, 0] });
    const again = await runFetch(2, ['tok-a']);
    expect(again).toEqual(first);
    expect(await store.getJob('t', a!.id)).toMatchObject({ state: 'leased', leaseToken: 'tok-a' });
    // The third job is still unread: a call of its own reads it.
    expect((await runFetch(2, [], recordOf(2))).ids).toEqual([c!.id]);
  });

  it('answers again only the jobs still where the first run left them, its leases in order', async () => {
    const [a, b, c] = await enqueue(3);
    await runFetch(3, ['tok-a', 'tok-b']);
    // Cancelled in between: the lease of b, now first, would go out under a's token.
    await store.cancel('t', a!.id, now);
    const again = await runFetch(3, ['tok-a', 'tok-b']);
    expect(again).toEqual({ ids: [b!.id, c!.id], leased: 0, attempts: [0, 0] });
    expect(await store.getJob('t', b!.id)).toMatchObject({ state: 'waiting', attempts: 0 });
  });

  it('gives back what a call read, its leases uncounted, and keeps a second run from answering it', async () => {
    const [a, b] = await enqueue(2);
    await runFetch(2, ['tok-a']);
    expect(await store.abandonCall({ record, parts: [{ tenant: 't', queue: 'q' }] })).toBe(2);
    expect(await store.getJob('t', a!.id)).toMatchObject({ state: 'waiting', attempts: 0 });
    expect(await store.getJob('t', b!.id)).toMatchObject({ state: 'waiting' });
    expect(await runFetch(2, ['tok-a'])).toEqual({ ids: [], leased: 0, attempts: [] });
    // Unread again, for any broker's next fetch.
    expect(await runFetch(2, ['tok-x'], recordOf(2))).toEqual({
      ids: [a!.id, b!.id],
      leased: 1,
      attempts: [0, 0],
    });
  });

  it('keeps a call given up before it ran from reading anything when it runs', async () => {
    const [a] = await enqueue(1);
    expect(await store.abandonCall({ record, parts: [{ tenant: 't', queue: 'q' }] })).toBe(0);
    expect(await runFetch(1, ['tok-a'])).toEqual({ ids: [], leased: 0, attempts: [] });
    expect(await store.getJob('t', a!.id)).toMatchObject({ state: 'waiting', attempts: 0 });
    expect((await runFetch(1, [], recordOf(2))).ids).toEqual([a!.id]);
  });

  it('deletes the records of the calls (enqueues, fetches) the broker has had its answers to', async () => {
    const fresh = newStore();
    await fresh.enqueue([newJob(now)], () => 0, now);
    expect(await redis.pttl(recordOf(1, consumer))).toBeGreaterThan(0);
    await fresh.fetch('q', [{ tenant: 't', count: 1 }], now);
    expect(await redis.exists(recordOf(1, consumer))).toBe(0);
    expect(await redis.exists(recordOf(2, consumer))).toBe(1);
    await fresh.fetch('q', [{ tenant: 't', count: 1 }], now);
    expect(await redis.exists(recordOf(2, consumer))).toBe(0);
    expect(await redis.pttl(recordOf(3, consumer))).toBeGreaterThan(0);
  });
});
