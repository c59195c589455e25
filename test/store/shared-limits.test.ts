import { Redis } from 'ioredis';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { Keys } from '../../src/store/keys.js';
import { SharedLimitStore } from '../../src/store/shared-limits.js';
import type { SlotRequest, TokenRequest } from '../../src/scheduler/index.js';
import { startTestRedis, type TestRedis } from '../helpers/redis.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

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

describe('SharedLimitStore: token buckets (take_tokens.lua)', () => {
  const request = (fields: Partial<TokenRequest> = {}): TokenRequest => ({
    tenant: 'acme',
    queue: undefined,
    rate: 10,
    size: 5,
    wanted: 3,
    ...fields,
  });

  it('starts full, grants at most what it holds, then says when the next token is due', async () => {
    const buckets = new SharedLimitStore(redis, keys, 'broker-redis');
    expect(await buckets.takeTokens([request()])).toEqual([{ granted: 3, waitMs: 0 }]);
    const [second] = await buckets.takeTokens([request()]);
    expect(second!.granted).toBe(2);
    expect(second!.waitMs).toBeGreaterThan(0);
    expect(second!.waitMs).toBeLessThanOrEqual(100); // 1 token at 10/s
    const [third] = await buckets.takeTokens([request()]);
    expect(third!.granted).toBe(0);
  });

  it('serves the other buckets of a call when one refills too slowly for a Redis expiry', async () => {
    const buckets = new SharedLimitStore(redis, keys, 'broker-redis');
    const grants = await buckets.takeTokens([
      request({ tenant: 'glacial', rate: 1e-15, size: 1, wanted: 1 }),
      request({ tenant: 'acme' }),
    ]);
    expect(grants[0]!.granted).toBe(1);
    expect(grants[1]).toEqual({ granted: 3, waitMs: 0 });
    const [again] = await buckets.takeTokens([
      request({ tenant: 'glacial', rate: 1e-15, size: 1 }),
    ]);
    expect(again!.granted).toBe(0);
    expect(again!.waitMs).toBeGreaterThan(0);
    expect(Number.isSafeInteger(again!.waitMs)).toBe(true);
  });

  it('refills at its rate, never above its size', async () => {
    const buckets = new SharedLimitStore(redis, keys, 'broker-redis');
    await buckets.takeTokens([request({ wanted: 5 })]); // empty now
    const started = Date.now();
    await sleep(350);
    const [refilled] = await buckets.takeTokens([request({ wanted: 5 })]);
    const elapsed = Date.now() - started;
    expect(refilled!.granted).toBeGreaterThanOrEqual(3); // 10/s for ≥ 350 ms
    expect(refilled!.granted).toBeLessThanOrEqual(Math.min(5, Math.ceil((elapsed * 10) / 1000)));
  });

  it('is one bucket for every broker on the Redis', async () => {
    const a = new SharedLimitStore(redis, keys, 'broker-redis');
    const b = new SharedLimitStore(other, keys, 'broker-other');
    const grants = await Promise.all([
      a.takeTokens([request({ wanted: 4 })]),
      b.takeTokens([request({ wanted: 4 })]),
    ]);
    expect(grants.flat().reduce((sum, g) => sum + g.granted, 0)).toBe(5);
  });

  it('keeps tenants and queue overrides apart, and answers many buckets in one call', async () => {
    const buckets = new SharedLimitStore(redis, keys, 'broker-redis');
    const requests = [
      request({ tenant: 'a' }),
      request({ tenant: 'a', queue: 'emails', size: 1 }),
      request({ tenant: 'b', wanted: 9 }),
      ...Array.from({ length: 300 }, (_, i) => request({ tenant: `many-${i}`, wanted: 1 })),
    ];
    const grants = await buckets.takeTokens(requests);
    expect(grants.slice(0, 3).map((g) => g.granted)).toEqual([3, 1, 5]);
    expect(grants).toHaveLength(303);
    expect(grants.slice(3).every((g) => g.granted === 1)).toBe(true);
  });

  it('keeps a bucket only until it would be full again', async () => {
    const buckets = new SharedLimitStore(redis, keys, 'broker-redis');
    await buckets.takeTokens([request({ rate: 100, size: 5, wanted: 2 })]);
    const ttl = await redis.pttl(keys.tokens('acme'));
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(21); // 2 tokens at 100/s, + 1 ms
    await sleep(40);
    expect(await redis.exists(keys.tokens('acme'))).toBe(0);
    expect(await buckets.takeTokens([request({ rate: 100, size: 5, wanted: 5 })])).toEqual([
      { granted: 5, waitMs: 10 },
    ]);
  });

  it('follows a changed rate and size at once', async () => {
    const buckets = new SharedLimitStore(redis, keys, 'broker-redis');
    await buckets.takeTokens([request({ rate: 1, size: 10, wanted: 10 })]);
    const [slower] = await buckets.takeTokens([request({ rate: 0.5, size: 10, wanted: 1 })]);
    expect(slower!.granted).toBe(0);
    expect(slower!.waitMs).toBeGreaterThan(1000); // a token takes 2 s at 0.5/s
    expect(slower!.waitMs).toBeLessThanOrEqual(2000);
  });
});

describe('SharedLimitStore: in-flight slots (hold_slots.lua)', () => {
  const LASTING = { holdingMs: 10_000, leasesMs: 10_000 };
  const BRIEF = { holdingMs: 50, leasesMs: 50 };
  const hold = (fields: Partial<SlotRequest> = {}): SlotRequest => ({
    tenant: 'acme',
    queue: undefined,
    cap: 5,
    wanted: 3,
    keep: 0,
    ...fields,
  });

  it('never lets the holdings of all brokers exceed the cap, and tells who waits', async () => {
    const a = new SharedLimitStore(redis, keys, 'a');
    const b = new SharedLimitStore(other, keys, 'b');
    expect(await a.holdSlots([hold({ wanted: 3 })], LASTING)).toEqual([
      { usable: 3, othersWait: false },
    ]);
    expect(await b.holdSlots([hold({ wanted: 4 })], LASTING)).toEqual([
      { usable: 2, othersWait: false },
    ]);
    // A learns that B waits for 2 more; it gives one back.
    expect(await a.holdSlots([hold({ wanted: 2, keep: 2 })], LASTING)).toEqual([
      { usable: 2, othersWait: true },
    ]);
    expect(await b.holdSlots([hold({ wanted: 4, keep: 2 })], LASTING)).toEqual([
      { usable: 3, othersWait: false },
    ]);
    expect(await redis.hgetall(keys.slots('acme'))).toEqual({ a: '2', b: '3' });
  });

  it('keeps the leases a broker has in flight even beyond the cap, but lets it use none', async () => {
    const a = new SharedLimitStore(redis, keys, 'a');
    const b = new SharedLimitStore(redis, keys, 'b');
    await a.holdSlots([hold({ wanted: 5 })], LASTING);
    // B took over leases (workers re-attached them): it keeps them, gets no more.
    expect(await b.holdSlots([hold({ wanted: 4, keep: 2 })], LASTING)).toEqual([
      { usable: 0, othersWait: false },
    ]);
    expect(await redis.hgetall(keys.slots('acme'))).toEqual({ a: '5', b: '2' });
  });

  it('lets no broker use a slot while the holdings exceed a lowered cap', async () => {
    const a = new SharedLimitStore(redis, keys, 'a');
    const b = new SharedLimitStore(other, keys, 'b');
    await a.holdSlots([hold({ cap: 20, wanted: 10, keep: 10 })], LASTING);
    await b.holdSlots([hold({ cap: 20, wanted: 10, keep: 10 })], LASTING);
    // Lowered to 4: each keeps the slots of its 10 leases, may use none.
    expect(await a.holdSlots([hold({ cap: 4, wanted: 4, keep: 10 })], LASTING)).toEqual([
      { usable: 0, othersWait: false },
    ]);
    expect(await b.holdSlots([hold({ cap: 4, wanted: 4, keep: 6 })], LASTING)).toEqual([
      { usable: 0, othersWait: true },
    ]);
    // As their leases end, the holdings shrink; what is left under the cap is usable.
    expect(await a.holdSlots([hold({ cap: 4, wanted: 4, keep: 1 })], LASTING)).toEqual([
      { usable: 0, othersWait: true },
    ]);
    expect(await b.holdSlots([hold({ cap: 4, wanted: 4, keep: 2 })], LASTING)).toEqual([
      { usable: 3, othersWait: true },
    ]);
    expect(await redis.hgetall(keys.slots('acme'))).toEqual({ a: '1', b: '3' });
  });

  it('lets the holding of a broker that stopped renewing lapse', async () => {
    const gone = new SharedLimitStore(redis, keys, 'gone');
    const alive = new SharedLimitStore(redis, keys, 'alive');
    await gone.holdSlots([hold({ wanted: 5 })], BRIEF);
    expect((await alive.holdSlots([hold({ wanted: 5 })], BRIEF))[0]!.usable).toBe(0);
    await sleep(80);
    expect((await alive.holdSlots([hold({ wanted: 5 })], LASTING))[0]!.usable).toBe(5);
    expect(await redis.hgetall(keys.slots('acme'))).toEqual({ alive: '5' });
  });

  it("lets a dead broker's spare slots lapse with its holding, the slots of its leases later", async () => {
    const gone = new SharedLimitStore(redis, keys, 'gone');
    const alive = new SharedLimitStore(redis, keys, 'alive');
    await gone.holdSlots([hold({ wanted: 5, keep: 2 })], { holdingMs: 50, leasesMs: 400 });
    await sleep(80);
    expect((await alive.holdSlots([hold({ wanted: 5 })], BRIEF))[0]!.usable).toBe(3);
    expect(await redis.hgetall(keys.slots('acme'))).toEqual({ gone: '2', alive: '3' });
    expect(await redis.hgetall(`${keys.slots('acme')}:wants`)).toEqual({ alive: '2' });
    await sleep(400);
    expect((await alive.holdSlots([hold({ wanted: 5 })], LASTING))[0]!.usable).toBe(5);
    expect(await redis.hgetall(keys.slots('acme'))).toEqual({ alive: '5' });
    expect(await redis.zcard(`${keys.slots('acme')}:leases-until`)).toBe(0);
  });

  it("keeps a holding's keys until the last lapse of any broker's", async () => {
    const a = new SharedLimitStore(redis, keys, 'a');
    const b = new SharedLimitStore(redis, keys, 'b');
    await a.holdSlots([hold({ wanted: 2, keep: 2 })], { holdingMs: 50, leasesMs: 10_000 });
    await b.holdSlots([hold({ wanted: 2, keep: 1 })], BRIEF); // lapses first
    for (const part of ['', ':wants', ':leased', ':until', ':leases-until']) {
      const ttl = await redis.pttl(`${keys.slots('acme')}${part}`);
      if (ttl !== -2) expect(ttl).toBeGreaterThan(5000); // -2: no such key (nothing wanted)
    }
    await sleep(80);
    expect((await b.holdSlots([hold({ wanted: 5 })], BRIEF))[0]!.usable).toBe(3);
  });

  it('gives a holding up, and keeps queue overrides apart from the tenant', async () => {
    const a = new SharedLimitStore(redis, keys, 'a');
    const answers = await a.holdSlots(
      [hold({ wanted: 5 }), hold({ queue: 'email', cap: 1, wanted: 4 })],
      LASTING,
    );
    expect(answers.map((x) => x.usable)).toEqual([5, 1]);
    await a.holdSlots([hold({ wanted: 5, keep: 2 })], LASTING); // 2 leases in flight
    await a.holdSlots([hold({ wanted: 0 }), hold({ queue: 'email', cap: 1, wanted: 0 })], LASTING);
    expect(await redis.exists(keys.slots('acme'), keys.slots('acme', 'email'))).toBe(0);
    for (const part of [':wants', ':leased', ':until', ':leases-until']) {
      expect(await redis.exists(`${keys.slots('acme')}${part}`)).toBe(0);
    }
  });
});
