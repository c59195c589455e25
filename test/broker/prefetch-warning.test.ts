import { describe, expect, it } from 'vitest';
import { useBroker } from '../helpers/harness.js';
import { autoComplete } from '../helpers/raw-worker.js';
import { eventually } from '../helpers/broker.js';

/**
 * The "prefetch bound reached" warning tells an operator to give the buffers
 * more memory, so it must come only when the buffers hold that memory. Before
 * a queue's first fetch answers, its fetches expect jobs of the largest size
 * allowed: here 2 MiB of room, 1 MiB jobs, 4 jobs per first fetch, so only one
 * fetch flies at a time and the other tenants wait for the answers. That wait
 * ends by itself; it is not the bound being reached.
 */
const warnings: Array<Record<string, unknown>> = [];
const h = useBroker({
  onLog: (line) => warnings.push(line),
  prefetchBytes: 2 * 1024 * 1024,
  maxPayloadBytes: 1024 * 1024,
});

describe('prefetch bound warning', () => {
  it('is not logged while fetches only expect big jobs, and every job is served', async () => {
    const queue = 'fresh';
    const worker = await h.worker({ queues: [queue], capacity: 200 });
    const completer = autoComplete(worker);
    try {
      const tenants = 40;
      const { results } = await h.enqueueBatch(
        Array.from({ length: tenants * 3 }, (_, i) => ({
          tenant: `t${i % tenants}`,
          queue,
          payload: Buffer.from(`job ${i}`),
        })),
      );
      for (const r of results) expect(r.error).toBeFalsy();
      await eventually(() => (completer.order.length === results.length ? true : undefined), {
        timeoutMs: 20_000,
      });
      expect(new Set(completer.order).size).toBe(tenants);
    } finally {
      completer.stop();
    }
    const said = warnings.filter((w) => String(w.msg).startsWith('prefetch bound reached'));
    expect(said).toEqual([]);
  });
});
