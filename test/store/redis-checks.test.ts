import { Redis } from 'ioredis';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';

import { Keys, LAYOUT_VERSION } from '../../src/store/keys.js';
import {
  LayoutMismatch,
  checkLayout,
  checkRedisVersion,
  markLayout,
  redisDurabilityWarnings,
  redisVersionProblem,
} from '../../src/store/redis-checks.js';
import { startTestRedis, uniquePrefix, type TestRedis } from '../helpers/redis.js';

let redis: TestRedis;
let client: Redis;
beforeAll(async () => {
  redis = await startTestRedis();
  client = new Redis(redis.url);
});
afterAll(async () => {
  client.disconnect();
  await redis.dispose();
});

describe('Redis version check', () => {
  it('refuses a Redis older than 7.0, naming its version and what to do', () => {
    const problem = redisVersionProblem(
      '# Server\r\nredis_version:6.2.14\r\nredis_mode:standalone\r\n',
    );
    expect(problem).toMatch(/^Redis 6\.2\.14 is too old: Rota needs Redis 7\.0 or newer\./);
    expect(problem).toMatch(/ROTA_REDIS_URL/);
    expect(redisVersionProblem('redis_version:5.0.7\r\n')).toMatch(/^Redis 5\.0\.7 is too old/);
  });

  it('accepts 7.0 and later, and an INFO without a version', () => {
    for (const version of ['7.0.0', '7.0.15', '7.2.4', '8.0.1', '10.1.0']) {
      expect(redisVersionProblem(`# Server\r\nredis_version:${version}\r\n`)).toBeUndefined();
    }
    expect(redisVersionProblem('# Server\r\nredis_mode:standalone\r\n')).toBeUndefined();
  });

  it('passes on the Redis the tests run', async () => {
    await expect(checkRedisVersion(client)).resolves.toBeUndefined();
  });
});

describe('Redis durability warnings', () => {
  afterAll(async () => {
    await client.config('SET', 'maxmemory-policy', 'noeviction');
    await client.config('SET', 'appendonly', 'no');
  });

  // Each setting that can lose acknowledged jobs gets its own warning, naming the fix.
  it('warns of an eviction policy and of a Redis without its AOF, and of neither once fixed', async () => {
    await client.config('SET', 'maxmemory-policy', 'allkeys-lru');
    const warnings = await redisDurabilityWarnings(client);
    expect(warnings).toHaveLength(2);
    expect(warnings[0]).toBe(
      'Redis maxmemory-policy is allkeys-lru: under memory pressure Redis will evict jobs. Set it to noeviction',
    );
    expect(warnings[1]).toMatch(
      /^Redis persistence \(appendonly\) is off: a Redis restart loses every job not in the last snapshot\. Set appendonly yes/,
    );

    await client.config('SET', 'maxmemory-policy', 'noeviction');
    expect(await redisDurabilityWarnings(client)).toEqual([warnings[1]]);
    await client.config('SET', 'appendonly', 'yes');
    expect(await redisDurabilityWarnings(client)).toEqual([]);
  });

  it('checks nothing where CONFIG is refused, as on some managed services', async () => {
    await client.call('ACL', 'SETUSER', 'no-config', 'on', 'nopass', '~*', '+@all', '-config');
    const limited = new Redis(redis.url, { username: 'no-config', password: 'x' });
    try {
      await client.config('SET', 'maxmemory-policy', 'allkeys-lru');
      await expect(limited.config('GET', 'maxmemory-policy')).rejects.toThrow(/NOPERM/);
      expect(await redisDurabilityWarnings(limited)).toEqual([]);
    } finally {
      limited.disconnect();
      await client.call('ACL', 'DELUSER', 'no-config');
      await client.config('SET', 'maxmemory-policy', 'noeviction');
    }
  });
});

describe('data layout mark', () => {
  // A broker of a later layout stands in for a future release: the mark's
  // rules must hold then, while today every broker reads layout 1.
  const later = LAYOUT_VERSION + 1;
  let keys: Keys;
  beforeEach(() => {
    keys = new Keys(uniquePrefix());
  });

  it("marks a prefix with no data as of the starting broker's layout", async () => {
    await checkLayout(client, keys, later);
    expect(await client.get(keys.layout())).toBe(String(later));
    await expect(checkLayout(client, keys, later)).resolves.toBeUndefined();
    await expect(checkLayout(client, keys)).rejects.toThrow(
      `this Redis holds Rota data of layout ${later} under key prefix "${keys.prefix}"`,
    );
  });

  // Brokers of the releases before the mark wrote data of layout 1 and no
  // mark: a broker of a later layout marked it as its own, and misread it.
  it('takes unmarked data for layout 1, the layout of every release before the mark', async () => {
    await client.hset(keys.job('acme', 'j1'), 'state', 'waiting');
    const refused = checkLayout(client, keys, later);
    await expect(refused).rejects.toBeInstanceOf(LayoutMismatch);
    await expect(refused).rejects.toThrow(
      `this Redis holds Rota data of layout 1 under key prefix "${keys.prefix}" (the key ${keys.layout()}); this broker reads layout ${later}:`,
    );
    expect(await client.get(keys.layout())).toBe('1');

    const settingsOnly = new Keys(uniquePrefix());
    await client.sadd(settingsOnly.tenantIndex(), 'acme');
    await expect(checkLayout(client, settingsOnly, later)).rejects.toThrow('of layout 1');

    // Today's brokers read it, and mark it so.
    const today = new Keys(uniquePrefix());
    await client.hset(today.job('acme', 'j1'), 'state', 'waiting');
    await checkLayout(client, today);
    expect(await client.get(today.layout())).toBe(String(LAYOUT_VERSION));
  });

  it('takes no data under a longer prefix for its own', async () => {
    await client.hset(new Keys(`${keys.prefix}:staging`).job('acme', 'j1'), 'state', 'waiting');
    await checkLayout(client, keys, later);
    expect(await client.get(keys.layout())).toBe(String(later));
  });

  // After Redis lost its keys, what running brokers wrote since is of their layout.
  it("marks again as the running broker's layout, with its data there", async () => {
    await checkLayout(client, keys, later);
    await client.del(keys.layout());
    await client.hset(keys.job('acme', 'j1'), 'state', 'waiting');
    await markLayout(client, keys, later);
    expect(await client.get(keys.layout())).toBe(String(later));
    await expect(markLayout(client, keys)).rejects.toBeInstanceOf(LayoutMismatch);
  });
});
