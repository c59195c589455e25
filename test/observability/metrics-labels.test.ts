import { describe, expect, it } from 'vitest';
import { useBroker } from '../helpers/harness.js';
import { eventually } from '../helpers/broker.js';
import { scrape } from '../helpers/metrics.js';

/** A loaded CI runner once took over 10 s here; a real miss fails all the same. */
const PATIENCE = { timeoutMs: 30_000 };

const h = useBroker({ metricsAddress: '127.0.0.1:0', metricsMaxTenants: 2, metricsMaxQueues: 2 });

/** The label values of `label` among a scrape's series of `name`, with their values. */
function byLabel(series: Map<string, number>, name: string, label: string): Map<string, number> {
  const found = new Map<string, number>();
  for (const [key, value] of series) {
    if (!key.startsWith(`${name}{`)) continue;
    const named = new RegExp(`${label}="([^"]*)"`).exec(key)?.[1];
    if (named !== undefined) found.set(named, (found.get(named) ?? 0) + value);
  }
  return found;
}

describe('metric labels', () => {
  it('puts queues past the label limit under "other", in the counters and the gauges', async () => {
    // A producer that put an id in its queue names made a series per queue.
    const queues = ['q1', 'q2', 'q3', 'q4'];
    for (const queue of queues) await h.enqueue({ tenant: 'acme', queue });
    const counted = byLabel(
      await scrape(h.broker.metricsUrl!),
      'rota_jobs_enqueued_total',
      'queue',
    );
    expect(Object.fromEntries(counted)).toEqual({ q1: 1, q2: 1, other: 2 });

    const worker = await h.worker({ queues, capacity: 4 });
    const leases = await worker.take(4, 30_000);
    for (const lease of leases) worker.complete(lease);
    const readAhead = await eventually(async () => {
      const gauges = byLabel(await scrape(h.broker.metricsUrl!), 'rota_prefetch_jobs', 'queue');
      return gauges.size > 0 ? gauges : undefined;
    }, PATIENCE);
    expect([...readAhead.keys()].sort()).toEqual(['other', 'q1', 'q2']);
    const completed = byLabel(
      await eventually(async () => {
        const series = await scrape(h.broker.metricsUrl!);
        const done = [...byLabel(series, 'rota_jobs_completed_total', 'queue').values()];
        return done.reduce((a, b) => a + b, 0) === 4 ? series : undefined;
      }, PATIENCE),
      'rota_jobs_completed_total',
      'queue',
    );
    expect(Object.fromEntries(completed)).toEqual({ q1: 1, q2: 1, other: 2 });
  }, 90_000);
});
