import type { Clock, FairScheduler, TenantLimits } from '../scheduler/index.js';
import type { FetchedJob } from '../store/types.js';
import type { PrefetchBuffers } from './prefetch-buffers.js';
import type { Session } from './session.js';

/**
 * How long the buffer of a tenant no session takes any more is kept after
 * its last session left: a worker that reconnects to this broker within it
 * finds its tenant's jobs here. Kept longer, they were out of reach of the
 * other brokers' workers (this broker renews them, so no sweep takes them)
 * until a worker came back here or the prefetch bound was reached: after a
 * worker moved to another broker, its tenant's read-ahead jobs waited for good.
 */
const UNSERVED_GRACE_MS = 2_000;

export interface ParkingDeps {
  readonly queue: string;
  readonly limits: TenantLimits;
  readonly sessions: ReadonlySet<Session>;
  readonly scheduler: FairScheduler;
  readonly prefetch: PrefetchBuffers;
  /** Monotonic: when a tenant's grace ends. */
  readonly clock: Clock;
  /** Gives jobs read ahead back to their streams, for any broker (ServedQueues.giveBack). */
  giveBack(jobs: readonly FetchedJob[]): void;
}

/** The tenants of a queue that no session here takes now, and their buffers. */
export class Parking {
  /**
   * Tenants with work that no session here takes (no session at all, or only
   * dedicated ones for other tenants), or that are paused: not fetched, so
   * their jobs hold no room, until a session that takes them joins or the
   * pause ends. A paused tenant's backlog read ahead held the bound until the
   * pause ended, and no other tenant of the queue was read meanwhile.
   */
  readonly parked = new Set<string>();
  /** Sessions that take every tenant (no dedicated list). */
  private sessionsForAll = 0;
  /** A session left: some buffer may be of a tenant no session takes any more. */
  #mayHoldUnservable = false;
  /**
   * Buffered tenants no session here takes, and when (clock) their grace
   * ends; in that order, as each is set a grace from now. A grace of its own
   * for each, not one timer that every session leaving restarted: while
   * sessions of other tenants came and went more often than the grace, a
   * tenant whose worker had moved to another broker kept its buffer here for
   * as long as that went on.
   */
  private readonly graceEnds = new Map<string, number>();
  private graceTimer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(private readonly deps: ParkingDeps) {}

  get mayHoldUnservable(): boolean {
    return this.#mayHoldUnservable;
  }

  /** A buffered tenant was paused: its buffer is let go when the room runs out (see room()). */
  pausedWithBuffer(): void {
    this.#mayHoldUnservable = true;
  }

  sessionJoined(session: Session): void {
    if (!session.tenants) this.sessionsForAll++;
    for (const tenant of this.graceEnds.keys()) {
      if (this.served(tenant)) this.graceEnds.delete(tenant);
    }
  }

  sessionLeft(session: Session): void {
    if (!session.tenants) this.sessionsForAll--;
    this.#mayHoldUnservable = true;
    this.startGraces();
  }

  /** Whether a session here takes the tenant's jobs now (and it is not paused). */
  served(tenant: string): boolean {
    if (this.deps.limits.paused(tenant, this.deps.queue)) return false;
    if (this.sessionsForAll > 0) return true;
    for (const session of this.deps.sessions) if (session.accepts(tenant)) return true;
    return false;
  }

  /**
   * Drops the buffers of tenants no session takes any more (their workers
   * left, or they were paused) at once: under the bound, held for nobody,
   * they would keep every other tenant waiting.
   */
  dropUnservable(): void {
    this.#mayHoldUnservable = false;
    const unserved = [...this.deps.prefetch.buffers.keys()].filter((t) => !this.served(t));
    this.park(unserved);
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.graceTimer);
  }

  /**
   * A read of the tenant was buffered: when no session here takes it (its last
   * left while the read was on its way), its grace starts now.
   */
  buffered(tenant: string): void {
    if (!this.served(tenant)) this.startGrace(tenant, this.deps.clock() + UNSERVED_GRACE_MS);
  }

  /** Each buffered tenant no session here takes now gets a grace. */
  private startGraces(): void {
    const endsAt = this.deps.clock() + UNSERVED_GRACE_MS;
    for (const tenant of this.deps.prefetch.buffers.keys()) {
      if (!this.served(tenant)) this.startGrace(tenant, endsAt);
    }
  }

  /** Unless one runs: other sessions leaving meanwhile do not put it off. */
  private startGrace(tenant: string, endsAt: number): void {
    if (this.stopped || this.graceEnds.has(tenant)) return;
    this.graceEnds.set(tenant, endsAt);
    this.armGraceTimer();
  }

  private armGraceTimer(): void {
    const [first] = this.graceEnds.values();
    if (this.graceTimer !== undefined || first === undefined) return;
    this.graceTimer = setTimeout(
      () => {
        this.graceTimer = undefined;
        this.endGraces();
      },
      Math.max(0, first - this.deps.clock()),
    );
    this.graceTimer.unref();
  }

  /** Parks the tenants whose grace is over and that no session here takes yet. */
  private endGraces(): void {
    const now = this.deps.clock();
    const over: string[] = [];
    for (const [tenant, endsAt] of this.graceEnds) {
      if (endsAt > now) break;
      this.graceEnds.delete(tenant);
      if (!this.served(tenant)) over.push(tenant);
    }
    this.park(over);
    this.armGraceTimer();
  }

  /**
   * Drops the tenants' buffers and parks them; their jobs go back to their
   * streams, for the workers of any broker. Left in this broker's pending
   * list (unrenewed), they reached nobody until a sweep found them idle past
   * the lease TTL (30 s and more by default), though a worker of another
   * broker had free slots.
   */
  private park(tenants: readonly string[]): void {
    const { prefetch, scheduler } = this.deps;
    const jobs: FetchedJob[] = [];
    for (const tenant of tenants) {
      if (!prefetch.buffers.has(tenant)) continue;
      for (const job of prefetch.trim(tenant, 0)) jobs.push(job);
      scheduler.setAvailable(tenant, 0);
      this.parked.add(tenant);
      this.graceEnds.delete(tenant);
    }
    if (jobs.length > 0) this.deps.giveBack(jobs);
  }
}
