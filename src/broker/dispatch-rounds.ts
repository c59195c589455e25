import type { Clock, FairScheduler, TenantLimits } from '../scheduler/index.js';
import type { FetchedJob } from '../store/types.js';
import { timerDelay } from './due-times.js';
import type { PrefetchBuffers } from './prefetch-buffers.js';
import { jobBytes, type Session } from './session.js';

export interface DispatchRoundsDeps {
  readonly queue: string;
  readonly sessions: ReadonlySet<Session>;
  readonly scheduler: FairScheduler;
  readonly prefetch: PrefetchBuffers;
  readonly limits: TenantLimits;
  /** The limits' own clock (monotonic): the scheduler's wake-ups'. */
  readonly limitsClock: Clock;
  /** Hands jobs chosen for a session to the lease path (which writes them to Redis). */
  grant(session: Session, jobs: FetchedJob[]): void;
  /** A dispatch took the tenant's buffer down to half its target: read more. */
  refill(tenant: string): void;
  /** A dispatch has made room under the bound: the tenants waiting for it get their turns. */
  admitWaiting(): void;
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
  private sessionCursor = 0;
  private stopped = false;

  constructor(private readonly deps: DispatchRoundsDeps) {}

  /** Runs a dispatch round soon; many calls in one tick make one round. */
  pump(): void {
    if (this.pumpScheduled || this.stopped) return;
    this.pumpScheduled = true;
    setImmediate(() => {
      this.pumpScheduled = false;
      this.dispatch();
    });
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

  private dispatch(): void {
    if (this.stopped) return;
    this.deps.admitWaiting();
    const sessions = [...this.deps.sessions];
    for (let i = 0; i < sessions.length; i++) {
      this.serve(sessions[(this.sessionCursor + i) % sessions.length]!);
    }
    this.sessionCursor = (this.sessionCursor + 1) % Math.max(1, sessions.length);
    this.armWakeTimer();
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
        if (buffer!.length <= prefetch.target(tenant) / 2) this.deps.refill(tenant);
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
