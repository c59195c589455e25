import type { Clock } from '../scheduler/index.js';
import { RepliesLost, type StoreCall } from '../store/intake.js';
import type { JobStore } from '../store/job-store.js';
import type { FetchRequest, FetchResult } from '../store/types.js';
import type { DirectSlots } from './direct-slots.js';

/** A fetch the dispatcher has decided on (the tenant is marked fetching until its result). */
export interface PlannedFetch extends FetchRequest {
  readonly direct: DirectSlots | undefined;
  /** Bytes the fetch is expected to bring (count × the job size known), held against the bound. */
  readonly expectedBytes: number;
  /**
   * The read takes only what the free slots here start now, leaving the rest
   * to another broker's idle workers: what they leave is read after a yield
   * (see QueueDispatcher.planFetch).
   */
  readonly yields: boolean;
}

export interface FetchBatchesDeps {
  readonly queue: string;
  readonly store: JobStore;
  /** The wall clock, the fetch's `now` (due times in Redis are on it). */
  readonly clock: Clock;
  onFetched(want: PlannedFetch, result: FetchResult, fetchedAt: number): void;
  onFetchFailed(wants: readonly PlannedFetch[], error: unknown): void;
  /** Fetch calls whose replies never came, to give up (see LostCalls). */
  onRepliesLost(calls: readonly StoreCall[]): void;
}

/**
 * A queue's planned fetches on their way to Redis, sent in batches, and a count
 * of those not answered yet (the shutdown waits for them).
 */
export class FetchBatches {
  /** Refills asked for in this turn, sent together. */
  private readonly wants: PlannedFetch[] = [];
  /** Fetches sent (or claimed by an enqueue) and not answered yet. */
  private unanswered = 0;
  private answeredWaiters: Array<() => void> = [];
  private stopped = false;

  constructor(private readonly deps: FetchBatchesDeps) {}

  /** Sends the fetch with the others asked for in this turn. */
  send(want: PlannedFetch): void {
    this.wants.push(want);
    if (this.wants.length === 1) queueMicrotask(() => this.sendWanted());
  }

  /** An enqueue does the fetch (see QueueDispatcher.claim): it is answered all the same. */
  claimed(): void {
    this.unanswered++;
  }

  answered(count: number): void {
    this.unanswered -= count;
    if (this.unanswered > 0) return;
    for (const resolve of this.answeredWaiters.splice(0)) resolve();
  }

  /** Whether every fetch asked for has been sent and answered. */
  get settled(): boolean {
    return this.unanswered === 0 && this.wants.length === 0;
  }

  /**
   * Resolves once every fetch sent has answered (after stop: their jobs are
   * then in the buffers, for Broker.releaseBuffered).
   */
  allAnswered(): Promise<void> {
    if (this.unanswered === 0) return Promise.resolve();
    return new Promise((resolve) => this.answeredWaiters.push(resolve));
  }

  stop(): void {
    this.stopped = true;
  }

  /**
   * Sends the refills asked for in this turn as one round trip: an enqueue
   * batch that wakes 1,000 tenants makes one fetch call, not 1,000.
   */
  private sendWanted(): void {
    if (this.stopped) return;
    const wants = this.wants.splice(0);
    const now = this.deps.clock();
    this.unanswered += wants.length;
    this.deps.store.fetch(this.deps.queue, wants, now).then(
      (results) =>
        results.forEach((result, i) => {
          // One tenant's failed read: the others' results, leases among them, stand.
          if (result instanceof Error) this.deps.onFetchFailed([wants[i]!], result);
          else this.deps.onFetched(wants[i]!, result, now);
        }),
      (error: unknown) => {
        if (error instanceof RepliesLost) this.deps.onRepliesLost(error.calls);
        this.deps.onFetchFailed(wants, error);
      },
    );
  }
}
