import { describe, expect, it } from 'vitest';

import { AckRefusedError, NonRetryableError, RetryAfterError } from '../../clients/errors.js';
import type { JobInfo, JobState } from '../../clients/job.js';
import type { Producer } from '../../clients/producer.js';
import { MAX_DELAY_MS } from '../../src/broker/validation.js';
import { useRota, waitFor } from './fixture.js';

// The broker refuses a Complete whose result is over this with ACK_INVALID and
// keeps the lease the worker's: the Worker must not send one.
const MAX_PAYLOAD_BYTES = 1024;
const rota = useRota({ maxPayloadBytes: MAX_PAYLOAD_BYTES });

function waitState(producer: Producer, jobId: string, state: JobState): Promise<JobInfo> {
  return waitFor(async () => {
    const job = await producer.getJob('acme', jobId);
    return job.state === state ? job : undefined;
  });
}

describe('Worker acks the broker would refuse', () => {
  it('fails a job whose result is over the broker’s limit, and its slot serves the next job', async () => {
    const producer = rota.producer();
    const completed: string[] = [];
    const failed: unknown[] = [];
    const errors: Error[] = [];
    const worker = rota.worker({
      queues: ['big-result'],
      concurrency: 1,
      handler: (job) => ((job.payload as { big: boolean }).big ? 'x'.repeat(5000) : 'small'),
    });
    worker.on('completed', (job) => completed.push(job.id));
    worker.on('failed', (_job, error) => failed.push(error));
    worker.on('error', (error) => errors.push(error));
    await worker.start();
    const big = await producer.enqueue({
      tenant: 'acme',
      queue: 'big-result',
      payload: { big: true },
      maxAttempts: 3,
    });
    const small = await producer.enqueue({
      tenant: 'acme',
      queue: 'big-result',
      payload: { big: false },
    });

    const dead = await waitState(producer, big.jobId, 'DEAD');
    const message = `result is 5002 bytes; the broker's limit is ${MAX_PAYLOAD_BYTES} (ROTA_MAX_PAYLOAD_BYTES): store the result elsewhere`;
    expect(dead.attempts).toBe(1);
    expect(dead.lastError).toBe(message);
    expect((await waitState(producer, small.jobId, 'COMPLETED')).result).toBe('small');
    expect(completed).toEqual([small.jobId]);
    expect(failed).toHaveLength(1);
    expect(failed[0]).toBeInstanceOf(NonRetryableError);
    expect((failed[0] as Error).message).toBe(message);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toBeInstanceOf(AckRefusedError);
    expect(errors[0]!.message).toBe(
      `ack of job ${big.jobId} refused (ACK_INVALID): ${message}; failed the job instead`,
    );
  });

  it('waits at most 365 days for a RetryAfterError whose delay was raised past the broker’s maximum', async () => {
    const producer = rota.producer();
    const worker = rota.worker({
      queues: ['far-future'],
      handler: () => {
        // The constructor checks the delay; a subclass or a later write does not.
        throw Object.assign(new RetryAfterError(1000, 'come back next year'), {
          retryAfterMs: MAX_DELAY_MS + 86_400_000,
        });
      },
    });
    await worker.start();
    const { jobId } = await producer.enqueue({ tenant: 'acme', queue: 'far-future' });
    const before = Date.now();
    const job = await waitState(producer, jobId, 'FAILED_RETRYING');
    expect(job.lastError).toBe('come back next year');
    expect(job.runAt).toBeGreaterThanOrEqual(before + MAX_DELAY_MS);
    expect(job.runAt).toBeLessThanOrEqual(Date.now() + MAX_DELAY_MS);
  });
});
