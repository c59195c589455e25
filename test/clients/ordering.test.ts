import { describe, expect, it } from 'vitest';
import { useRota } from './fixture.js';
import { eventually } from '../helpers/broker.js';

const rota = useRota();

describe('Producer.enqueueBatch', () => {
  it('stores a batch larger than maxBatch in the order given', async () => {
    const producer = rota.producer({ maxBatch: 100 });
    const jobs = Array.from({ length: 350 }, (_, i) => ({
      tenant: 'acme',
      queue: 'ordered',
      payload: { i },
    }));
    const results = await producer.enqueueBatch(jobs);
    expect(results.every((r) => 'jobId' in r)).toBe(true);
    const seen: number[] = [];
    const worker = rota.worker({
      queues: ['ordered'],
      concurrency: 1,
      handler: (job) => {
        seen.push((job.payload as { i: number }).i);
      },
    });
    await worker.start();
    await eventually(() => (seen.length === 350 ? true : undefined));
    expect(seen).toEqual(jobs.map((_, i) => i));
  });
});
