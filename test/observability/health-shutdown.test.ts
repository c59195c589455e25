import * as grpc from '@grpc/grpc-js';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addHealthAndReflection } from '../../src/grpc/health.js';
import { startTestRedis, type TestRedis } from '../helpers/redis.js';

// A graceful stop quits the Redis connection; that must read as a shutdown in
// the logs, not as an outage ("Redis is unreachable" at every stop).
describe('health while shutting down', () => {
  let server: TestRedis;
  beforeAll(async () => {
    server = await startTestRedis();
  });
  afterAll(async () => {
    await server.dispose();
  });

  /** Quits and waits for the connection's end, when health hears of it. */
  const quit = async (redis: Redis): Promise<void> => {
    const ended = new Promise((resolve) => redis.once('end', resolve));
    await redis.quit();
    await ended;
  };

  const healthOn = async (): Promise<{ redis: Redis; lines: string[]; stop: () => void }> => {
    const redis = new Redis(server.url, { lazyConnect: true });
    await redis.connect();
    const lines: string[] = [];
    const logger = pino({ level: 'info' }, { write: (line: string) => lines.push(line) });
    const health = addHealthAndReflection(new grpc.Server(), redis, logger);
    return { redis, lines, stop: () => health.shuttingDown() };
  };

  it('logs the shutdown, not an outage, when the broker quits Redis itself', async () => {
    const { redis, lines, stop } = await healthOn();
    stop();
    await quit(redis);
    const log = lines.join('');
    expect(log).toMatch(/shutting down: health is NOT_SERVING/);
    expect(log).not.toMatch(/Redis is unreachable/);
  });

  it('still reports a lost connection as an outage', async () => {
    const { redis, lines } = await healthOn();
    await quit(redis);
    expect(lines.join('')).toMatch(/Redis is unreachable: health is NOT_SERVING/);
  });
});
