/**
 * Lease writes that fail while Redis is down are retried every second, batch
 * by batch; the log says so once a second however many batches wait, and
 * counts the lines it left out.
 */
import { describe, expect, it } from 'vitest';
import { expectThrottled, oneSlotWorkers, useOutageBroker } from '../helpers/throttled-outage.js';

const { h, logged } = useOutageBroker();

const WORKERS = 5;
const OUTAGE_MS = 3500;

describe('lease writes during a Redis outage', () => {
  it('logs their failures at most once a second, with the count left out, and leases once Redis is back', async () => {
    const workers = await oneSlotWorkers(h, 'lease-outage', WORKERS);
    await h.enqueueBatch(
      Array.from({ length: 4 * WORKERS }, () => ({ tenant: 'acme', queue: 'lease-outage' })),
    );
    const first = await Promise.all(workers.map(async (worker) => (await worker.take(1))[0]!));
    // The broker reads ahead of its workers: the next jobs wait in its buffer.
    await expect
      .poll(async () => Number((await h.stats({ queue: 'lease-outage' })).entries[0]?.leased))
      .toBeGreaterThan(WORKERS);

    await h.redis.kill();
    // Each ack frees its worker's slot at once; each grant's write then fails
    // and is retried every second, one batch per worker.
    workers.forEach((worker, i) => worker.complete(first[i]!));
    await new Promise((resolve) => setTimeout(resolve, OUTAGE_MS));
    const warnings = logged.filter((line) => String(line.msg).startsWith('leasing jobs failed'));
    await h.redis.restart();

    // Unthrottled: a line per batch per second, about WORKERS × 3.5.
    expectThrottled(warnings, OUTAGE_MS);
    for (const worker of workers) {
      const [next] = await worker.take(1, 15_000);
      worker.complete(next!);
    }
  }, 30_000);
});
