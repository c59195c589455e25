import { describe, expect, it } from 'vitest';

import { useRota, waitFor } from './fixture.js';

// A lease of it fits grpc-js's default 4 MiB receive limit; its job record,
// with the result as well, does not.
const BYTES = 3 * 1024 * 1024;
const rota = useRota({ maxPayloadBytes: 4 * 1024 * 1024 });

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
    const job = await waitFor(async () => {
      const info = await producer.getJob('acme', jobId);
      return info.state === 'COMPLETED' ? info : undefined;
    });
    expect(received.map((bytes) => bytes.equals(payload))).toEqual([true]);
    expect((job.payload as Buffer).equals(payload)).toBe(true);
    expect(job.result).toBe(result);
  });
});
