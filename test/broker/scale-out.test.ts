import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BrokerDeps } from '../../src/broker/broker.js';
import { useBroker } from '../helpers/harness.js';
import { eventually, type TestBroker } from '../helpers/broker.js';
import { RawWorker } from '../helpers/raw-worker.js';

// Two brokers on one Redis and one key prefix: A (the harness's) and B.
const h = useBroker();
let b: TestBroker;
const workers: RawWorker[] = [];

beforeAll(async () => {
  b = await h.startPeer();
});

afterAll(async () => {
  for (const worker of workers) worker.drop();
  await b.shutdown();
});

async function workerOnB(queues: string[], capacity = 10): Promise<RawWorker> {
  const worker = await RawWorker.connect(b.address, { queues, capacity });
  workers.push(worker);
  return worker;
}

/** A broker's Redis connections (commands and pub/sub). */
function connections(broker: TestBroker): { redis: Redis; subscriber: Redis } {
  const { redis, subscriber } = (broker.broker as unknown as { deps: BrokerDeps }).deps;
  return { redis, subscriber };
}

/**
 * Cuts the broker's pub/sub connection, as a network blip would, and keeps it
 * down for `downMs` (its reconnect waits that long): doorbells rung meanwhile are lost.
 */
async function cutSubscriber(broker: TestBroker, downMs: number): Promise<void> {
  const { subscriber } = connections(broker);
  const retryStrategy = subscriber.options.retryStrategy;
  subscriber.options.retryStrategy = () => {
    subscriber.options.retryStrategy = retryStrategy;
    return downMs;
  };
  const admin = new Redis(h.redis.url);
  try {
    const address = `127.0.0.1:${subscriber.stream.localPort}`;
    await admin.call('CLIENT', 'KILL', 'ADDR', address);
  } finally {
    admin.disconnect();
  }
  await eventually(() => (subscriber.status === 'ready' ? undefined : true));
}

describe('several brokers on one Redis: a lost doorbell', () => {
  it('is repaired by the sweep for a tenant the broker follows only for a far delayed job', async () => {
    const worker = await workerOnB(['lost-bell'], 1);
    // B follows the tenant for this job: it runs in a minute.
    await h.enqueue({ tenant: 'acme', queue: 'lost-bell', delay_ms: 60_000 });
    await new Promise((resolve) => setTimeout(resolve, 300)); // its doorbell reaches B
    await cutSubscriber(b, 1000);
    const { job_id } = await h.enqueue({ tenant: 'acme', queue: 'lost-bell' });
    // Not in a minute: the sweep (every half lease TTL) finds the job nobody read.
    const [lease] = await worker.take(1, 5000);
    expect(lease!.job_id).toBe(job_id);
    worker.complete(lease!);
    await h.waitState('acme', job_id, 'COMPLETED');
  });
});
