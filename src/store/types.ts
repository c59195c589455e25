/** What the store keeps about jobs, in domain terms (no wire types here). */

export type JobState =
  'waiting' | 'delayed' | 'leased' | 'retrying' | 'completed' | 'dead' | 'cancelled';

/** A job's state and, while leased, its lease's token and whether this broker holds it. */
export interface LeaseState {
  readonly state: JobState;
  readonly token: string;
  readonly heldHere: boolean;
}

/** A validated job, ready to be stored. */
export interface NewJob {
  readonly id: string;
  readonly tenant: string;
  readonly queue: string;
  readonly payload: Buffer;
  readonly priority: number;
  readonly maxAttempts: number;
  readonly backoffInitialMs: number;
  readonly backoffMaxMs: number;
  readonly timeoutMs: number;
  readonly runAt: number;
  readonly idempotencyKey: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly createdAt: number;
}

export interface JobRecord extends NewJob {
  readonly state: JobState;
  readonly attempts: number;
  readonly progress: Buffer | undefined;
  /** Media type of the progress, as the worker gave it ('' = none given). */
  readonly progressContentType: string;
  readonly result: Buffer | undefined;
  /** Media type of the result, as the worker gave it ('' = none given). */
  readonly resultContentType: string;
  readonly lastError: string;
  readonly leasedAt: number;
  readonly finishedAt: number;
  /** Fencing token of the current lease ('' when not leased). */
  readonly leaseToken: string;
  /** Stream entry that currently stands for the job ('' when none). */
  readonly entry: string;
}

/** A job read from its ready stream into this broker's pending list, not yet leased. */
export interface FetchedJob {
  readonly id: string;
  readonly tenant: string;
  readonly queue: string;
  /** Stream entry id: the broker's claim on the job. */
  readonly entry: string;
  readonly priority: number;
  /** Attempts started before this one. */
  readonly attempts: number;
  readonly maxAttempts: number;
  readonly timeoutMs: number;
  readonly payload: Buffer;
  readonly headers: Readonly<Record<string, string>>;
  readonly createdAt: number;
  /** When the job became runnable (enqueue, delay or retry backoff). */
  readonly runAt: number;
}

/** A fetch of one tenant×queue: `count` new jobs at most, the first ones leased under `leaseTokens`. */
export interface FetchRequest {
  readonly tenant: string;
  readonly count: number;
  /** Only jobs of a higher priority than this are read (none: any). */
  readonly above?: number | undefined;
  readonly leaseTokens?: readonly string[] | undefined;
}

export interface FetchResult {
  readonly jobs: FetchedJob[];
  /** Run time of the earliest delayed job, if any. */
  readonly nextDueAt: number | undefined;
  /** Nothing at all: no ready, leased or delayed job in this tenant×queue. */
  readonly idle: boolean;
  /** How many of the first jobs were leased at once (under the tokens asked for, in order). */
  readonly leased: number;
}

export interface EnqueueReply {
  /** Per job, in input order. */
  readonly outcomes: EnqueueOutcome[];
  /**
   * The result of each claim the enqueue made (see Intake.enqueue), or the
   * error that claim met (the jobs were stored all the same).
   */
  readonly claimed: Map<FetchRequest, FetchResult | Error>;
}

export type EnqueueOutcome =
  | { readonly kind: 'stored'; readonly jobId: string }
  | { readonly kind: 'duplicate'; readonly jobId: string }
  /** Over max queued: `queued` jobs wait (ready or delayed; see enqueue.lua). */
  | { readonly kind: 'full'; readonly queued: number };

export type AckOutcome = 'ok' | 'stale' | 'unknown';

export type FailOutcome =
  | { readonly kind: 'retrying'; readonly runAt: number }
  | { readonly kind: 'dead' }
  | { readonly kind: 'stale' }
  | { readonly kind: 'unknown' };

export type CancelOutcome =
  | { readonly kind: 'not_found' }
  | { readonly kind: 'ended'; readonly state: JobState }
  | { readonly kind: 'cancelled'; readonly previous: JobState; readonly queue: string };

/** A place in a tenant×queue's ready streams: a priority level, an entry of its stream. */
export interface ReadyPosition {
  level: number;
  entry: string;
}

export interface ReadyEntry extends ReadyPosition {
  jobId: string;
}

/** What taking a job out of a dead letter queue does with it. */
export type DeadLetterAction = 'replay' | 'delete';

export interface ReclaimOutcome {
  readonly requeued: number;
  readonly retrying: number;
  readonly dead: number;
  /** Earliest run time in the delayed set (delayed jobs and retries), if any. */
  readonly nextRunAt: number | undefined;
  /** A ready stream holds entries no broker has read yet. */
  readonly unread: boolean;
  /** Entries read and not yet acked: leased or prefetched, by any broker. */
  readonly pending: number;
}

export interface QueueDepth {
  readonly tenant: string;
  readonly queue: string;
  readonly waiting: number;
  /** Read by a broker: leased to a worker, or in a broker's prefetch buffer. */
  readonly leased: number;
  readonly delayed: number;
  readonly dead: number;
  /** When the oldest waiting job became runnable (see depth.lua), if any. */
  readonly oldestWaitingAt: number | undefined;
}
