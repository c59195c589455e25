/**
 * The Admin listings' pages over a real Redis, at the store: the limits a
 * page keeps to (bytes, entries looked at) and the tokens it hands back.
 */
import { Redis } from 'ioredis';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { JobPages } from '../../src/broker/job-pages.js';
import { JobStore } from '../../src/store/job-store.js';
import { newJob } from '../helpers/new-job.js';
import { startTestRedis, type TestRedis } from '../helpers/redis.js';

describe('JobPages', () => {
  let server: TestRedis;
  let redis: Redis;
  let store: JobStore;
  let pages: JobPages;
  const now = 1_700_000_000_000;

  beforeAll(async () => {
    server = await startTestRedis();
    redis = new Redis(server.url);
    store = new JobStore(redis, {
      keyPrefix: 'pages',
      consumer: 'broker-a',
      completedRetentionMs: 60_000,
      deadRetentionMs: 60_000,
      idempotencyRetentionMs: 60_000,
    });
    pages = new JobPages(store);
  });
  afterAll(async () => {
    redis.disconnect();
    await server.dispose();
  });
  beforeEach(async () => {
    await redis.flushall();
  });

  const enqueue = async (count: number, payloadBytes = 2): Promise<string[]> => {
    const ids: string[] = [];
    for (let i = 0; i < count; i += 1000) {
      const jobs = Array.from({ length: Math.min(1000, count - i) }, () =>
        newJob(now, { payload: Buffer.alloc(payloadBytes, 'x') }),
      );
      await store.enqueue(jobs, () => 0, now);
      ids.push(...jobs.map((job) => job.id));
    }
    return ids;
  };

  it('ends a page of waiting jobs before its data passes 1 MiB, at least one job', async () => {
    const ids = await enqueue(3, 600 * 1024);
    const seen: number[] = [];
    let token = '';
    do {
      const page = await pages.waiting('t', 'q', 100, token);
      seen.push(page.jobs.length);
      expect(page.jobs.map((job) => job.payload.length)).toEqual(page.jobs.map(() => 600 * 1024));
      token = page.nextPageToken;
    } while (token !== '');
    expect(seen).toEqual([1, 1, 1]);
    const small = await enqueue(2);
    const all = await pages.waiting('t', 'q', 100, '');
    expect(all.jobs.map((job) => job.id)).toEqual([ids[0]]);
    const rest = await pages.waiting('t', 'q', 100, all.nextPageToken);
    expect(rest.jobs.map((job) => job.id)).toEqual([ids[1]]);
    expect((await pages.waiting('t', 'q', 100, rest.nextPageToken)).jobs.map((j) => j.id)).toEqual([
      ids[2]!,
      ...small,
    ]);
  });

  it('ends a page of waiting jobs after 10,000 entries of leased ones, short but with a token', async () => {
    const ids = await enqueue(10_004);
    for (let i = 0; i < 10_001; i += 1000) {
      const count = Math.min(1000, 10_001 - i);
      const tokens = Array.from({ length: count }, (_, k) => `lease-${i + k}`);
      await store.fetch('q', [{ tenant: 't', count, leaseTokens: tokens }], now);
    }
    const first = await pages.waiting('t', 'q', 10, '');
    expect(first.jobs).toEqual([]);
    expect(first.nextPageToken).not.toBe('');
    const second = await pages.waiting('t', 'q', 10, first.nextPageToken);
    expect(second.jobs.map((job) => job.id)).toEqual(ids.slice(10_001));
    expect(second.nextPageToken).toBe('');
  });

  it('pages the delayed set by offset, soonest due first', async () => {
    const jobs = [3, 1, 2].map((minutes) => newJob(now, { runAt: now + minutes * 60_000 }));
    await store.enqueue(jobs, () => 0, now);
    const first = await pages.delayed('t', 'q', 2, '');
    expect(first.jobs.map((job) => job.runAt)).toEqual([now + 60_000, now + 120_000]);
    expect(first.nextPageToken).toBe('2');
    const second = await pages.delayed('t', 'q', 2, first.nextPageToken);
    expect(second.jobs.map((job) => job.id)).toEqual([jobs[0]!.id]);
    expect(second.nextPageToken).toBe('');
  });
});
