import { Writable } from 'node:stream';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/telemetry/logger.js';
import { startTestRedis, type TestRedis } from '../helpers/redis.js';

let redis: TestRedis;

beforeAll(async () => {
  redis = await startTestRedis();
});
afterAll(async () => {
  await redis?.dispose();
});

function capture(): { logger: ReturnType<typeof createLogger>; lines: string[] } {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(chunk.toString());
      done();
    },
  });
  return { logger: createLogger('info', sink), lines };
}

describe('log lines of Redis errors', () => {
  it('leave out the arguments of the refused command (payloads, results, lease tokens)', async () => {
    const client = new Redis(redis.url);
    try {
      // Every write is refused with a reply error, as with MISCONF or a replica gone.
      await client.config('SET', 'min-replicas-to-write', '1');
      const secret = Buffer.from('the result of a job, not for the logs');
      const error = await client
        .eval("return redis.call('SET', KEYS[1], ARGV[1])", 1, 'key', secret)
        .then(
          () => undefined,
          (e: unknown) => e,
        );
      expect(String(error)).toMatch(/NOREPLICAS/);
      const { logger, lines } = capture();
      logger.warn({ err: error }, 'recording acks failed; retrying in 1 s');
      const line = JSON.parse(lines[0]!) as { err: Record<string, unknown> };
      expect(line.err.message).toMatch(/NOREPLICAS/);
      expect(line.err.command).toBe('eval');
      expect(lines[0]).not.toContain(secret.toJSON().data.join(','));
      expect(lines[0]).not.toContain('redis.call');
    } finally {
      await client.config('SET', 'min-replicas-to-write', '0');
      client.disconnect();
    }
  });
});
