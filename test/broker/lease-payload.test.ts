/**
 * A broker of its own, with a lease TTL of 10 s: under a loaded CI runner the
 * forced collections below with 20 MiB of payloads about stalled the process
 * past the harness's 1.5 s TTL, the leases expired, and the jobs never
 * reached COMPLETED. The test is about memory, not liveness.
 */
import v8 from 'node:v8';
import vm from 'node:vm';
import { expect, it } from 'vitest';
import { useBroker } from '../helpers/harness.js';

const h = useBroker({ leaseTtlMs: 10_000, heartbeatIntervalMs: 1000 });
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

it('lets go of a payload once its lease is sent', async () => {
  v8.setFlagsFromString('--expose-gc');
  const gc = vm.runInNewContext('gc') as () => void;
  const collect = async (): Promise<number> => {
    for (let i = 0; i < 3; i++) {
      gc();
      await sleep(20);
    }
    return process.memoryUsage().arrayBuffers;
  };
  const w = await h.worker({ queues: ['bulky'], capacity: 40 });
  const before = await collect();
  const payload = Buffer.alloc(512 * 1024, 7);
  for (let batch = 0; batch < 2; batch++) {
    const jobs = Array.from({ length: 20 }, () => ({ tenant: 'acme', queue: 'bulky', payload }));
    await h.enqueueBatch(jobs);
  }
  const leases = (await w.take(40)).map(({ job_id, lease_token }) => ({ job_id, lease_token }));
  // The worker's copies go; what is still held is the broker's.
  w.messages.length = 0;
  w.leases.length = 0;
  const held = (await collect()) - before;
  // 40 leases keeping their payloads held 20 MiB.
  expect(held).toBeLessThan(8 * 1024 * 1024);
  for (const lease of leases) w.complete(lease);
  // Let go of the payloads, not of the leases: every ack is recorded.
  for (const { job_id } of leases) await h.waitState('acme', job_id, 'COMPLETED');
});
