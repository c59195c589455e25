import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EnqueueRequest } from '../../src/generated/rota/v1/EnqueueRequest.js';
import type { Lease__Output } from '../../src/generated/rota/v1/Lease.js';
import type { QueueTenantStats__Output } from '../../src/generated/rota/v1/QueueTenantStats.js';
import { useBroker } from '../helpers/harness.js';
import { call, eventually, rawClients, type TestBrokerOptions } from '../helpers/broker.js';
import { RawWorker } from '../helpers/raw-worker.js';
import { startStallingProxy, type StallingProxy } from '../helpers/stalling-proxy.js';

// A broker whose Redis connection loses the reply to an ack's script: the
// script ran, the broker never heard. Either the connection drops ('cut'), and
// ioredis sends the script again on the next one, or it goes silent ('stall'):
// the call fails after ROTA_REDIS_TIMEOUT_MS and the broker writes the ack again.
const h = useBroker();
let proxy: StallingProxy;

beforeAll(async () => {
  proxy = await startStallingProxy(`127.0.0.1:${h.redis.port}`);
});
afterAll(() => proxy.close());

interface LostReply {
  readonly jobId: string;
  /** What the worker was told of its ack. */
  readonly refusals: ReturnType<RawWorker['ackOutcomes']>;
  /** The broker's figures for the queue once the ack is settled there. */
  readonly stats: QueueTenantStats__Output;
}

/**
 * A broker on the proxy and a worker on it holding one job of `queue`; the ack
 * `send` makes (with `marker` in it) loses its reply the way `then` says.
 */
async function ackWithLostReply(
  queue: string,
  then: 'cut' | 'stall',
  send: (worker: RawWorker, lease: Lease__Output, marker: string) => void,
  options: { broker?: Partial<TestBrokerOptions>; job?: Partial<EnqueueRequest> } = {},
): Promise<LostReply> {
  const broker = await h.startPeer({
    redisUrl: `redis://${proxy.address}`,
    redisTimeoutMs: 500,
    ...options.broker,
  });
  const clients = rawClients(broker.address);
  const worker = await RawWorker.connect(broker.address, { queues: [queue], capacity: 1 });
  try {
    const { job_id } = await h.enqueue({ tenant: 'acme', queue, ...options.job });
    const [lease] = await worker.take(1);
    const marker = `the reply to this is lost (${queue})`;
    const lost = proxy.loseReply(Buffer.from(marker), then);
    send(worker, lease!, marker);
    await lost;
    const getStats = clients.admin.GetStats.bind(clients.admin);
    const stats = await eventually(
      async () => {
        const [row] = (await call(getStats, { queue, tenant: 'acme' })).entries;
        return worker.ackOutcomes().length > 0 || row!.run_ms!.count !== '0' ? row : undefined;
      },
      { timeoutMs: 15_000 },
    );
    return { jobId: job_id, refusals: worker.ackOutcomes(), stats };
  } finally {
    worker.drop();
    clients.close();
    await broker.shutdown();
  }
}

describe('an ack whose reply from Redis is lost', () => {
  it.each(['cut', 'stall'] as const)(
    'records a Complete once, as completed, without refusing it (%s)',
    async (then) => {
      const { jobId, refusals, stats } = await ackWithLostReply(
        `lost-complete-${then}`,
        then,
        (worker, lease, marker) => worker.complete(lease, Buffer.from(marker)),
      );
      expect(refusals).toEqual([]);
      expect(stats.run_ms!.count).toBe('1');
      expect(stats.completed_per_second).toBeGreaterThan(0);
      const job = await h.getJob('acme', jobId);
      expect(job.state).toBe('COMPLETED');
      expect(job.result.toString()).toMatch(/^the reply to this is lost/);
    },
  );

  it.each(['cut', 'stall'] as const)(
    'records a Fail once, with its outcome, without refusing it (%s)',
    async (then) => {
      const { jobId, refusals, stats } = await ackWithLostReply(
        `lost-fail-${then}`,
        then,
        (worker, lease, marker) => worker.fail(lease, marker, true, 60_000),
        { job: { max_attempts: 2 } },
      );
      expect(refusals).toEqual([]);
      expect(stats.run_ms!.count).toBe('1');
      expect(stats.failed_per_second).toBeGreaterThan(0);
      expect(stats.completed_per_second).toBe(0);
      const job = await h.getJob('acme', jobId);
      expect(job.state).toBe('FAILED_RETRYING');
      expect(job.last_error).toMatch(/^the reply to this is lost/);
    },
  );

  // The job is deleted as it completes: nothing in Redis tells the second run
  // of the script that the first one completed it.
  it.each(['cut', 'stall'] as const)(
    'records a Complete once with completed retention 0 too (%s)',
    async (then) => {
      const { jobId, refusals, stats } = await ackWithLostReply(
        `lost-complete-0-${then}`,
        then,
        (worker, lease, marker) => worker.complete(lease, Buffer.from(marker)),
        { broker: { completedRetentionMs: 0 } },
      );
      expect(refusals).toEqual([]);
      expect(stats.run_ms!.count).toBe('1');
      expect(stats.completed_per_second).toBeGreaterThan(0);
      await expect(h.getJob('acme', jobId)).rejects.toMatchObject({ details: /does not exist/ });
    },
  );
});

describe('a lease whose reply from Redis is lost', () => {
  it.each(['cut', 'stall'] as const)(
    'hands out the job it leased, as the same attempt (%s)',
    async (then) => {
      const queue = `lost-lease-${then}`;
      const broker = await h.startPeer({
        redisUrl: `redis://${proxy.address}`,
        redisTimeoutMs: 500,
      });
      const worker = await RawWorker.connect(broker.address, { queues: [queue], capacity: 1 });
      try {
        await h.enqueue({ tenant: 'acme', queue });
        const [first] = await worker.take(1);
        // The worker is busy: the next job is read ahead, and leased by the
        // lease script (its id in the call) when the first one is acked.
        const { job_id } = await h.enqueue({ tenant: 'acme', queue });
        await eventually(() =>
          broker.broker.dispatcher(queue).prefetchUse().jobs === 1 ? true : undefined,
        );
        // Cut, ioredis sends the script again on its next connection; stalled,
        // the call times out and the broker writes the same leases again.
        const lost = proxy.loseReply(Buffer.from(job_id), then);
        worker.complete(first!);
        await lost;
        const [second] = await worker.take(1, 5000);
        expect(second!.job_id).toBe(job_id);
        // Not refused as skipped, left to expire and run again as attempt 2.
        expect(second!.attempt).toBe(1);
        expect(worker.ackOutcomes()).toEqual([]);
        worker.complete(second!);
        await h.waitState('acme', job_id, 'COMPLETED');
      } finally {
        worker.drop();
        await broker.shutdown();
      }
    },
  );
});
