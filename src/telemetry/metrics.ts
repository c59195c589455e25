import type { Attributes, Meter } from '@opentelemetry/api';
import type { QueueDepth } from '../store/types.js';
import type { GaugeReading, LocalGauges } from './gauges.js';
import type { LocalHistogram, LocalHistograms } from './histograms.js';
import { entryOf, newMap } from '../map-entry.js';

/**
 * Broker metrics through the OpenTelemetry API. Prometheus names (the exporter
 * turns dots into underscores and adds `_total` to counters):
 * rota_jobs_{enqueued,dispatched,completed,failed,dead,dead_letters_taken,expired,cancelled,throttled}_total,
 * rota_job_wait_time / rota_job_run_time (histograms in ms),
 * rota_queue_depth{state}, rota_queue_oldest_waiting_age (ms), rota_sessions,
 * rota_sessions_capacity, rota_prefetch_{jobs,bytes,waiting} (label queue only).
 * Labels: tenant and queue. The histograms, and the gauges whose label sets
 * come and go, are kept here too (LocalHistograms, LocalGauges) and reach the
 * readers as their metric producers.
 *
 * Labels are capped: the first `labelCaps.tenants` tenants and
 * `labelCaps.queues` queues seen keep their name, later ones are reported as
 * "other", so a flood of tenants or of queue names (a queue per import, a
 * producer that puts an id in the name) cannot blow up the time-series count.
 */
export const OTHER_LABEL = 'other';

/** How many tenants and queues get a metric label of their own. */
export interface LabelCaps {
  readonly tenants: number;
  readonly queues: number;
}

const LATENCY_BUCKETS_MS = [
  1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10_000, 30_000, 60_000, 300_000,
];

/** Where a broker's metrics go: a meter, and the histograms and gauges its provider's readers read. */
export interface MetricsSink {
  readonly meter: Meter;
  readonly histograms: LocalHistograms;
  readonly gauges: LocalGauges;
}

export interface SessionGauge {
  readonly sessions: number;
  readonly capacity: number;
}

/** Depths of tenant×queues, read when a collection asks (see QueueDepths). */
export interface DepthReadings {
  /** Resolves when `latest` is fresh enough to report, or the wait for it is over. */
  fresh(): Promise<void>;
  readonly latest: readonly QueueDepth[];
}

/** What a queue's prefetch buffers hold now. */
export interface PrefetchUse {
  readonly jobs: number;
  readonly bytes: number;
  /** Tenants with work to fetch that wait for room under the bound. */
  readonly waiting: number;
}

/** The job counters, each exported as `rota.jobs.<name>`. */
export type JobCount =
  | 'enqueued'
  | 'dispatched'
  | 'completed'
  | 'failed'
  | 'dead'
  | 'dead_letters_taken'
  | 'expired'
  | 'cancelled'
  | 'throttled';

const JOB_COUNTS: Readonly<Record<JobCount, string>> = {
  enqueued: 'Jobs stored by Enqueue (duplicates excluded)',
  dispatched: 'Leases handed to workers',
  completed: 'Attempts that completed',
  failed: 'Attempts that failed (reported, expired or timed out)',
  dead: 'Jobs moved to the dead letter queue',
  dead_letters_taken:
    'Dead jobs taken out of the dead letter queue, by ReplayDeadLetters (reason replay) or DeleteDeadLetters (reason delete)',
  expired: 'Leases revoked by expiry or job timeout',
  cancelled: 'Jobs cancelled, by CancelJob (reason cancel) or PurgeQueue (reason purge)',
  throttled: 'Times a tenant with work was held back by its limits',
};

interface Tally {
  readonly attributes: Attributes;
  value: number;
}

/**
 * Counters are tallied here, per label set, and read by observable counters
 * at collection time: counting a job is a map lookup and an addition, where a
 * Counter.add() hashed its attributes on every call (5–8% of the broker's CPU
 * at full load, from about five calls per job).
 */
export class BrokerMetrics {
  private readonly waitTime: LocalHistogram;
  private readonly runTime: LocalHistogram;
  private readonly tenantLabels = new Set<string>();
  private readonly queueLabels = new Set<string>();
  /** Label sets by queue, then tenant: nested maps, so a lookup builds no key string. */
  private readonly labelCache = new Map<string, Map<string, Attributes>>();
  /** The label sets with "other" in them, by queue label, then tenant label. */
  private readonly otherLabels = new Map<string, Map<string, Attributes>>();
  /** Per counter, per label set (labels() gives one object each), per reason ('' = none). */
  private readonly tallies = new Map<JobCount, Map<Attributes, Map<string, Tally>>>();

  /**
   * `histograms`: where the wait and run time histograms go, `gauges` the
   * depth and read-ahead gauges; the metric readers of `meter`'s provider must
   * have both among their metricProducers.
   */
  constructor(
    private readonly meter: Meter,
    histograms: LocalHistograms,
    private readonly gauges: LocalGauges,
    private readonly caps: LabelCaps,
  ) {
    for (const [name, description] of Object.entries(JOB_COUNTS) as Array<[JobCount, string]>) {
      const tallies = new Map<Attributes, Map<string, Tally>>();
      this.tallies.set(name, tallies);
      meter.createObservableCounter(`rota.jobs.${name}`, { description }).addCallback((result) => {
        for (const byReason of tallies.values()) {
          for (const { attributes, value } of byReason.values()) result.observe(value, attributes);
        }
      });
    }
    this.waitTime = histograms.create(
      'rota.job.wait_time',
      'Runnable to leased',
      'ms',
      LATENCY_BUCKETS_MS,
    );
    this.runTime = histograms.create(
      'rota.job.run_time',
      'Leased to acknowledged',
      'ms',
      LATENCY_BUCKETS_MS,
    );
  }

  /** A job waited `ms` from runnable to leased. */
  waited(tenant: string, queue: string, ms: number): void {
    this.waitTime.record(ms, this.labels(tenant, queue));
  }

  /** A lease ran `ms` until its outcome arrived. */
  ran(tenant: string, queue: string, ms: number): void {
    this.runTime.record(ms, this.labels(tenant, queue));
  }

  /**
   * Adds `amount` (1 unless given) to a job counter; `reason` is an extra
   * label (expired: `expired` or `timeout`; cancelled: `cancel` or `purge`;
   * dead_letters_taken: `replay` or `delete`).
   */
  count(name: JobCount, tenant: string, queue: string, reason?: string, amount = 1): void {
    const labels = this.labels(tenant, queue);
    const byReason = entryOf(this.tallies.get(name)!, labels, newMap<string, Tally>);
    const tally = byReason.get(reason ?? '');
    if (tally) {
      tally.value += amount;
      return;
    }
    byReason.set(reason ?? '', {
      attributes: reason === undefined ? labels : { ...labels, reason },
      value: amount,
    });
  }

  /**
   * The tenant and queue labels (either as "other" past its cap): always the
   * same object for the same labels, which the histograms rely on.
   */
  labels(tenant: string, queue: string): Attributes {
    const cached = this.labelCache.get(queue)?.get(tenant);
    if (cached) return cached;
    const tenantLabel = capped(this.tenantLabels, this.caps.tenants, tenant);
    const queueLabel = this.queueLabel(queue);
    if (tenantLabel === tenant && queueLabel === queue) {
      return remembered(this.labelCache, queue, tenant);
    }
    // Past a cap, pairs are not remembered (that would grow without bound):
    // one object per pair of labels, "other" among them.
    return remembered(this.otherLabels, queueLabel, tenantLabel);
  }

  private queueLabel(queue: string): string {
    return capped(this.queueLabels, this.caps.queues, queue);
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

  /**
   * What each queue's prefetch buffers hold: jobs and payload bytes read ahead
   * of the workers, and tenants waiting for room under the bound.
   */
  observePrefetch(read: () => Iterable<[string, PrefetchUse]>): void {
    const gauges = {
      jobs: 'Jobs read ahead of the workers, per queue',
      bytes: 'Payload and header bytes read ahead of the workers, per queue',
      waiting: 'Tenants whose read-ahead waits for room under the prefetch bound',
    } as const;
    for (const [name, description] of Object.entries(gauges) as Array<
      [keyof PrefetchUse, string]
    >) {
      this.gauges.add(`rota.prefetch.${name}`, description, '', () => {
        const series = new GaugeSeries((a, b) => a + b);
        for (const [queue, use] of read()) series.add({ queue: this.queueLabel(queue) }, use[name]);
        return series.reading();
      });
    }
  }

  /**
   * The depth gauges (tenants past the cap summed as "other"), from
   * `depths.latest` once each collection has waited for `depths.fresh()`.
   */
  observeDepths(depths: DepthReadings, now: () => number): void {
    this.gauges.beforeCollect(() => depths.fresh());
    this.gauges.add('rota.queue.depth', 'Jobs by state', '', () => {
      const series = new GaugeSeries((a, b) => a + b);
      for (const row of depths.latest) {
        const labels = this.labels(row.tenant, row.queue);
        for (const state of ['waiting', 'leased', 'delayed', 'dead'] as const) {
          series.add({ ...labels, state }, row[state]);
        }
      }
      return series.reading();
    });
    this.gauges.add('rota.queue.oldest_waiting_age', 'Age of the oldest waiting job', 'ms', () => {
      const at = now();
      const series = new GaugeSeries(Math.max);
      for (const row of depths.latest) {
        if (row.oldestWaitingAt === undefined) continue;
        series.add(this.labels(row.tenant, row.queue), at - row.oldestWaitingAt);
      }
      return series.reading();
    });
  }
}

/**
 * A gauge's values by label set, those of one set (pairs past a label cap
 * share "other") combined: summed, or the largest taken.
 */
class GaugeSeries {
  private readonly series = new Map<string, { attributes: Attributes; value: number }>();

  constructor(private readonly combine: (a: number, b: number) => number) {}

  add(attributes: Attributes, value: number): void {
    const key = JSON.stringify(attributes);
    const entry = this.series.get(key);
    if (entry === undefined) this.series.set(key, { attributes, value });
    else entry.value = this.combine(entry.value, value);
  }

  reading(): GaugeReading {
    return [...this.series.values()].map(({ attributes, value }) => [value, attributes] as const);
  }
}

/** The label set of a queue and tenant kept in `sets`, made on first use. */
function remembered(
  sets: Map<string, Map<string, Attributes>>,
  queue: string,
  tenant: string,
): Attributes {
  return entryOf(entryOf(sets, queue, newMap<string, Attributes>), tenant, () => ({
    tenant,
    queue,
  }));
}

/** `name` if it has (or now gets) one of the `cap` places in `named`, else "other". */
function capped(named: Set<string>, cap: number, name: string): string {
  if (!named.has(name) && named.size < cap) named.add(name);
  return named.has(name) ? name : OTHER_LABEL;
}
