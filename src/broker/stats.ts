import { entryOf, newMap } from '../map-entry.js';

/**
 * What one broker has seen per tenant×queue, for Admin.GetStats: rates over the
 * last minute and wait/run percentiles since the broker started. Depths come
 * from Redis; these numbers are the answering broker's own view. Each pair costs
 * 0.65 KB (only enqueues so far) to 1.4 KB (waits and run times over a few
 * hundred ms), so a pair idle for IDLE_FORGET_MS is forgotten, and past
 * `maxPairs` the longest idle ones are: a broker that sees very many tenants
 * within an hour would otherwise grow without bound (200,000 pairs with a few
 * waits and runs each: 180 MB of heap; bounded at 50,000: 47 MB).
 */

/** How long a tenant×queue with no event keeps its rates and percentiles. */
export const IDLE_FORGET_MS = 60 * 60 * 1000;

const SLOT_MS = 10_000;
const SLOTS = 6;
const WINDOW_MS = SLOT_MS * SLOTS;

/** The event series a tenant×queue counts. */
const ENQUEUED = 0;
const COMPLETED = 1;
const FAILED = 2;
const SERIES = 3;

/**
 * Events per second over the last minute, in six 10-second slots, for each of
 * the SERIES: one array for all three, where three objects with an array
 * each cost about 450 bytes more per tenant×queue.
 */
class RollingRates {
  private readonly slots = new Float64Array(SLOTS * SERIES);
  private slotIndex = -1;

  add(series: number, now: number, count = 1): void {
    this.advance(now);
    this.slots[series * SLOTS + (this.slotIndex % SLOTS)]! += count;
  }

  perSecond(series: number, now: number): number {
    this.advance(now);
    let sum = 0;
    for (let i = series * SLOTS; i < (series + 1) * SLOTS; i++) sum += this.slots[i]!;
    return sum / (WINDOW_MS / 1000);
  }

  private advance(now: number): void {
    const index = Math.floor(now / SLOT_MS);
    if (this.slotIndex < 0) this.slotIndex = index;
    for (let i = this.slotIndex + 1; i <= Math.min(index, this.slotIndex + SLOTS); i++) {
      for (let series = 0; series < SERIES; series++) this.slots[series * SLOTS + (i % SLOTS)] = 0;
    }
    this.slotIndex = Math.max(this.slotIndex, index);
  }
}

/** Buckets 2^(1/4) apart from 10 µs up: percentiles within about 19 %. */
const BUCKETS = 128;
const STEPS_PER_DOUBLING = 4;
const FLOOR_MS = 0.01;
/** Buckets added beyond the one asked for when the counted range grows (one doubling). */
const GROWTH = STEPS_PER_DOUBLING;

const bucketOf = (ms: number): number =>
  ms <= FLOOR_MS
    ? 0
    : Math.min(BUCKETS - 1, Math.ceil(STEPS_PER_DOUBLING * Math.log2(ms / FLOOR_MS)));

const upperBound = (bucket: number): number => FLOOR_MS * 2 ** (bucket / STEPS_PER_DOUBLING);

/**
 * Counts only the buckets from the lowest to the highest value seen (and a
 * doubling around them), grown as values arrive, and none before the first:
 * a tenant's waits or run times span a few dozen buckets. All 128 buckets of
 * both histograms were 1 KB of the 2.4 KB a broker kept per tenant×queue
 * (50,000 tenants with a backlog: 116 MB of heap, most of it for pairs that
 * had no wait or run time yet).
 */
export class LogHistogram {
  private counts: Uint32Array | undefined;
  /** The bucket counts[0] stands for. */
  private lowest = 0;
  count = 0;

  record(ms: number): void {
    const bucket = bucketOf(ms);
    const counts = this.cover(bucket);
    counts[bucket - this.lowest]! += 1;
    this.count += 1;
  }

  /** The upper bound of the bucket holding the p-th percentile (0 when empty). */
  percentile(p: number): number {
    const counts = this.counts;
    if (!counts || this.count === 0) return 0;
    const rank = Math.ceil((p / 100) * this.count);
    let seen = 0;
    for (let i = 0; i < counts.length; i++) {
      seen += counts[i]!;
      if (seen >= rank) return upperBound(this.lowest + i);
    }
    return upperBound(this.lowest + counts.length - 1);
  }

  /** The counts, grown to hold `bucket`. */
  private cover(bucket: number): Uint32Array {
    const counts = this.counts;
    const highest = this.lowest + (counts?.length ?? 0) - 1;
    if (counts && bucket >= this.lowest && bucket <= highest) return counts;
    const from = Math.max(0, Math.min(bucket, counts ? this.lowest : bucket) - GROWTH);
    const to = Math.min(BUCKETS - 1, Math.max(bucket, counts ? highest : bucket) + GROWTH);
    const grown = new Uint32Array(to - from + 1);
    if (counts) grown.set(counts, this.lowest - from);
    this.counts = grown;
    this.lowest = from;
    return grown;
  }
}

export interface Percentiles {
  readonly p50: number;
  readonly p95: number;
  readonly p99: number;
  readonly count: number;
}

export interface ActivityStats {
  readonly enqueuedPerSecond: number;
  readonly completedPerSecond: number;
  readonly failedPerSecond: number;
  readonly waitMs: Percentiles;
  readonly runMs: Percentiles;
}

interface Activity {
  lastSeen: number;
  readonly rates: RollingRates;
  readonly wait: LogHistogram;
  readonly run: LogHistogram;
}

const percentiles = (histogram: LogHistogram): Percentiles => ({
  p50: histogram.percentile(50),
  p95: histogram.percentile(95),
  p99: histogram.percentile(99),
  count: histogram.count,
});

/** Share of `maxPairs` kept when the book is full: one pass over it frees room for many new pairs. */
const KEPT_WHEN_FULL = 0.9;

export class StatsBook {
  /**
   * By queue, then tenant: nested maps, so the three or so lookups per job
   * build no key string (a composed key was about 0.75 µs of broker CPU per
   * job in the scale scenario's profile).
   */
  private readonly activity = new Map<string, Map<string, Activity>>();
  /** Pairs in `activity`. */
  private size = 0;

  /** `onFull` hears how many pairs were forgotten each time the book makes room. */
  constructor(
    private readonly maxPairs = Number.POSITIVE_INFINITY,
    private readonly onFull: (forgotten: number) => void = () => undefined,
  ) {}

  enqueued(tenant: string, queue: string, now: number): void {
    this.of(tenant, queue, now).rates.add(ENQUEUED, now);
  }

  completed(tenant: string, queue: string, now: number, runMs: number): void {
    const activity = this.of(tenant, queue, now);
    activity.rates.add(COMPLETED, now);
    activity.run.record(runMs);
  }

  failed(tenant: string, queue: string, now: number, runMs: number): void {
    const activity = this.of(tenant, queue, now);
    activity.rates.add(FAILED, now);
    activity.run.record(runMs);
  }

  /**
   * `count` attempts this broker ended as failed without having leased them:
   * the recovery sweep's, of a broker that died (no run time known here).
   */
  failedUnleased(tenant: string, queue: string, now: number, count: number): void {
    this.of(tenant, queue, now).rates.add(FAILED, now, count);
  }

  waited(tenant: string, queue: string, now: number, waitMs: number): void {
    this.of(tenant, queue, now).wait.record(waitMs);
  }

  /** Drops the pairs with no event for IDLE_FORGET_MS; returns how many. */
  forgetIdle(now: number): number {
    const size = this.size;
    this.forgetWhere((activity) => now - activity.lastSeen >= IDLE_FORGET_MS);
    return size - this.size;
  }

  /** Tenant×queue pairs this broker has seen. */
  pairs(): Array<{ tenant: string; queue: string }> {
    return [...this.activity].flatMap(([queue, tenants]) =>
      [...tenants.keys()].map((tenant) => ({ tenant, queue })),
    );
  }

  snapshot(tenant: string, queue: string, now: number): ActivityStats {
    const activity = this.activity.get(queue)?.get(tenant);
    if (!activity) {
      const empty = new LogHistogram();
      return {
        enqueuedPerSecond: 0,
        completedPerSecond: 0,
        failedPerSecond: 0,
        waitMs: percentiles(empty),
        runMs: percentiles(empty),
      };
    }
    return {
      enqueuedPerSecond: activity.rates.perSecond(ENQUEUED, now),
      completedPerSecond: activity.rates.perSecond(COMPLETED, now),
      failedPerSecond: activity.rates.perSecond(FAILED, now),
      waitMs: percentiles(activity.wait),
      runMs: percentiles(activity.run),
    };
  }

  private of(tenant: string, queue: string, now: number): Activity {
    let activity = this.activity.get(queue)?.get(tenant);
    if (activity) {
      activity.lastSeen = Math.max(activity.lastSeen, now);
      return activity;
    }
    if (this.size >= this.maxPairs) this.forgetLeastRecent();
    activity = {
      lastSeen: now,
      rates: new RollingRates(),
      wait: new LogHistogram(),
      run: new LogHistogram(),
    };
    entryOf(this.activity, queue, newMap<string, Activity>).set(tenant, activity);
    this.size++;
    return activity;
  }

  /** Drops the pairs seen least recently, down to KEPT_WHEN_FULL of maxPairs (and room for one). */
  private forgetLeastRecent(): void {
    const keep = Math.min(this.maxPairs - 1, Math.floor(this.maxPairs * KEPT_WHEN_FULL));
    const forgotten = this.size - keep;
    let drop = forgotten;
    const lastSeen = Float64Array.from(
      [...this.activity.values()].flatMap((tenants) => [...tenants.values()]),
      (activity) => activity.lastSeen,
    );
    const cutoff = lastSeen.sort()[drop - 1]!;
    // Strictly older first, then ties at the cutoff: no pair is dropped while an older one stays.
    for (const older of [true, false]) {
      this.forgetWhere((activity) => {
        if (drop === 0) return false;
        const dropped = older ? activity.lastSeen < cutoff : activity.lastSeen === cutoff;
        if (dropped) drop--;
        return dropped;
      });
    }
    this.onFull(forgotten);
  }

  /** Drops the pairs `drop` says to (asked in the order their queues, then tenants, came). */
  private forgetWhere(drop: (activity: Activity) => boolean): void {
    for (const [queue, tenants] of this.activity) {
      for (const [tenant, activity] of tenants) {
        if (!drop(activity)) continue;
        tenants.delete(tenant);
        this.size--;
      }
      if (tenants.size === 0) this.activity.delete(queue);
    }
  }
}
