import type { Span } from '@opentelemetry/api';
import type { FetchedJob } from '../store/types.js';

/** What the broker says to a worker, in domain terms (the gRPC edge encodes it). */
export type SessionMessage =
  | {
      readonly kind: 'welcome';
      readonly sessionId: string;
      readonly heartbeatIntervalMs: number;
      readonly leaseTtlMs: number;
      readonly reattached: readonly string[];
      readonly refused: readonly string[];
    }
  /** `now`: the broker's clock as it sends them, which the job timeouts left are counted from. */
  | { readonly kind: 'leases'; readonly leases: readonly Lease[]; readonly now: number }
  | { readonly kind: 'cancel'; readonly jobId: string; readonly reason: string }
  | { readonly kind: 'heartbeatAck'; readonly now: number }
  | { readonly kind: 'drain'; readonly graceMs: number }
  | { readonly kind: 'ackResult'; readonly outcomes: readonly AckRefusal[] };

export interface AckRefusal {
  readonly jobId: string;
  readonly status: 'stale' | 'unknown' | 'invalid';
  readonly message: string;
}

/** A job's payload and header bytes: about what its lease weighs on a stream or in a buffer. */
export function jobBytes(job: Pick<FetchedJob, 'payload' | 'headers'>): number {
  let bytes = job.payload.length;
  for (const key in job.headers) bytes += key.length + job.headers[key]!.length;
  return bytes;
}

/** The wire side of a session: the gRPC edge implements it over the Work stream. */
export interface SessionTransport {
  send(message: SessionMessage): void;
  /** Ends the stream; with an error, as that status. */
  close(error?: Error): void;
  /**
   * Bytes the stream takes before it counts as backed up (the worker does not
   * read what was sent); 0 while it is: the session gets no new leases until
   * it drains. A dispatch round grants a session about this many bytes at most.
   */
  writableBytes(): number;
  /**
   * A dispatch round stopped at those bytes: pump the session's queues once a
   * write completes below the mark again, though the stream never backed up.
   */
  notifyWhenWritable(): void;
}

/** One job handed to one session under a fencing token. */
export interface Lease {
  /**
   * Without its payload once the lease is sent (Grants.deliver): the
   * worker has it, and a job may run for minutes.
   */
  job: FetchedJob;
  readonly token: string;
  readonly attempt: number;
  /** When this broker granted (or adopted) the lease. */
  readonly leasedAt: number;
  /** When the job's timeout revokes the lease (0 = no timeout). */
  readonly deadline: number;
  /** The session that holds it; undefined while orphaned (its stream ended). */
  session: Session | undefined;
  /** Last sign of life of the holder; an orphan expires lease TTL after it. */
  lastSeenAt: number;
  /** An ack or revocation is in flight: further acks are refused. */
  settling: boolean;
  timeoutTimer: NodeJS.Timeout | undefined;
  /** The broker's dispatch span (jobs that carry a trace context only). */
  span: Span | undefined;
}

/**
 * Lifecycle, only forwards: OPEN (receives leases while it has free capacity) →
 * DRAINING (worker asked for no more leases) → CLOSED (stream ended; its leases
 * are orphans until re-attached by a reconnecting worker or expired).
 */
export type SessionState = 'OPEN' | 'DRAINING' | 'CLOSED';

export class Session {
  state: SessionState = 'OPEN';
  readonly leases = new Map<string, Lease>();
  /** Leases chosen for this session whose Redis write is still in flight. */
  reserved = 0;
  /** Their bytes: not on the stream yet, but its budget is theirs. */
  private reservedBytes = 0;
  /** The queue of the jobs last chosen for this session (see queuesInTurn). */
  private lastServedQueue = '';
  /** Welcome has gone out: the worker knows its session and may be sent Cancel. */
  private welcomed = false;
  /** Leases re-attached here and moved to another session before Welcome went out (see loseLease). */
  private readonly lostBeforeWelcome = new Set<string>();

  constructor(
    readonly id: string,
    readonly workerId: string,
    readonly queues: readonly string[],
    /** Dedicated worker: only these tenants. Undefined = all tenants. */
    readonly tenants: ReadonlySet<string> | undefined,
    /**
     * Tenants the worker's token may act for (undefined = all): it acks and
     * reports progress only on leases of these. Wider than `tenants` when
     * Hello named fewer than the token's, or re-attached leases of others.
     */
    readonly scope: ReadonlySet<string> | undefined,
    public capacity: number,
    public lastSeenAt: number,
    readonly transport: SessionTransport,
  ) {}

  get free(): number {
    return this.state === 'OPEN' && this.writableBytes > 0
      ? Math.max(0, this.capacity - this.leases.size - this.reserved)
      : 0;
  }

  /** Bytes of leases the stream takes before it backs up, less those already chosen for it. */
  get writableBytes(): number {
    return Math.max(0, this.transport.writableBytes() - this.reservedBytes);
  }

  /** Jobs chosen for this session; their lease write to Redis starts. */
  reserve(jobs: readonly FetchedJob[]): void {
    this.reserved += jobs.length;
    for (const job of jobs) {
      this.reservedBytes += jobBytes(job);
      this.lastServedQueue = job.queue;
    }
  }

  /**
   * Its queues in the order they are offered its free slots: from the one
   * after the queue it was last served from, wrapping round. Why: each queue's
   * dispatcher fills every slot it is offered, so offered in Hello order, a
   * first queue with a backlog took every slot that came free and the
   * session's other queues got nothing until it ran dry.
   */
  queuesInTurn(): readonly string[] {
    const next = this.queues.indexOf(this.lastServedQueue) + 1;
    if (next === 0 || next === this.queues.length) return this.queues;
    return [...this.queues.slice(next), ...this.queues.slice(0, next)];
  }

  /** Their lease write ended: sent to the worker, skipped, or failed. */
  unreserve(jobs: readonly FetchedJob[]): void {
    this.reserved -= jobs.length;
    for (const job of jobs) this.reservedBytes -= jobBytes(job);
  }

  /** Slots held for a direct dispatch whose jobs (and so their bytes) are not read yet. */
  reserveSlots(count: number): void {
    this.reserved += count;
  }

  unreserveSlots(count: number): void {
    this.reserved -= count;
  }

  readonly accepts = (tenant: string): boolean =>
    this.tenants === undefined || this.tenants.has(tenant);

  /** Whether the worker's token may act on a lease of `tenant`. */
  mayActFor(tenant: string): boolean {
    return this.scope === undefined || this.scope.has(tenant);
  }

  send(message: SessionMessage): void {
    if (this.state !== 'CLOSED') this.transport.send(message);
  }

  /**
   * Sends Welcome, with the leases re-attached here that another session
   * took meanwhile among the refused ones.
   */
  welcome(message: Extract<SessionMessage, { kind: 'welcome' }>): void {
    const lost = this.lostBeforeWelcome;
    this.welcomed = true;
    this.send({
      ...message,
      reattached: message.reattached.filter((jobId) => !lost.has(jobId)),
      refused: [...message.refused, ...message.reattached.filter((jobId) => lost.has(jobId))],
    });
    lost.clear();
  }

  /**
   * A lease of this session moved to another one (a Hello re-attached it
   * there): the worker is told to stop the job, in Cancel, or, before its
   * Welcome (two Hellos naming it at once), by that Welcome refusing it. A
   * Cancel before Welcome would name a job of a session the worker does not
   * know yet, and Welcome would then list it re-attached.
   */
  loseLease(jobId: string): void {
    if (this.welcomed) this.send({ kind: 'cancel', jobId, reason: 'lease lost' });
    else this.lostBeforeWelcome.add(jobId);
  }
}
