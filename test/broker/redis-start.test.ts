import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { Producer } from '../../clients/producer.js';
import { startError, startTestBroker } from '../helpers/broker.js';
import { startTestRedis, type TestRedis } from '../helpers/redis.js';

let redis: TestRedis;
beforeAll(async () => {
  redis = await startTestRedis();
  await redis.kill(); // the broker starts while its Redis is down
});
afterAll(async () => {
  await redis.dispose();
});

describe('broker start while Redis is down', () => {
  it('gives up after ROTA_REDIS_START_TIMEOUT_MS with an error that says what to fix', async () => {
    const error = await startError({ redisUrl: redis.url, redisStartTimeoutMs: 400 });
    expect(error?.message).toMatch(
      new RegExp(
        `^Redis at 127\\.0\\.0\\.1:${redis.port} is unreachable \\(.*ECONNREFUSED.*\\) after 400 ms; start it, or point ROTA_REDIS_URL at a running Redis`,
      ),
    );
  });

  it('waits for Redis to come up, then serves', async () => {
    const logged: Record<string, unknown>[] = [];
    const starting = startTestBroker({
      redisUrl: redis.url,
      redisStartTimeoutMs: 20_000,
      onLog: (line) => logged.push(line),
    });
    await new Promise((resolve) => setTimeout(resolve, 700));
    await redis.restart();
    const broker = await starting;
    const producer = new Producer({ address: broker.address, timeoutMs: 5000 });
    try {
      const { jobId } = await producer.enqueue({ tenant: 'acme', queue: 'late-redis' });
      expect((await producer.getJob('acme', jobId)).state).toBe('WAITING');
      // the helper's lease TTL of 1500 ms with the default Redis timeout of 10 s
      expect(logged).toContainEqual(
        expect.objectContaining({
          level: 40,
          msg: expect.stringMatching(
            /^--redis-timeout-ms \(ROTA_REDIS_TIMEOUT_MS\) is 10000, more than a third of --lease-ttl-ms \(ROTA_LEASE_TTL_MS\), 1500:/,
          ) as unknown,
        }),
      );
    } finally {
      await producer.close();
      await broker.shutdown();
    }
  });
});

describe('broker start against a Redis that refuses it', () => {
  let locked: TestRedis;
  beforeAll(async () => {
    locked = await startTestRedis();
    const admin = new Redis(locked.url);
    await admin.config('SET', 'requirepass', 'sekret-for-tests');
    admin.disconnect();
  });
  afterAll(async () => {
    await locked.dispose();
  });

  const startWith = (redisUrl: string): Promise<Error | undefined> =>
    startError({ redisUrl, redisStartTimeoutMs: 20_000 });

  it('says a password is wanted, at once rather than after the start timeout', async () => {
    const error = await startWith(locked.url);
    expect(error?.message).toMatch(
      new RegExp(
        `^Redis at 127\\.0\\.0\\.1:${locked.port} refused the broker \\(NOAUTH .*\\): it wants a password: put it in ROTA_REDIS_URL \\(redis://:password@host:port, or redis://user:password@host:port for an ACL user\\)$`,
      ),
    );
  });

  it('says the password is wrong', async () => {
    const error = await startWith(`redis://:wrong@127.0.0.1:${locked.port}`);
    expect(error?.message).toMatch(
      /refused the broker \((WRONGPASS|ERR invalid username-password).*\): the user or password in ROTA_REDIS_URL is wrong$/,
    );
  });

  it('starts with the right password', async () => {
    expect(await startWith(`redis://:sekret-for-tests@127.0.0.1:${locked.port}`)).toBeUndefined();
  });
});
