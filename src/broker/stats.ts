/**
 * What one broker has seen per tenant×queue, for Admin.GetStats: rates over the
 * last minute and wait/run percentiles since the broker started. Depths come
 * from Redis; these numbers are the answering broker's own view. A pair idle
 * for IDLE_FORGET_MS is forgotten: each costs about 1.2 KB, and a broker that
 * sees many short-lived tenants would otherwise grow without bound.
 */

/** How long a tenant×queue with no event keeps its rates and percentiles. */
export const IDLE_FORGET_MS = 60 * 60 * 1000;

const SLOT_MS = 10_000;
const SLOTS = 6;
const WINDOW_MS = SLOT_MS * SLOTS;

/** Events per second over the last minute, in six 10-second slots. */
class RollingRate {
  private readonly slots = new Float64Array(SLOTS);
  private slotIndex = -1;

  add(now: number, count = 1): void {
    this.advance(now);
    this.slots[this.slotIndex % SLOTS]! += count;
  }

  perSecond(now: number): number {
    this.advance(now);
    let sum = 0;
    for (const value of this.slots) sum += value;
    return sum / (WINDOW_MS / 1000);
  }

  private advance(now: number): void {
    const index = Math.floor(now / SLOT_MS);
    if (this.slotIndex < 0) this.slotIndex = index;
    for (let i = this.slotIndex + 1; i <= Math.min(index, this.slotIndex + SLOTS); i++)
      this.slots[i % SLOTS] = 0;
    this.slotIndex = Math.max(this.slotIndex, index);
  }
}

/** Buckets 2^(1/4) apart from 10 µs up: percentiles within about 19 %, in 512 bytes. */
const BUCKETS = 128;
const STEPS_PER_DOUBLING = 4;
const FLOOR_MS = 0.01;

export class LogHistogram {
  private readonly counts = new Uint32Array(BUCKETS);
  count = 0;

  record(ms: number): void {
    const index =
      ms <= FLOOR_MS
        ? 0
        : Math.min(BUCKETS - 1, Math.ceil(STEPS_PER_DOUBLING * Math.log2(ms / FLOOR_MS)));
    this.counts[index]! += 1;
    this.count += 1;
  }

  /** The upper bound of the bucket holding the p-th percentile (0 when empty). */
  percentile(p: number): number {
    if (this.count === 0) return 0;
    const rank = Math.ceil((p / 100) * this.count);
    let seen = 0;
    for (let i = 0; i < BUCKETS; i++) {
      seen += this.counts[i]!;
      if (seen >= rank) return FLOOR_MS * 2 ** (i / STEPS_PER_DOUBLING);
    }
    return FLOOR_MS * 2 ** ((BUCKETS - 1) / STEPS_PER_DOUBLING);
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
  readonly enqueued: RollingRate;
  readonly completed: RollingRate;
  readonly failed: RollingRate;
  readonly wait: LogHistogram;
  readonly run: LogHistogram;
}

const percentiles = (histogram: LogHistogram): Percentiles => ({
  p50: histogram.percentile(50),
  p95: histogram.percentile(95),
  p99: histogram.percentile(99),
  count: histogram.count,
});

export class StatsBook {
  private readonly activity = new Map<string, Activity>();

  enqueued(tenant: string, queue: string, now: number): void {
    this.of(tenant, queue, now).enqueued.add(now);
  }

  completed(tenant: string, queue: string, now: number, runMs: number): void {
    const activity = this.of(tenant, queue, now);
    activity.completed.add(now);
    activity.run.record(runMs);
  }

  failed(tenant: string, queue: string, now: number, runMs: number): void {
    const activity = this.of(tenant, queue, now);
    activity.failed.add(now);
    activity.run.record(runMs);
  }

  waited(tenant: string, queue: string, now: number, waitMs: number): void {
    this.of(tenant, queue, now).wait.record(waitMs);
  }

  /** Drops the pairs with no event for IDLE_FORGET_MS; returns how many. */
  forgetIdle(now: number): number {
    let forgotten = 0;
    for (const [k, activity] of this.activity) {
      if (now - activity.lastSeen >= IDLE_FORGET_MS) {
        this.activity.delete(k);
        forgotten++;
      }
    }
    return forgotten;
  }

  /** Tenant×queue pairs this broker has seen. */
  pairs(): Array<{ tenant: string; queue: string }> {
    return [...this.activity.keys()].map((key) => {
      const [queue = '', tenant = ''] = key.split('\n');
      return { tenant, queue };
    });
  }

  snapshot(tenant: string, queue: string, now: number): ActivityStats {
    const activity = this.activity.get(key(tenant, queue));
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
      enqueuedPerSecond: activity.enqueued.perSecond(now),
      completedPerSecond: activity.completed.perSecond(now),
      failedPerSecond: activity.failed.perSecond(now),
      waitMs: percentiles(activity.wait),
      runMs: percentiles(activity.run),
    };
  }

  private of(tenant: string, queue: string, now: number): Activity {
    const k = key(tenant, queue);
    let activity = this.activity.get(k);
    if (activity) {
      activity.lastSeen = Math.max(activity.lastSeen, now);
    } else {
      activity = {
        lastSeen: now,
        enqueued: new RollingRate(),
        completed: new RollingRate(),
        failed: new RollingRate(),
        wait: new LogHistogram(),
        run: new LogHistogram(),
      };
      this.activity.set(k, activity);
    }
    return activity;
  }
}

const key = (tenant: string, queue: string): string => `${queue}\n${tenant}`;
