import type { Logger } from 'pino';
import type { Clock, TenantLimits } from '../scheduler/index.js';
import type { HeldEntry, JobStore } from '../store/job-store.js';
import type { FailOutcome, FetchedJob } from '../store/types.js';
import type { QueueDispatcher } from './dispatcher.js';
import type { BrokerObserver, Settlement } from './observer.js';
import type { Lease, Session } from './session.js';
import type { ThrottledWarnings } from './throttled-warning.js';

export const WRITE_RETRY_MS = 1000;

export interface LeaseSettings {
  readonly leaseTtlMs: number;
  readonly heartbeatIntervalMs: number;
  readonly maxSessionCapacity: number;
  readonly maxPayloadBytes: number;
}

/** What the LeaseManager, and each of its parts, depends on. */
export interface LeaseManagerDeps {
  readonly store: JobStore;
  readonly limits: TenantLimits;
  /** The wall clock: lease times and deadlines, which Redis keeps and other brokers read. */
  readonly clock: Clock;
  /**
   * A monotonic clock: when each worker was last heard from. On the wall
   * clock, a step forward past the lease TTL (NTP, a VM resumed) closed every
   * session as silent, and their jobs ran again.
   */
  readonly livenessClock: Clock;
  readonly settings: LeaseSettings;
  readonly logger: Logger;
  readonly warnings: ThrottledWarnings;
  /** The dispatcher of a queue, created on first use. */
  dispatcher(queue: string): QueueDispatcher;
  /** Work for a tenant, told to this broker's dispatcher and the others' (ServedQueues.announceWork). */
  announceWork(queue: string, tenant: string, dueAt: number, priority?: number): void;
  /** Gives back leases no worker got (ServedQueues.giveBack). */
  giveBack(jobs: readonly FetchedJob[], tokens: readonly string[]): void;
  /** Sees every lease start and end (traces, metrics, stats). */
  readonly observer: BrokerObserver;
}

/**
 * The leases this broker holds, one per job: held by a session, orphaned, or
 * being recorded. Every lease starts here (register) and ends here (finish).
 */
export class HeldLeases {
  readonly leases = new Map<string, Lease>();
  readonly orphans = new Set<Lease>();
  /**
   * Leases a worker has acknowledged whose outcome is being written to Redis.
   * The worker is done with them, so they no longer take a slot of its session
   * (see Acknowledgements.claim); the tenant's in-flight count keeps them until
   * written.
   */
  readonly recording = new Set<Lease>();
  /** The broker stopped: failed writes are not tried again. */
  stopped = false;

  constructor(
    private readonly deps: LeaseManagerDeps,
    /** A lease's job timeout passed while it was neither ended nor being acked. */
    private readonly timedOut: (lease: Lease) => void,
  ) {}

  register(
    job: FetchedJob,
    token: string,
    attempt: number,
    deadline: number,
    session: Session,
    adoptedLeasedAt?: number,
  ): Lease {
    // A lease of ours for an earlier attempt is stale: Redis leased the job
    // anew, so another broker adopted that lease and ended it. Left in place,
    // it could no longer be settled (finish takes only the job's current
    // lease) and held a slot of the tenant's in-flight cap for good.
    const stale = this.leases.get(job.id);
    if (stale) {
      stale.session?.send({ kind: 'cancel', jobId: job.id, reason: 'lease lost' });
      this.finish(stale, { result: 'stale', cause: 'superseded' });
    }
    const lease: Lease = {
      job,
      token,
      attempt,
      deadline,
      session,
      // An adopted lease began on another broker: its run time counts from then.
      leasedAt: adoptedLeasedAt ?? this.deps.clock(),
      lastSeenAt: this.deps.livenessClock(),
      settling: false,
      timeoutTimer: undefined,
      span: undefined,
    };
    this.leases.set(job.id, lease);
    if (session.state === 'CLOSED') {
      // The stream closed while this lease's Redis write was in flight: no
      // worker will ack it, so it expires like the session's other leases.
      this.orphan(lease, session.lastSeenAt);
    } else {
      session.leases.set(job.id, lease);
    }
    if (adoptedLeasedAt === undefined) this.deps.observer.dispatched(lease, session);
    if (deadline > 0) this.armTimeout(lease, Math.max(0, deadline - this.deps.clock()));
    return lease;
  }

  /** Revokes the lease as timed out in `delayMs`, unless it has ended or is being acked by then. */
  armTimeout(lease: Lease, delayMs: number): void {
    lease.timeoutTimer = setTimeout(() => {
      if (!lease.settling && this.leases.get(lease.job.id) === lease) this.timedOut(lease);
    }, delayMs);
  }

  /** Its session is gone: it waits for a reconnect, or expires lease TTL after `lastSeenAt`. */
  orphan(lease: Lease, lastSeenAt: number): void {
    lease.session = undefined;
    lease.lastSeenAt = lastSeenAt;
    this.orphans.add(lease);
  }

  move(lease: Lease, session: Session): void {
    lease.session?.leases.delete(lease.job.id);
    this.orphans.delete(lease);
    lease.session = session;
    session.leases.set(lease.job.id, lease);
  }

  afterFailure(
    lease: Lease,
    outcome: FailOutcome,
    cause: Settlement['cause'],
    error: string,
  ): void {
    const result = outcome.kind === 'unknown' ? 'stale' : outcome.kind;
    this.finish(lease, { result, cause, error });
    if (outcome.kind === 'retrying') {
      // Other brokers too: told by this one only, a retry that came due waited
      // behind its busy workers, or with none left here for another broker's
      // recovery sweep (half a lease TTL), while that broker's workers idled.
      const { queue, tenant, priority } = lease.job;
      this.deps.announceWork(queue, tenant, outcome.runAt, priority);
    }
  }

  finish(lease: Lease, settlement: Settlement): void {
    if (this.leases.get(lease.job.id) !== lease) return;
    this.deps.observer.settled(lease, settlement);
    this.leases.delete(lease.job.id);
    this.orphans.delete(lease);
    this.recording.delete(lease);
    lease.session?.leases.delete(lease.job.id);
    clearTimeout(lease.timeoutTimer);
    // A stale lease may run on at the broker that holds it now, in a slot held here.
    if (settlement.result === 'stale')
      this.deps.limits.onLeaseLost(lease.job.tenant, lease.job.queue);
    else this.deps.limits.onRelease(lease.job.tenant, lease.job.queue);
    this.deps.dispatcher(lease.job.queue).pumpFor(lease.session);
  }

  /** Every entry held for a lease, for renewal in Redis. */
  *entries(): Iterable<HeldEntry> {
    for (const lease of this.leases.values()) yield lease.job;
  }

  /** Broker shutdown, its sessions closed: the leases stay in Redis for recovery. */
  leaveAll(): void {
    for (const lease of this.leases.values()) {
      clearTimeout(lease.timeoutTimer);
      this.deps.observer.settled(lease, { result: 'left', cause: 'shutdown' });
    }
    this.leases.clear();
    this.recording.clear();
    this.orphans.clear();
  }
}

const NO_PAYLOAD = Buffer.alloc(0);

/**
 * The job as a lease keeps it once sent: every field but the payload (a lease
 * lives as long as its job runs, and the broker holds the leases of all its
 * workers).
 */
export function withoutPayload(job: FetchedJob): FetchedJob {
  return {
    id: job.id,
    tenant: job.tenant,
    queue: job.queue,
    entry: job.entry,
    priority: job.priority,
    attempts: job.attempts,
    maxAttempts: job.maxAttempts,
    timeoutMs: job.timeoutMs,
    payload: NO_PAYLOAD,
    headers: job.headers,
    createdAt: job.createdAt,
    runAt: job.runAt,
  };
}
