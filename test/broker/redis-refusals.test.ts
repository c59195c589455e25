/**
 * A Redis that is up and connected but refuses commands: busy with another
 * client's slow script (BUSY), or demoted to a replica by a failover
 * (READONLY). Neither drops a connection, so neither is an outage to ioredis.
 */
import { status, type ServiceError } from '@grpc/grpc-js';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import {
  call,
  eventually,
  rawClients,
  startTestBroker,
  type TestBroker,
} from '../helpers/broker.js';
import { RawWorker } from '../helpers/raw-worker.js';
import { startStallingProxy, type StallingProxy } from '../helpers/stalling-proxy.js';
import { startTestRedis, type TestRedis } from '../helpers/redis.js';

const refusal = (promise: Promise<unknown>): Promise<ServiceError | undefined> =>
  promise.then(
    () => undefined,
    (error: unknown) => error as ServiceError,
  );

/**
 * Runs a script that spins `ms` on Redis's one thread, as another client's
 * slow script would: past busy-reply-threshold, others get BUSY meanwhile.
 */
async function spin(redis: TestRedis, ms: number): Promise<void> {
  const spinner = new Redis(redis.url);
  try {
    await spinner.eval(
      `local t = redis.call('TIME'); local start = t[1] * 1000 + t[2] / 1000
       repeat local n = redis.call('TIME') until n[1] * 1000 + n[2] / 1000 - start > tonumber(ARGV[1])
       return 1`,
      0,
      String(ms),
    );
  } finally {
    spinner.disconnect();
  }
}

describe('a Redis busy with a slow script', () => {
  let redis: TestRedis;
  let broker: TestBroker;
  let clients: ReturnType<typeof rawClients>;
  beforeAll(async () => {
    redis = await startTestRedis();
    broker = await startTestBroker({ redisUrl: redis.url });
    clients = rawClients(broker.address);
  });
  afterAll(async () => {
    clients.close();
    await broker.shutdown();
    await redis.dispose();
  });

  it('answers UNAVAILABLE saying Redis refused the call, not INTERNAL with its raw text', async () => {
    const admin = new Redis(redis.url);
    try {
      await admin.config('SET', 'busy-reply-threshold', '100');
      const spinning = spin(redis, 1500);
      await new Promise((resolve) => setTimeout(resolve, 300));
      const refused = await Promise.all([
        refusal(
          call(clients.broker.Enqueue.bind(clients.broker), { tenant: 'acme', queue: 'busy' }),
        ),
        refusal(
          call(clients.broker.GetJob.bind(clients.broker), { tenant: 'acme', job_id: 'nope' }),
        ),
      ]);
      await spinning;
      for (const error of refused) {
        expect(error?.code).toBe(status.UNAVAILABLE);
        expect(error?.details).toMatch(
          /^Redis refused the call without running it \(BUSY .*\); retry later$/,
        );
      }
    } finally {
      admin.disconnect();
    }
  });
});

describe('a failover that demotes Redis to a replica, its address moved to the new primary', () => {
  let old: TestRedis;
  let promoted: TestRedis;
  let proxy: StallingProxy;
  let broker: TestBroker;
  let clients: ReturnType<typeof rawClients>;
  beforeAll(async () => {
    old = await startTestRedis();
    promoted = await startTestRedis();
    proxy = await startStallingProxy(`127.0.0.1:${old.port}`);
    broker = await startTestBroker({ redisUrl: `redis://${proxy.address}` });
    clients = rawClients(broker.address);
  });
  afterAll(async () => {
    clients.close();
    await broker.shutdown();
    proxy.close();
    await old.dispose();
    await promoted.dispose();
  });

  it('connects again, to the new primary, instead of failing every write READONLY for good', async () => {
    const enqueue = () =>
      call(clients.broker.Enqueue.bind(clients.broker), { tenant: 'acme', queue: 'moved' });
    await enqueue();
    proxy.switchTo(promoted.port);
    const admin = new Redis(old.url);
    try {
      await admin.replicaof('127.0.0.1', String(promoted.port));
    } finally {
      admin.disconnect();
    }
    const first = await refusal(enqueue());
    expect(first?.code).toBe(status.UNAVAILABLE);
    expect(first?.details).toMatch(/^Redis refused the call without running it \(READONLY /);
    // The broker's connections were still open to the old node: without a
    // reconnect every write was refused READONLY for as long as they lived.
    const { job_id } = await eventually(() => enqueue().catch(() => undefined), {
      timeoutMs: 10_000,
    });
    const primary = new Redis(promoted.url);
    try {
      expect(await primary.dbsize()).toBeGreaterThan(0);
    } finally {
      primary.disconnect();
    }
    expect(job_id).not.toBe('');
  });
});

describe('a Redis busy with a slow script for less than a lease TTL', () => {
  let redis: TestRedis;
  let broker: TestBroker;
  let clients: ReturnType<typeof rawClients>;
  beforeAll(async () => {
    redis = await startTestRedis();
    // renewals every 1 s, sweeps every 1.5 s
    broker = await startTestBroker({
      redisUrl: redis.url,
      leaseTtlMs: 3000,
      heartbeatIntervalMs: 500,
      redisTimeoutMs: 1000,
    });
    clients = rawClients(broker.address);
  });
  afterAll(async () => {
    clients.close();
    await broker.shutdown();
    await redis.dispose();
  });

  it('leaves its own live leases alone when Redis answers again: renewals failed, but the holder lives', async () => {
    const admin = new Redis(redis.url);
    await admin.config('SET', 'busy-reply-threshold', '50');
    const worker = await RawWorker.connect(broker.address, { queues: ['busy-lease'], capacity: 1 });
    try {
      for (let round = 0; round < 4; round++) {
        const { job_id } = await call(clients.broker.Enqueue.bind(clients.broker), {
          tenant: 'acme',
          queue: 'busy-lease',
          max_attempts: 3,
        });
        const [lease] = await worker.take(1);
        // each round at another phase of the renewal and sweep timers
        await new Promise((resolve) => setTimeout(resolve, 700 * round));
        await spin(redis, 2700); // renewals fail BUSY meanwhile; no connection drops
        await new Promise((resolve) => setTimeout(resolve, 3500)); // a renewal and two sweeps
        const job = await call(clients.broker.GetJob.bind(clients.broker), {
          tenant: 'acme',
          job_id,
        });
        expect({ round, state: job.state, attempts: job.attempts, error: job.last_error }).toEqual({
          round,
          state: 'LEASED',
          attempts: 1,
          error: '',
        });
        worker.complete(lease!);
        await expect
          .poll(async () => {
            const done = await call(clients.broker.GetJob.bind(clients.broker), {
              tenant: 'acme',
              job_id,
            });
            return done.state;
          })
          .toBe('COMPLETED');
      }
      expect(worker.ackOutcomes()).toEqual([]);
    } finally {
      worker.drop();
      admin.disconnect();
    }
  }, 60_000);
});
