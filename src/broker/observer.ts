import type { DeadLetterAction, NewJob } from '../store/types.js';
import type { Lease, Session } from './session.js';

/** How a lease ended. */
export interface Settlement {
  /** `left`: the broker stopped and left the lease in Redis, to its worker's next broker or recovery. */
  readonly result: 'completed' | 'retrying' | 'dead' | 'cancelled' | 'stale' | 'left';
  /**
   * `superseded`: the job was leased anew after another broker adopted this
   * lease. `moved`: a worker re-attached this lease to another broker.
   */
  readonly cause:
    'ack' | 'fail' | 'expired' | 'timeout' | 'cancel' | 'superseded' | 'moved' | 'shutdown';
  readonly error?: string;
}

/**
 * Sees the job lifecycle as it happens (traces, metrics, stats hang off it), so
 * the broker's rules do not know about telemetry.
 */
export interface BrokerObserver {
  enqueued(job: NewJob, duplicate: boolean): void;
  dispatched(lease: Lease, session: Session): void;
  settled(lease: Lease, settlement: Settlement): void;
  /** `count` jobs were cancelled: one by CancelJob, or a queue's backlog by PurgeQueue. */
  cancelled(tenant: string, queue: string, count: number, by: 'cancel' | 'purge'): void;
  /**
   * The recovery sweep ended attempts whose holder stopped renewing them (a
   * broker that died): `retrying` go on after their backoff, `dead` went to the
   * dead letter queue.
   */
  attemptsReclaimed(tenant: string, queue: string, retrying: number, dead: number): void;
  /** `count` dead jobs left the dead letter queue, replayed or deleted by an operator. */
  deadLettersTaken(tenant: string, queue: string, count: number, by: DeadLetterAction): void;
  /** A tenant with work was held back by its rate limit or in-flight cap. */
  heldBack(tenant: string, queue: string): void;
}
