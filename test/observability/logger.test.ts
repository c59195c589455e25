import { Writable } from 'node:stream';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/telemetry/logger.js';
import { startTestRedis, uniquePrefix, type TestRedis } from '../helpers/redis.js';
import { call, eventually, rawClients } from '../helpers/broker.js';
import { RawWorker } from '../helpers/raw-worker.js';
import { loadConfig } from '../../src/config.js';
import { startBroker } from '../../src/server.js';

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

describe('log lines of a broker under load', () => {
  it('are not one info line per timed-out job', async () => {
    const { logger, lines } = capture();
    const broker = await startBroker(
      loadConfig({}, [], {
        redisUrl: redis.url,
        grpcAddress: '127.0.0.1:0',
        keyPrefix: uniquePrefix(),
        leaseTtlMs: 1500,
        heartbeatIntervalMs: 300,
        metricsAddress: undefined,
      }),
      logger,
    );
    const worker = await RawWorker.connect(broker.address, { queues: ['slow'], capacity: 50 });
    try {
      const clients = rawClients(broker.address);
      try {
        await call(clients.broker.EnqueueBatch.bind(clients.broker), {
          jobs: Array.from({ length: 50 }, () => ({
            tenant: 'acme',
            queue: 'slow',
            timeout_ms: 100,
            max_attempts: 1,
          })),
        });
      } finally {
        clients.close();
      }
      await worker.take(50);
      // The worker never answers: every lease times out.
      await eventually(() => (worker.cancels().length === 50 ? true : undefined));
      const revoked = lines
        .map((line) => JSON.parse(line) as { level: number; msg: string })
        .filter((line) => line.msg === 'leases revoked' && line.level >= 30);
      expect(revoked.length).toBeLessThan(50);
    } finally {
      worker.drop();
      await broker.shutdown();
    }
  });
});
