import type { QueueDepth } from '../store/types.js';
import { monotonicClock, type BrokerContext } from './broker-context.js';
import { guarded } from './errors.js';
import type { ActivityStats, StatsBook } from './stats.js';
import { checkName, checkQueue } from './validation.js';

const MAX_STATS_ROWS = 1000;
const MAX_METRIC_DEPTH_ROWS = 10_000;
/**
 * How long a reading of the depths serves the gauges: at least a second, so
 * two readers collecting together (a Prometheus scrape and an OTLP push)
 * share one read, and 20 times as long as the read took, so scrapes however
 * frequent spend a twentieth of the time reading at most (10,000
 * tenant×queues take about 100 ms: their reading serves 2 s); but 5 s at
 * most, as old as the depths were on the timer: a read that Redis held up
 * (hung for 4 s) kept its reading for 80 s of scrapes once Redis answered.
 */
const DEPTH_READING_SHARED_MS = 1000;
const DEPTH_READING_SHARED_PER_MS_READ = 20;
const DEPTH_READING_SHARED_MAX_MS = 5000;
/**
 * How long a collection waits for the depths. Past that (Redis slow or away)
 * it reports the last reading, and the read goes on for the next one.
 */
const DEPTH_READ_WAIT_MS = 2000;

export interface TenantQueueStats extends QueueDepth, ActivityStats {}

/** How many jobs each tenant×queue holds by state: for GetStats, and for the depth gauges. */
export class QueueDepths {
  private depths: readonly QueueDepth[] = [];
  /** Until when (monotonicClock) the last reading serves the gauges. */
  private sharedUntil = -Infinity;
  private reading: Promise<void> | undefined;
  private stopped = false;

  constructor(
    private readonly context: BrokerContext,
    private readonly stats: StatsBook,
  ) {}

  /**
   * Depth by state from Redis plus this broker's rates and percentiles, per
   * tenant×queue: every queue (or the one named) and every tenant with work in
   * it (or the one named), at most MAX_STATS_ROWS rows.
   */
  async getStats(
    queue: string,
    tenant: string,
  ): Promise<{ rows: TenantQueueStats[]; truncated: boolean }> {
    if (queue) checkQueue('queue', queue);
    if (tenant) checkName('tenant', tenant);
    const { depths, truncated } = await guarded(this.depthsOf(queue, tenant, MAX_STATS_ROWS));
    const now = this.context.clock();
    const rows = depths.map((depth) => ({
      ...depth,
      ...this.stats.snapshot(depth.tenant, depth.queue, now),
    }));
    return { rows, truncated };
  }

  /** The depths the gauges report: those of the last reading. */
  get latest(): readonly QueueDepth[] {
    return this.depths;
  }

  /**
   * Reads the depths for the gauges, at collection time: resolves once
   * `latest` is fresh, or after DEPTH_READ_WAIT_MS with the last reading.
   * Why not on a timer: a read of every tenant×queue every 5 s cost 10,000
   * pairs about 40 ms of Redis and 60 ms of broker CPU each time, scraped or
   * not, and a scrape saw depths up to 5 s old.
   */
  fresh(): Promise<void> {
    const { logger } = this.context;
    const startedAt = monotonicClock();
    if (this.reading === undefined && startedAt >= this.sharedUntil && !this.stopped) {
      this.reading = this.depthsOf('', '', MAX_METRIC_DEPTH_ROWS)
        .then(
          ({ depths }) => {
            this.depths = depths;
            const readAt = monotonicClock();
            this.sharedUntil =
              readAt +
              Math.min(
                DEPTH_READING_SHARED_MAX_MS,
                Math.max(
                  DEPTH_READING_SHARED_MS,
                  DEPTH_READING_SHARED_PER_MS_READ * (readAt - startedAt),
                ),
              );
          },
          (error: unknown) =>
            logger.warn({ err: error }, 'could not read queue depths for metrics'),
        )
        .finally(() => (this.reading = undefined));
    }
    if (this.reading === undefined) return Promise.resolve();
    let timer: NodeJS.Timeout | undefined;
    const waited = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, DEPTH_READ_WAIT_MS);
    });
    return Promise.race([this.reading, waited]).finally(() => clearTimeout(timer));
  }

  /**
   * Collections from now on report the last reading: the last OTLP push of
   * a stopping broker would read from a Redis connection that closes beside
   * it, and log a warning at every stop.
   */
  stop(): void {
    this.stopped = true;
  }

  /**
   * Depths of the pairs of statsPairs; tenants listed only for their dead jobs
   * that have none left are taken out of that index meanwhile.
   */
  private async depthsOf(
    queue: string,
    tenant: string,
    limit: number,
  ): Promise<{ depths: QueueDepth[]; truncated: boolean }> {
    const { store, logger } = this.context;
    const { pairs, truncated, buried } = await this.statsPairs(queue, tenant, limit);
    const depths = await store.depths(pairs);
    for (const depth of depths) {
      if (depth.dead > 0 || !buried.has(`${depth.queue}\n${depth.tenant}`)) continue;
      store.forgetDeadTenant(depth.queue, depth.tenant).catch((error: unknown) => {
        logger.warn(
          { err: error, queue: depth.queue, tenant: depth.tenant },
          'could not update the index of tenants with dead jobs',
        );
      });
    }
    return { depths, truncated };
  }

  private async statsPairs(
    queue: string,
    tenant: string,
    limit: number,
  ): Promise<{
    pairs: Array<{ tenant: string; queue: string }>;
    truncated: boolean;
    /** Pairs (`queue\ntenant`) from the index of tenants with dead jobs. */
    buried: Set<string>;
  }> {
    const { store } = this.context;
    const queues = queue ? [queue] : await store.queues();
    const seen = new Set<string>();
    const pairs: Array<{ tenant: string; queue: string }> = [];
    const add = (pair: { tenant: string; queue: string }): void => {
      const k = `${pair.queue}\n${pair.tenant}`;
      if (!seen.has(k) && (!tenant || pair.tenant === tenant) && (!queue || pair.queue === queue)) {
        seen.add(k);
        pairs.push(pair);
      }
    };
    const buried = new Set<string>();
    if (tenant) {
      // Named without a queue, a tenant has rows in the queues it has work in,
      // as every tenant has when none is named: a row for each queue ever
      // known, zeros in most, hid them among the empty ones.
      const listed = queue
        ? [true]
        : await Promise.all(queues.map((q) => store.listsTenant(q, tenant)));
      queues.forEach((q, i) => {
        if (listed[i]) add({ tenant, queue: q });
      });
    } else {
      for (const q of queues) {
        for (const t of await store.activeTenants(q)) add({ tenant: t, queue: q });
        for (const t of await store.deadTenants(q)) {
          buried.add(`${q}\n${t}`);
          add({ tenant: t, queue: q });
        }
      }
    }
    for (const pair of this.stats.pairs()) add(pair);
    pairs.sort((a, b) => a.queue.localeCompare(b.queue) || a.tenant.localeCompare(b.tenant));
    return { pairs: pairs.slice(0, limit), truncated: pairs.length > limit, buried };
  }
}
