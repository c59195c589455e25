import { describe, expect, it } from 'vitest';

import { completed, gate, useRota } from './fixture.js';

// A lease of it fits grpc-js's default 4 MiB receive limit; its job record,
// with the result as well, does not.
const BYTES = 3 * 1024 * 1024;
// A lease TTL of 10 s, not the fixture's 1.5 s: under a loaded CI runner the
// 24 MiB of acks below took the broker longer than the TTL and a heartbeat to
// answer, and the worker, hearing nothing for that long, reconnected and a
// lease ran again. These tests are about message limits, not liveness.
const rota = useRota({
  maxPayloadBytes: 4 * 1024 * 1024,
  leaseTtlMs: 10_000,
  heartbeatIntervalMs: 1000,
});

describe('jobs as large as a raised ROTA_MAX_PAYLOAD_BYTES', () => {
  it('reach the worker and come back whole from getJob', async () => {
    const payload = Buffer.alloc(BYTES, 1);
    const result = 'r'.repeat(BYTES); // results are JSON
    const received: Buffer[] = [];
    const worker = rota.worker({
      queues: ['big'],
      handler: (job) => {
        received.push(job.payload as Buffer);
        return result;
      },
    });
    await worker.start();
    const producer = rota.producer();
    const { jobId } = await producer.enqueue({ tenant: 'acme', queue: 'big', payload });
    const job = await completed(producer, 'acme', jobId);
    expect(received.map((bytes) => bytes.equals(payload))).toEqual([true]);
    expect((job.payload as Buffer).equals(payload)).toBe(true);
    expect(job.result).toBe(result);
  });

  it('many results finishing in one tick are each recorded once, past the broker’s message limit together', async () => {
    // 8 × 3 MiB = 24 MiB of acks at once: over the broker's gRPC receive limit
    // of max(16 MiB, 2 × 4 MiB + 64 KiB) if sent in one message.
    const JOBS = 8;
    const producer = rota.producer();
    const ids: string[] = [];
    for (let i = 0; i < JOBS; i++) {
      ids.push((await producer.enqueue({ tenant: 'acme', queue: 'big-acks', payload: i })).jobId);
    }
    const result = 'r'.repeat(BYTES);
    const allStarted = gate();
    let runs = 0;
    const worker = rota.worker({
      queues: ['big-acks'],
      concurrency: JOBS,
      handler: async () => {
        if (++runs === JOBS) allStarted.open();
        await allStarted.promise; // all return in the same tick
        return result;
      },
    });
    const errors: Error[] = [];
    worker.on('error', (error) => errors.push(error));
    await worker.start();
    const jobs = [];
    // One at a time: a finished job answers with its 3 MiB result.
    for (const id of ids) {
      jobs.push(await completed(producer, 'acme', id));
    }
    expect(jobs.map((job) => job.attempts)).toEqual(ids.map(() => 1));
    expect(jobs.every((job) => job.result === result)).toBe(true);
    expect(runs).toBe(JOBS);
    expect(errors).toEqual([]);
  });
});
