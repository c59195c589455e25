import { describe, expect, it } from 'vitest';
import { useBroker, usePeer } from '../helpers/harness.js';
import { eventually } from '../helpers/broker.js';
import { scrape, value } from '../helpers/metrics.js';

// Two brokers on one Redis, each with a Prometheus endpoint of its own: A (the harness's) and B.
const h = useBroker({ metricsAddress: '127.0.0.1:0' });
const peer = usePeer(h);

describe('metrics of leases that end without an attempt outcome', () => {
  it('observes no run time for a leased job that is cancelled', async () => {
    const worker = await h.worker({ queues: ['cancel-run'], capacity: 1 });
    const cancelled = await h.enqueue({ tenant: 'acme', queue: 'cancel-run' });
    await worker.take(1);
    await h.cancel('acme', cancelled.job_id);
    await eventually(() => (worker.cancels().includes(cancelled.job_id) ? true : undefined));
    const completed = await h.enqueue({ tenant: 'acme', queue: 'cancel-run' });
    const [lease] = await worker.take(1);
    expect(lease!.job_id).toBe(completed.job_id);
    worker.complete(lease!);
    await h.waitState('acme', completed.job_id, 'COMPLETED');
    const labels = 'tenant="acme",queue="cancel-run"';
    const series = await eventually(async () => {
      const scraped = await scrape(h.broker.metricsUrl!);
      return value(scraped, 'rota_jobs_completed_total', labels) === 1 ? scraped : undefined;
    });
    expect(value(series, 'rota_jobs_cancelled_total', `${labels},reason="cancel"`)).toBe(1);
    // Leased → acknowledged: the completed attempt only.
    expect(value(series, 'rota_job_run_time_count', labels)).toBe(1);
  });

  it('counts no expiry on the broker whose lease another broker adopted', async () => {
    const onA = await h.worker({ queues: ['adopted'], capacity: 1 });
    const { job_id } = await h.enqueue({ tenant: 'acme', queue: 'adopted' });
    const [lease] = await onA.take(1);
    onA.drop(); // A keeps the lease as an orphan and expires it a lease TTL later
    const onB = await peer.reattach('adopted', 'acme', lease!);
    expect((await onB.welcome()).reattached_job_ids).toEqual([job_id]);
    // A's orphan is past its lease TTL (1.5 s) and swept by now: Redis answers it is not A's.
    await new Promise((resolve) => setTimeout(resolve, 2500));
    onB.complete(lease!);
    await h.waitState('acme', job_id, 'COMPLETED');
    const labels = 'tenant="acme",queue="adopted"';
    const onBSeries = await eventually(async () => {
      const scraped = await scrape(peer.broker.metricsUrl!);
      return value(scraped, 'rota_jobs_completed_total', labels) === 1 ? scraped : undefined;
    });
    const onASeries = await scrape(h.broker.metricsUrl!);
    // Summed over the brokers: one attempt, completed; nothing expired or failed.
    for (const series of [onASeries, onBSeries]) {
      expect(value(series, 'rota_jobs_expired_total', `${labels},reason="expired"`)).toBe(0);
      expect(value(series, 'rota_jobs_failed_total', labels)).toBe(0);
    }
    expect(value(onASeries, 'rota_jobs_dispatched_total', labels)).toBe(1);
    expect(
      value(onASeries, 'rota_job_run_time_count', labels) +
        value(onBSeries, 'rota_job_run_time_count', labels),
    ).toBe(1);
  });
});

describe('run time of a lease another broker adopted', () => {
  it('runs from the lease, not from the adoption', async () => {
    const onA = await h.worker({ queues: ['adopted-run'], capacity: 1 });
    const { job_id } = await h.enqueue({ tenant: 'acme', queue: 'adopted-run' });
    const [lease] = await onA.take(1);
    await new Promise((resolve) => setTimeout(resolve, 1000)); // the job runs a second on A's watch
    onA.drop();
    const onB = await peer.reattach('adopted-run', 'acme', lease!);
    expect((await onB.welcome()).reattached_job_ids).toEqual([job_id]);
    onB.complete(lease!);
    await h.waitState('acme', job_id, 'COMPLETED');
    const labels = 'tenant="acme",queue="adopted-run"';
    const series = await eventually(async () => {
      const scraped = await scrape(peer.broker.metricsUrl!);
      return value(scraped, 'rota_job_run_time_count', labels) === 1 ? scraped : undefined;
    });
    // At least the second on A (less a timer's rounding), not the moments since B adopted it.
    expect(value(series, 'rota_job_run_time_sum', labels)).toBeGreaterThanOrEqual(900);
  });
});
