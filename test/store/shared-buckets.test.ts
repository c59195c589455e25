import { Redis } from 'ioredis';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { Keys } from '../../src/store/keys.js';
import { SharedBuckets } from '../../src/store/shared-buckets.js';
import type { TokenRequest } from '../../src/scheduler/index.js';
import { startTestRedis, type TestRedis } from '../helpers/redis.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('SharedBuckets (take_tokens.lua)', () => {
  let server: TestRedis;
  let redis: Redis;
  let other: Redis; // a second broker's connection
  const keys = new Keys('rota');

  beforeAll(async () => {
    server = await startTestRedis();
    redis = new Redis(server.url);
    other = new Redis(server.url);
  });
  afterAll(async () => {
    redis.disconnect();
    other.disconnect();
    await server.dispose();
  });
  beforeEach(async () => {
    await redis.flushall();
  });

  const request = (fields: Partial<TokenRequest> = {}): TokenRequest => ({
    tenant: 'acme',
    queue: undefined,
    rate: 10,
    size: 5,
    wanted: 3,
    ...fields,
  });

  it('starts full, grants at most what it holds, then says when the next token is due', async () => {
    const buckets = new SharedBuckets(redis, keys);
    expect(await buckets.take([request()])).toEqual([{ granted: 3, waitMs: 0 }]);
    const [second] = await buckets.take([request()]);
    expect(second!.granted).toBe(2);
    expect(second!.waitMs).toBeGreaterThan(0);
    expect(second!.waitMs).toBeLessThanOrEqual(100); // 1 token at 10/s
    const [third] = await buckets.take([request()]);
    expect(third!.granted).toBe(0);
  });

  it('refills at its rate, never above its size', async () => {
    const buckets = new SharedBuckets(redis, keys);
    await buckets.take([request({ wanted: 5 })]); // empty now
    const started = Date.now();
    await sleep(350);
    const [refilled] = await buckets.take([request({ wanted: 5 })]);
    const elapsed = Date.now() - started;
    expect(refilled!.granted).toBeGreaterThanOrEqual(3); // 10/s for ≥ 350 ms
    expect(refilled!.granted).toBeLessThanOrEqual(Math.min(5, Math.ceil((elapsed * 10) / 1000)));
  });

  it('is one bucket for every broker on the Redis', async () => {
    const a = new SharedBuckets(redis, keys);
    const b = new SharedBuckets(other, keys);
    const grants = await Promise.all([
      a.take([request({ wanted: 4 })]),
      b.take([request({ wanted: 4 })]),
    ]);
    expect(grants.flat().reduce((sum, g) => sum + g.granted, 0)).toBe(5);
  });

  it('keeps tenants and queue overrides apart, and answers many buckets in one call', async () => {
    const buckets = new SharedBuckets(redis, keys);
    const requests = [
      request({ tenant: 'a' }),
      request({ tenant: 'a', queue: 'emails', size: 1 }),
      request({ tenant: 'b', wanted: 9 }),
      ...Array.from({ length: 300 }, (_, i) => request({ tenant: `many-${i}`, wanted: 1 })),
    ];
    const grants = await buckets.take(requests);
    expect(grants.slice(0, 3).map((g) => g.granted)).toEqual([3, 1, 5]);
    expect(grants).toHaveLength(303);
    expect(grants.slice(3).every((g) => g.granted === 1)).toBe(true);
  });

  it('keeps a bucket only until it would be full again', async () => {
    const buckets = new SharedBuckets(redis, keys);
    await buckets.take([request({ rate: 100, size: 5, wanted: 2 })]);
    const ttl = await redis.pttl(keys.tokens('acme'));
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(21); // 2 tokens at 100/s, + 1 ms
    await sleep(40);
    expect(await redis.exists(keys.tokens('acme'))).toBe(0);
    expect(await buckets.take([request({ rate: 100, size: 5, wanted: 5 })])).toEqual([
      { granted: 5, waitMs: 10 },
    ]);
  });

  it('follows a changed rate and size at once', async () => {
    const buckets = new SharedBuckets(redis, keys);
    await buckets.take([request({ rate: 1, size: 10, wanted: 10 })]);
    const [slower] = await buckets.take([request({ rate: 0.5, size: 10, wanted: 1 })]);
    expect(slower!.granted).toBe(0);
    expect(slower!.waitMs).toBeGreaterThan(1000); // a token takes 2 s at 0.5/s
    expect(slower!.waitMs).toBeLessThanOrEqual(2000);
  });
});
