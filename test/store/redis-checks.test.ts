import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { checkRedisVersion, redisVersionProblem } from '../../src/store/redis-checks.js';
import { startTestRedis, type TestRedis } from '../helpers/redis.js';

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

  describe('against a real redis-server', () => {
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

    it('passes on the Redis the tests run', async () => {
      await expect(checkRedisVersion(client)).resolves.toBeUndefined();
    });
  });
});
