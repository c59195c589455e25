import { describe, expect, it } from 'vitest';
import { DISPATCH_QUANTUM } from '../../src/broker/dispatcher.js';
import { useBroker } from '../helpers/harness.js';

const h = useBroker();

describe('round-robin across tenants', () => {
  it("dispatches a quiet tenant's job within one round while another tenant has 20,000 queued", async () => {
    for (let chunk = 0; chunk < 20; chunk++) {
      await h.enqueueBatch(
        Array.from({ length: 1000 }, () => ({ tenant: 'flood', queue: 'reports' })),
      );
    }
    const w = await h.worker({ queues: ['reports'], capacity: 1 });
    // Let the flood run for a while, one job at a time.
    for (let i = 0; i < 20; i++) {
      const [lease] = await w.take(1);
      expect(lease!.tenant).toBe('flood');
      w.complete(lease!);
    }
    const [held] = await w.take(1);
    const quiet = await h.enqueue({ tenant: 'quiet', queue: 'reports' });
    await new Promise((resolve) => setTimeout(resolve, 100)); // the doorbell and prefetch settle
    w.complete(held!);
    // One round: what is left of the flood's visit (at most a quantum), then the quiet tenant.
    const next: string[] = [];
    for (let i = 0; i < DISPATCH_QUANTUM + 1; i++) {
      const [lease] = await w.take(1);
      next.push(lease!.job_id);
      w.complete(lease!);
    }
    expect(next).toContain(quiet.job_id);
  });
});
