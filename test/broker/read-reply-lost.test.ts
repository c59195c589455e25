import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EnqueueBatchRequest } from '../../src/generated/rota/v1/EnqueueBatchRequest.js';
import type { EnqueueBatchResponse__Output } from '../../src/generated/rota/v1/EnqueueBatchResponse.js';
import { Keys } from '../../src/store/keys.js';
import { call, rawClients, type TestBroker } from '../helpers/broker.js';
import { useBroker } from '../helpers/harness.js';
import { RawWorker } from '../helpers/raw-worker.js';
import { TcpProxy } from '../faults/proxy.js';
import { startStallingProxy, type StallingProxy } from '../helpers/stalling-proxy.js';

// A broker whose Redis connection loses the reply to a call that reads jobs (a
// fetch, or an enqueue that claims its new jobs): the script ran (read the job
// into the broker's pending list and, for a waiting worker, leased it), the
// broker never heard. Cut, ioredis sends the call again on its next
// connection; stalled, the call fails after ROTA_REDIS_TIMEOUT_MS. XREADGROUP
// reads new entries each time, so either way the job sat unknown to the broker
// until its lease expired: with max_attempts 1, dead without having run.
const h = useBroker();
let proxy: StallingProxy;

beforeAll(async () => {
  proxy = await startStallingProxy(`127.0.0.1:${h.redis.port}`);
});
afterAll(() => proxy.close());

/** A broker on the proxy; without the fix, a stranded job waits this lease TTL, far past the takes below. */
const brokerOnProxy = (): Promise<TestBroker> =>
  h.startPeer({ redisUrl: `redis://${proxy.address}`, redisTimeoutMs: 500, leaseTtlMs: 20_000 });

describe('a fetch whose reply from Redis is lost', () => {
  it.each(['cut', 'stall'] as const)(
    'hands out the job it read as its first attempt, well before a lease TTL (%s)',
    async (then) => {
      const queue = `lost-fetch-${then}`;
      const broker = await brokerOnProxy();
      const worker = await RawWorker.connect(broker.address, { queues: [queue], capacity: 1 });
      try {
        // The fetch the doorbell sets off is the first call naming this key.
        const levels = new Keys(broker.config.keyPrefix).levels('acme', queue);
        const lost = proxy.loseReply(Buffer.from(levels), then);
        // Through the harness broker, which serves no worker of the queue: the
        // peer's worker waits, so the peer's fetch leases the job at once.
        const { job_id } = await h.enqueue({ tenant: 'acme', queue, max_attempts: 1 });
        await lost;
        const [lease] = await worker.take(1, 8000);
        expect(lease!.job_id).toBe(job_id);
        expect(lease!.attempt).toBe(1);
        worker.complete(lease!);
        await h.waitState('acme', job_id, 'COMPLETED');
        expect(worker.ackOutcomes()).toEqual([]);
      } finally {
        worker.drop();
        await broker.shutdown();
      }
    },
  );
});

describe('giving back what a call whose reply was lost had read', () => {
  it('is tried again until Redis answers, then the job runs as its first attempt', async () => {
    const queue = 'lost-fetch-give-back';
    // peer → gate → stalling proxy → Redis: the gate refuses the peer's
    // reconnects for a while after the fetch's reply is lost.
    const gate = await TcpProxy.start(Number(proxy.address.split(':')[1]));
    const logged: Array<Record<string, unknown>> = [];
    const broker = await h.startPeer({
      redisUrl: `redis://${gate.address}`,
      redisTimeoutMs: 500,
      leaseTtlMs: 20_000,
      logLevel: 'warn',
      onLog: (line) => logged.push(line),
    });
    const worker = await RawWorker.connect(broker.address, { queues: [queue], capacity: 1 });
    try {
      const levels = new Keys(broker.config.keyPrefix).levels('acme', queue);
      const lost = proxy.loseReply(Buffer.from(levels), 'stall');
      const { job_id } = await h.enqueue({ tenant: 'acme', queue, max_attempts: 1 });
      await lost;
      gate.cut();
      await expect
        .poll(() => logged.some((line) => String(line.msg).startsWith('giving back')), {
          timeout: 10_000,
        })
        .toBe(true);
      gate.restore();
      const [lease] = await worker.take(1, 10_000);
      expect(lease!.job_id).toBe(job_id);
      expect(lease!.attempt).toBe(1);
      worker.complete(lease!);
      await h.waitState('acme', job_id, 'COMPLETED');
    } finally {
      worker.drop();
      await broker.shutdown();
      await gate.close();
    }
  });
});

describe('an enqueue whose reply from Redis is lost', () => {
  it('answers as the first run did when ioredis sends it again (cut)', async () => {
    const queue = 'lost-enqueue-cut';
    const broker = await brokerOnProxy();
    const clients = rawClients(broker.address);
    const worker = await RawWorker.connect(broker.address, { queues: [queue], capacity: 1 });
    try {
      const marker = `the reply to this enqueue is lost (${queue})`;
      const lost = proxy.loseReply(Buffer.from(marker), 'cut');
      // The worker waits: the enqueue claims its job and leases it at once.
      const reply = await call(clients.broker.Enqueue.bind(clients.broker), {
        tenant: 'acme',
        queue,
        payload: Buffer.from(marker),
        idempotency_key: 'once',
        max_attempts: 1,
      });
      await lost;
      // The second run found the key its first run had set: a duplicate of itself.
      expect(reply.duplicate).toBe(false);
      const [lease] = await worker.take(1, 8000);
      expect(lease!.job_id).toBe(reply.job_id);
      expect(lease!.attempt).toBe(1);
      worker.complete(lease!);
      await h.waitState('acme', reply.job_id, 'COMPLETED');
      expect(worker.ackOutcomes()).toEqual([]);
    } finally {
      worker.drop();
      clients.close();
      await broker.shutdown();
    }
  });

  it('answers each job of a batch as the first run did, duplicates among them (cut)', async () => {
    const queue = 'lost-batch-cut';
    const broker = await brokerOnProxy();
    const clients = rawClients(broker.address);
    try {
      const enqueueBatch = (request: EnqueueBatchRequest): Promise<EnqueueBatchResponse__Output> =>
        call(clients.broker.EnqueueBatch.bind(clients.broker), request);
      const [earlier] = (
        await enqueueBatch({ jobs: [{ tenant: 'acme', queue, idempotency_key: 'first' }] })
      ).results;
      const marker = `the reply to this batch is lost (${queue})`;
      const lost = proxy.loseReply(Buffer.from(marker), 'cut');
      const { results } = await enqueueBatch({
        jobs: [
          { tenant: 'acme', queue, idempotency_key: 'first' },
          { tenant: 'acme', queue, idempotency_key: 'second', payload: Buffer.from(marker) },
          { tenant: 'acme', queue },
        ],
      });
      await lost;
      expect(results.map((r) => [r.code, r.duplicate])).toEqual([
        [0, true],
        [0, false],
        [0, false],
      ]);
      expect(results[0]!.job_id).toBe(earlier!.job_id);
      expect(new Set(results.map((r) => r.job_id)).size).toBe(3);
    } finally {
      clients.close();
      await broker.shutdown();
    }
  });

  it('gives back the job its claim leased when the call timed out (stall)', async () => {
    const queue = 'lost-enqueue-stall';
    const broker = await brokerOnProxy();
    const clients = rawClients(broker.address);
    const worker = await RawWorker.connect(broker.address, { queues: [queue], capacity: 1 });
    try {
      const marker = `the reply to this enqueue is lost (${queue})`;
      const lost = proxy.loseReply(Buffer.from(marker), 'stall');
      const enqueued = call(clients.broker.Enqueue.bind(clients.broker), {
        tenant: 'acme',
        queue,
        payload: Buffer.from(marker),
        max_attempts: 1,
      });
      await expect(enqueued).rejects.toMatchObject({ details: /Redis is unreachable/ });
      await lost;
      // Stored all the same (the producer was told it may not be): it runs, once.
      const [lease] = await worker.take(1, 8000);
      expect(lease!.payload.toString()).toBe(marker);
      expect(lease!.attempt).toBe(1);
      worker.complete(lease!);
      await h.waitState('acme', lease!.job_id, 'COMPLETED');
      expect(worker.ackOutcomes()).toEqual([]);
    } finally {
      worker.drop();
      clients.close();
      await broker.shutdown();
    }
  });
});
