import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Keys } from '../../src/store/keys.js';
import { useBroker } from '../helpers/harness.js';
import { RawWorker } from '../helpers/raw-worker.js';
import { startStallingProxy, type StallingProxy } from '../helpers/stalling-proxy.js';

// A broker whose Redis connection loses the reply to a fetch: the script ran
// (read the job into the broker's pending list and, for a waiting worker,
// leased it), the broker never heard. Cut, ioredis sends the fetch again on its
// next connection; stalled, the call fails after ROTA_REDIS_TIMEOUT_MS. XREADGROUP
// reads new entries each time, so either way the job sat unknown to the broker
// until its lease expired: with max_attempts 1, dead without having run.
const h = useBroker();
let proxy: StallingProxy;

beforeAll(async () => {
  proxy = await startStallingProxy(`127.0.0.1:${h.redis.port}`);
});
afterAll(() => proxy.close());

describe('a fetch whose reply from Redis is lost', () => {
  it.each(['cut', 'stall'] as const)(
    'hands out the job it read as its first attempt, well before a lease TTL (%s)',
    async (then) => {
      const queue = `lost-fetch-${then}`;
      const broker = await h.startPeer({
        redisUrl: `redis://${proxy.address}`,
        redisTimeoutMs: 500,
        // Without the fix, the job waits this long: far past the take below.
        leaseTtlMs: 20_000,
      });
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
