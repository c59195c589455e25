import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useBroker } from '../helpers/harness.js';
import { startTestBroker, type TestBroker } from '../helpers/broker.js';
import { RawWorker, autoComplete } from '../helpers/raw-worker.js';
import { Keys } from '../../src/store/keys.js';

// Two brokers on one Redis and one key prefix: A (the harness's) and B.
const h = useBroker();
let b: TestBroker;
let redis: Redis;
const workers: RawWorker[] = [];
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

beforeAll(async () => {
  b = await startTestBroker({
    ...h.broker.config,
    redisUrl: h.redis.url,
    grpcAddress: '127.0.0.1:0',
  });
  redis = new Redis(h.redis.url);
});

afterAll(async () => {
  for (const worker of workers) worker.drop();
  redis.disconnect();
  await b.shutdown();
});

async function flood(tenant: string, queue: string, count: number): Promise<void> {
  await h.enqueueBatch(Array.from({ length: count }, () => ({ tenant, queue })));
}

describe('rate limits with several brokers', () => {
  it('holds a tenant to its rate across brokers, not to the rate per broker', async () => {
    // Its jobs wait on two queues, each served by a worker of one broker, so
    // both brokers dispatch the tenant at once; its rate covers all queues.
    await h.setTenant({ tenant: 'limited', rate: 20, burst: 5 });
    await flood('limited', 'rated-a', 200);
    await flood('limited', 'rated-b', 200);
    const started = Date.now(); // before either broker can take a token
    const onA = await h.worker({ queues: ['rated-a'], capacity: 20 });
    const onB = await RawWorker.connect(b.address, { queues: ['rated-b'], capacity: 20 });
    workers.push(onB);
    const runs = [autoComplete(onA), autoComplete(onB)];
    await sleep(3000);
    for (const run of runs) run.stop();
    const seconds = (Date.now() - started) / 1000;
    const [onAServed, onBServed] = runs.map((run) => run.order.length);
    // Each broker alone would allow 5 + 20/s; together they must not exceed that once.
    expect(onAServed! + onBServed!).toBeLessThanOrEqual(5 + 20 * seconds);
    expect(onAServed).toBeGreaterThanOrEqual(5); // and both serve it
    expect(onBServed).toBeGreaterThanOrEqual(5);
  });

  it("lets every broker's workers serve a rate-limited tenant of one queue", async () => {
    // A broker buffers about a second of the tenant's rate, not 512 jobs, so
    // its backlog is not held by whichever broker fetched first.
    await h.setTenant({ tenant: 'spread', rate: 20, burst: 5 });
    await flood('spread', 'spread', 300);
    const onA = await h.worker({ queues: ['spread'], capacity: 20 });
    const onB = await RawWorker.connect(b.address, { queues: ['spread'], capacity: 20 });
    workers.push(onB);
    const runs = [autoComplete(onA), autoComplete(onB)];
    await sleep(3000);
    for (const run of runs) run.stop();
    expect(runs[0]!.order.length).toBeGreaterThanOrEqual(5);
    expect(runs[1]!.order.length).toBeGreaterThanOrEqual(5);
  });

  it('keeps a tenant waiting, not unlimited, while its tokens cannot be taken', async () => {
    await h.setTenant({ tenant: 'blocked', rate: 1000 });
    const bucket = new Keys(h.broker.config.keyPrefix).tokens('blocked');
    await redis.set(bucket, 'not a bucket'); // take_tokens fails with WRONGTYPE
    const worker = await h.worker({ queues: ['broken-bucket'], capacity: 10 });
    await flood('blocked', 'broken-bucket', 5);
    await sleep(1500);
    expect(worker.leases).toHaveLength(0);
    await redis.del(bucket);
    const leases = await worker.take(5, 5000);
    expect(leases.map((l) => l.tenant)).toEqual(Array(5).fill('blocked'));
  });
});
