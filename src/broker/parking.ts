import type { FairScheduler, TenantLimits } from '../scheduler/index.js';
import type { PrefetchBuffers } from './prefetch-buffers.js';
import type { Session } from './session.js';

/**
 * How long the buffers of tenants no session takes any more are kept after a
 * session leaves: a worker that reconnects to this broker within it finds its
 * tenants' jobs here. Kept longer, they were out of reach of the other
 * brokers' workers (this broker renews them, so no sweep takes them) until a
 * worker came back here or the prefetch bound was reached: after a worker moved
 * to another broker, its tenant's read-ahead jobs waited for good.
 */
const UNSERVED_GRACE_MS = 2_000;

export interface ParkingDeps {
  readonly queue: string;
  readonly limits: TenantLimits;
  readonly sessions: ReadonlySet<Session>;
  readonly scheduler: FairScheduler;
  readonly prefetch: PrefetchBuffers;
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
  private unservedTimer: NodeJS.Timeout | undefined;
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
  }

  sessionLeft(session: Session): void {
    if (!session.tenants) this.sessionsForAll--;
    this.#mayHoldUnservable = true;
    clearTimeout(this.unservedTimer);
    this.unservedTimer = setTimeout(() => {
      if (!this.stopped && this.#mayHoldUnservable) this.dropUnservable();
    }, UNSERVED_GRACE_MS);
    this.unservedTimer.unref();
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
   * left, or they were paused): under the bound, held for nobody, they would keep every other
   * tenant waiting; and UNSERVED_GRACE_MS after a session left, for the
   * workers of other brokers. Not renewed, their entries go back to the stream
   * when a sweep finds them idle past the lease TTL; a worker that takes the
   * tenant gets its other jobs at once, these after that.
   */
  dropUnservable(): void {
    this.#mayHoldUnservable = false;
    const { prefetch, scheduler } = this.deps;
    for (const [tenant, buffer] of prefetch.buffers) {
      if (this.served(tenant)) continue;
      prefetch.drop(tenant, buffer);
      scheduler.setAvailable(tenant, 0);
      this.parked.add(tenant);
    }
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.unservedTimer);
  }
}
