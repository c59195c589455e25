import type { Clock, FairScheduler, TenantLimits } from '../scheduler/index.js';
import type { FetchedJob } from '../store/types.js';
import { timerDelay } from './due-times.js';
import type { PrefetchBuffers } from './prefetch-buffers.js';
import { jobBytes, type Session } from './session.js';

export interface DispatchRoundsDeps {
  readonly queue: string;
  /** Rotated by each round over them (see dispatch). */
  readonly sessions: Set<Session>;
  readonly scheduler: FairScheduler;
  readonly prefetch: PrefetchBuffers;
  readonly limits: TenantLimits;
  /** The limits' own clock (monotonic): the scheduler's wake-ups'. */
  readonly limitsClock: Clock;
  /** Hands jobs chosen for a session to the lease path (which writes them to Redis). */
  grant(session: Session, jobs: FetchedJob[]): void;
  /** A dispatch left the tenant's buffer wanting a read (see PrefetchBuffers.wantsRead). */
  refill(tenant: string): void;
  /** A dispatch has made room under the bound: the tenants waiting for it get their turns. */
  admitWaiting(): void;
  /** A round has ended (free slots may be left with nothing to give them). */
  afterRound(): void;
}

/**
 * The sessions of one queue served round by round: the FairScheduler says
 * which tenant is next, and its buffered jobs go to the sessions with free
 * capacity.
 */
export class DispatchRounds {
  private wakeTimer: NodeJS.Timeout | undefined;
  private wakeTimerAt = Infinity;
  private pumpScheduled = false;
  /** The next round goes over every session, not only those of pumpFor. */
  private everySession = false;
  /** Sessions whose room may have grown since the last round (see pumpFor). */
  private readonly grown = new Set<Session>();
  /** The scheduler's joins when the last round began. */
  private joinsSeen = 0;
  private stopped = false;

  constructor(private readonly deps: DispatchRoundsDeps) {}

  /**
   * Runs a round over every session soon (jobs were buffered, limits
   * changed); many calls in one tick make one round.
   */
  pump(): void {
    this.everySession = true;
    this.schedule();
  }

  /**
   * Runs a round soon for a session whose room may have grown: a lease of it
   * ended, its stream drained, its capacity rose (undefined: a lease no
   * session held ended). Only such sessions are served, unless a tenant has
   * entered the scheduler's ring since the last round began: then every
   * session, since one that a round left with free slots could take it. A
   * round over every session per lease that ended cost O(sessions) per ack:
   * with 1,000 worker streams, most of them full or with nothing to take.
   */
  pumpFor(session: Session | undefined): void {
    if (session) this.grown.add(session);
    this.schedule();
  }

  /**
   * Fills one session's free slots at once (its worker has just acked some),
   * so their lease writes go to Redis ahead of whatever the caller writes
   * next. Only that session: a round over every session per ack message
   * would cost O(sessions) per message where pump() runs once per turn.
   */
  serveNow(session: Session): void {
    if (this.stopped || !this.deps.sessions.has(session)) return;
    this.serve(session);
    this.armWakeTimer();
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.wakeTimer);
  }

  private schedule(): void {
    if (this.pumpScheduled || this.stopped) return;
    this.pumpScheduled = true;
    setImmediate(() => {
      this.pumpScheduled = false;
      this.dispatch();
    });
  }

  /**
   * One round. It ends once no tenant is ready, not after every session: a
   * session has nothing to take then, and with many sessions idle the rounds
   * that each ack, fetch and wake-up ask for found nothing to give again and
   * again.
   */
  private dispatch(): void {
    if (this.stopped) return;
    const { scheduler, sessions } = this.deps;
    this.deps.admitWaiting();
    const every = this.everySession || scheduler.joins !== this.joinsSeen;
    this.everySession = false;
    this.joinsSeen = scheduler.joins;
    for (const session of every ? sessions : this.grown) {
      if (scheduler.readyNow() === 0) break;
      if (every || sessions.has(session)) this.serve(session);
    }
    this.grown.clear();
    // The next round over every session starts at the one after this round's
    // first, so none is first (and offered the most) every time.
    const first = every ? sessions.values().next() : undefined;
    if (first && !first.done) {
      sessions.delete(first.value);
      sessions.add(first.value);
    }
    // A tenant that entered the ring during the round (its token came) may
    // be for sessions this round did not serve.
    if (scheduler.joins !== this.joinsSeen) this.schedule();
    this.armWakeTimer();
    this.deps.afterRound();
  }

  /** Grants the session the jobs its free slots and stream take, in DRR order. */
  private serve(session: Session): void {
    const { scheduler, prefetch } = this.deps;
    const free = session.free;
    if (free === 0) {
      // Out of bytes (stream backed up, or leases chosen for it still on their
      // way): the stream's next write completion brings the session back.
      if (session.state === 'OPEN' && session.writableBytes === 0) {
        session.transport.notifyWhenWritable();
      }
      return;
    }
    const accept = session.tenants ? session.accepts : undefined;
    const jobs: FetchedJob[] = [];
    // A round grants at most what the stream takes before it backs up (plus one job).
    let bytes = session.writableBytes;
    while (jobs.length < free && bytes > 0) {
      const tenant = scheduler.next(accept);
      if (tenant === undefined) break;
      const buffer = prefetch.buffers.get(tenant);
      const job = buffer?.shift();
      if (!job) {
        // The scheduler's count and the buffer disagree; give the slot back.
        this.deps.limits.onRelease(tenant, this.deps.queue);
        scheduler.setAvailable(tenant, 0);
        continue;
      }
      jobs.push(job);
      const size = jobBytes(job);
      bytes -= size;
      prefetch.taken(size);
      if (!prefetch.drained.has(tenant)) {
        if (prefetch.wantsRead(tenant, buffer!)) this.deps.refill(tenant);
      } else if (buffer!.length === 0) {
        prefetch.buffers.delete(tenant);
      }
    }
    if (bytes <= 0) session.transport.notifyWhenWritable();
    if (jobs.length > 0) {
      session.reserve(jobs);
      this.deps.grant(session, jobs);
      this.deps.admitWaiting();
    }
  }

  /** One timer for the earliest token a throttled tenant gets: no polling. */
  private armWakeTimer(): void {
    const at = this.deps.scheduler.nextWakeAt();
    if (at === undefined || at >= this.wakeTimerAt) return;
    clearTimeout(this.wakeTimer);
    this.wakeTimerAt = at;
    this.wakeTimer = setTimeout(
      () => {
        this.wakeTimerAt = Infinity;
        this.pump();
      },
      timerDelay(at - this.deps.limitsClock()),
    );
  }
}
