import type { Redis } from 'ioredis';
import { Keys } from './keys.js';

export interface JobStoreOptions {
  readonly keyPrefix: string;
  /** This broker's consumer name in every ready stream's group. */
  readonly consumer: string;
  readonly completedRetentionMs: number;
  readonly deadRetentionMs: number;
  readonly idempotencyRetentionMs: number;
  /**
   * How long a call that reads jobs (fetch, enqueue) keeps its record (see
   * lua/includes/call_record.lua): the lease TTL, after which the recovery
   * sweep takes back what a call whose reply was lost had read.
   * @default 30000
   */
  readonly recordMs?: number;
  /**
   * The time of the broker's clock, for the reads of dead letters (depths, the
   * dead letter queue's pages, replay and delete), which drop those past their
   * retention: the calls that kill jobs stamp them with the same clock's `now`.
   * @default Date.now
   */
  readonly clock?: () => number;
}

/** What the JobStore's parts share: the connection, the keys and the options. */
export class JobStoreContext {
  readonly keys: Keys;

  constructor(
    readonly redis: Redis,
    readonly options: JobStoreOptions,
  ) {
    this.keys = new Keys(options.keyPrefix);
  }

  now(): number {
    return (this.options.clock ?? Date.now)();
  }

  /** The death time up to which dead letters are past their retention (their job hashes expired). */
  deadExpiredBy(now = this.now()): number {
    return now - this.options.deadRetentionMs;
  }
}

/** Indexes of items grouped by key, groups and indexes in input order. */
export function groupBy<T>(items: readonly T[], key: (item: T) => string): Map<string, number[]> {
  const groups = new Map<string, number[]>();
  items.forEach((item, index) => {
    const k = key(item);
    const list = groups.get(k);
    if (list) list.push(index);
    else groups.set(k, [index]);
  });
  return groups;
}
