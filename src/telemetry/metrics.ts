import type { Attributes, Counter, Histogram, Meter } from '@opentelemetry/api';
import type { QueueDepth } from '../store/types.js';

/**
 * Broker metrics through the OpenTelemetry API. Prometheus names (the exporter
 * turns dots into underscores and adds `_total` to counters):
 * rota_jobs_{enqueued,dispatched,completed,failed,dead,expired,throttled}_total,
 * rota_job_wait_time / rota_job_run_time (histograms in ms),
 * rota_queue_depth{state}, rota_queue_oldest_waiting_age (ms), rota_sessions,
 * rota_sessions_capacity. Labels: tenant and queue.
 *
 * Tenant labels are capped: the first `maxTenantLabels` tenants seen keep their
 * name, later ones are reported as "other", so a flood of tenants cannot blow up
 * the time-series count.
 */
export const OTHER_TENANTS = 'other';

const LATENCY_BUCKETS_MS = [
  1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10_000, 30_000, 60_000, 300_000,
];

export interface SessionGauge {
  readonly sessions: number;
  readonly capacity: number;
}

export class BrokerMetrics {
  readonly enqueuedCounter: Counter;
  readonly dispatchedCounter: Counter;
  readonly completedCounter: Counter;
  readonly failedCounter: Counter;
  readonly deadCounter: Counter;
  readonly expiredCounter: Counter;
  readonly throttledCounter: Counter;
  readonly waitTime: Histogram;
  readonly runTime: Histogram;
  private readonly tenantLabels = new Set<string>();

  constructor(
    private readonly meter: Meter,
    private readonly maxTenantLabels: number,
  ) {
    const counter = (name: string, description: string): Counter =>
      meter.createCounter(name, { description });
    this.enqueuedCounter = counter(
      'rota.jobs.enqueued',
      'Jobs stored by Enqueue (duplicates excluded)',
    );
    this.dispatchedCounter = counter('rota.jobs.dispatched', 'Leases handed to workers');
    this.completedCounter = counter('rota.jobs.completed', 'Attempts that completed');
    this.failedCounter = counter(
      'rota.jobs.failed',
      'Attempts that failed (reported, expired or timed out)',
    );
    this.deadCounter = counter('rota.jobs.dead', 'Jobs moved to the dead letter queue');
    this.expiredCounter = counter('rota.jobs.expired', 'Leases revoked by expiry or job timeout');
    this.throttledCounter = counter(
      'rota.jobs.throttled',
      'Times a tenant with work was held back by its limits',
    );
    const histogram = (name: string, description: string): Histogram =>
      meter.createHistogram(name, {
        description,
        unit: 'ms',
        advice: { explicitBucketBoundaries: LATENCY_BUCKETS_MS },
      });
    this.waitTime = histogram('rota.job.wait_time', 'Runnable to leased');
    this.runTime = histogram('rota.job.run_time', 'Leased to acknowledged');
  }

  labels(tenant: string, queue: string): Attributes {
    if (!this.tenantLabels.has(tenant) && this.tenantLabels.size < this.maxTenantLabels) {
      this.tenantLabels.add(tenant);
    }
    return { tenant: this.tenantLabels.has(tenant) ? tenant : OTHER_TENANTS, queue };
  }

  observeSessions(read: () => SessionGauge): void {
    this.meter
      .createObservableGauge('rota.sessions', { description: 'Worker sessions connected' })
      .addCallback((result) => {
        result.observe(read().sessions);
      });
    this.meter
      .createObservableGauge('rota.sessions.capacity', {
        description: 'Leases the connected sessions can hold',
      })
      .addCallback((result) => result.observe(read().capacity));
  }

  /** Depth gauges from the latest depths read from Redis (tenants past the cap summed as "other"). */
  observeDepths(read: () => readonly QueueDepth[], now: () => number): void {
    const depth = this.meter.createObservableGauge('rota.queue.depth', {
      description: 'Jobs by state',
    });
    const age = this.meter.createObservableGauge('rota.queue.oldest_waiting_age', {
      description: 'Age of the oldest waiting job',
      unit: 'ms',
    });
    depth.addCallback((result) => {
      const sums = new Map<string, { attributes: Attributes; value: number }>();
      for (const row of read()) {
        const labels = this.labels(row.tenant, row.queue);
        for (const state of ['waiting', 'leased', 'delayed', 'dead'] as const) {
          const attributes = { ...labels, state };
          const k = JSON.stringify(attributes);
          const entry = sums.get(k) ?? { attributes, value: 0 };
          entry.value += row[state];
          sums.set(k, entry);
        }
      }
      for (const { attributes, value } of sums.values()) result.observe(value, attributes);
    });
    age.addCallback((result) => {
      const at = now();
      const oldest = new Map<string, { attributes: Attributes; value: number }>();
      for (const row of read()) {
        if (row.oldestWaitingAt === undefined) continue;
        const attributes = this.labels(row.tenant, row.queue);
        const k = JSON.stringify(attributes);
        const value = at - row.oldestWaitingAt;
        if ((oldest.get(k)?.value ?? -1) < value) oldest.set(k, { attributes, value });
      }
      for (const { attributes, value } of oldest.values()) result.observe(value, attributes);
    });
  }
}
