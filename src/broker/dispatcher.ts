import { FairScheduler, WeightedLine, type Clock, type TenantLimits } from '../scheduler/index.js';
import type { JobStore } from '../store/job-store.js';
import type { PrefetchUse } from '../telemetry/metrics.js';
import type { FetchedJob, FetchRequest, FetchResult } from '../store/types.js';
import { newLeaseToken } from './ids.js';
import { BoundedSet } from './bounded-set.js';
import { DueTimes, timerDelay } from './due-times.js';
import { jobBytes, type Session } from './session.js';

/** Dispatches taken for a tenant whose fetch leases at once: its session and one token each. */
interface DirectSlots {
  readonly session: Session;
  readonly tokens: string[];
}

/** A fetch the dispatcher has decided on (the tenant is marked fetching until its result). */
export interface PlannedFetch extends FetchRequest {
  readonly direct: DirectSlots | undefined;
  /** Bytes the fetch is expected to bring (count × the job size known), held against the bound. */
  readonly expectedBytes: number;
}

/** The hard bound of a queue's prefetch buffers (see QueueDispatcher). */
export interface PrefetchBound {
  /** Most jobs the buffers hold. */
  readonly jobs: number;
  /** Most payload and header bytes the buffers hold (one job may go past it). */
  readonly bytes: number;
  /** The largest job the broker accepts: the size assumed before a fetch tells. */
  readonly maxJobBytes: number;
}

export interface DispatcherDeps {
  readonly store: JobStore;
  readonly limits: TenantLimits;
  /** The wall clock: due times of delayed jobs and retries (stored in Redis, shared by brokers). */
  readonly clock: Clock;
  /** The limits' own clock (monotonic): the scheduler's, and its wake-ups'. */
  readonly limitsClock: Clock;
  readonly prefetch: PrefetchBound;
  /** Hands jobs chosen for a session to the lease path (which writes them to Redis). */
  grant(session: Session, jobs: FetchedJob[]): void;
  /** Sends jobs a direct dispatch has leased already (`attempts[i]` > 0). */
  deliver(
    session: Session,
    grants: ReadonlyArray<{ job: FetchedJob; token: string }>,
    attempts: readonly number[],
    leasedAt: number,
  ): void;
  /** A fetch that tenant×queue could not do; retried on the next doorbell or sweep. */
  onError(error: unknown, context: string): void;
  /** A tenant with work was held back by its rate limit or in-flight cap. */
  onHeldBack(tenant: string): void;
  /** A tenant's fetch waits for room: the buffers hold what the bound allows (prefetchUse() says how much). */
  onBoundReached(): void;
  /** A session joined with free slots and nothing to give them: tell the other brokers. */
  onIdleRoom(): void;
}

/**
 * How long the buffers of tenants no session takes any more are kept after a
 * session leaves: a worker that reconnects to this broker within it finds its
 * tenants' jobs here. Kept longer, they were out of reach of the other
 * brokers' workers (this broker renews them, so no sweep takes them) until a
 * worker came back here or the prefetch bound was reached: after a worker moved
 * to another broker, its tenant's read-ahead jobs waited for good.
 */
const UNSERVED_GRACE_MS = 2_000;

/** Retired tenants a queue's dispatcher remembers (about 8 MB of names). */
const MAX_RETIRED_REMEMBERED = 100_000;

/**
 * Prefetch: each active tenant keeps a small buffer of jobs already read into
 * this broker's pending list, so a dispatch never waits on Redis. The buffer is
 * refilled when it falls to half. Its size is the tenant's share of a budget
 * per queue, with a floor of PREFETCH_MIN jobs (one when jobs are big), so a
 * tenant's jobs still go out in runs of a few per lease and complete call.
 * The shares alone do not bound memory: past about 2,000 active tenants the
 * floors add up past the budget (10,000 tenants buffered 37,300 jobs; 1,000
 * tenants with 256 KiB jobs 256 MiB against a budget of 64 MiB). So the
 * PrefetchBound holds as a hard bound: a fetch that would take the buffers
 * past it waits, its tenant in a line that is served in weighted turns
 * (WeightedLine) as dispatches make room.
 */
const PREFETCH_MAX = 512;
const PREFETCH_MIN = 4;
/** The job count the shares divide (the byte budget is the bound's). */
const PREFETCH_BUDGET = 8192;
/**
 * A rate-limited tenant buffers about this long of its rate, no more: a
 * backlog read into one broker's pending list is out of reach of the other
 * brokers' workers, and a tenant at 10 jobs/s had 512 jobs (51 s of its
 * rate) held by whichever broker fetched first.
 */
const PREFETCH_RATE_SECONDS = 1;
/**
 * Dispatches per visit of a tenant of weight 1 (the DRR quantum). More than 1
 * keeps a tenant's jobs together in a grant, so the lease and complete scripts
 * (one per tenant per batch) carry several jobs each instead of one when many
 * tenants are active. Shares stay exact; a round, and so the longest wait of a
 * tenant that just got work, grows to this many dispatches per active tenant.
 * Measured (bench scale, end to end, 100 tenants against 1): quantum 1 lost
 * 23% of the throughput, 4 lost none (−0.6%, noise), 8 lost 2%.
 */
export const DISPATCH_QUANTUM = 4;
/** After a failed fetch, try the tenant again this much later. */
const FETCH_RETRY_MS = 1000;
/** After a failed mark of a tenant in the Redis index, mark it again this much later. */
const MARK_RETRY_MS = 1000;
/**
 * Most jobs a direct dispatch leases in its fetch. It serves a job that arrives
 * while workers wait (the common case at low and moderate rates) one Redis
 * round trip sooner; more than a few would lease jobs of unknown size past
 * the stream's byte budget, and a burst goes through the buffer anyway.
 */
const DIRECT_MAX = 4;
/**
 * How long another broker's word that it has idle workers of the queue holds
 * (it says so each ROOM_ANNOUNCE_MS while it has; see Broker).
 */
const ROOM_ELSEWHERE_HELD_MS = 2_500;
/**
 * How long a broker with no free slot for a tenant waits before it reads the
 * tenant's new jobs, while another broker has idle workers: that broker's
 * doorbell fetch takes them in a few ms. Read at once, they sat in this
 * broker's buffer until one of its own busy workers freed a slot (minutes,
 * with long jobs) while the other broker's workers idled.
 */
const ARRIVAL_YIELD_MS = 20;

/**
 * Dispatch of one queue: asks the pure FairScheduler which tenant is next and
 * hands that tenant's buffered jobs to the sessions with free capacity.
 */
export class QueueDispatcher {
  readonly sessions = new Set<Session>();
  private readonly scheduler: FairScheduler;
  private readonly buffers = new Map<string, FetchedJob[]>();
  private readonly fetching = new Set<string>();
  /** Refills asked for in this turn, sent together. */
  private readonly fetchWants: PlannedFetch[] = [];
  /** New work was announced while a fetch was in flight: fetch again after it. */
  private readonly refetch = new Set<string>();
  /**
   * Tenants whose last fetch came back short: their streams had nothing more
   * to hand out, so emptying the buffer does not fetch again (at low rates that
   * was a second, empty round trip per job); new work (onWork) does.
   */
  private readonly drained = new Set<string>();
  /** Mean job size (bytes) of each tenant's last fetch; unknown until its first. */
  private readonly jobSize = new Map<string, number>();
  /**
   * A tenant's job size until its own is known: the largest mean of a fetch in
   * this queue, and before the first the largest a job may be, so a burst of
   * new tenants cannot take the buffers past the bound on a guess.
   */
  private queueJobSize: number | undefined;
  /** What the buffers hold, and what the fetches in flight are expected to add. */
  private readonly held = { jobs: 0, bytes: 0 };
  private readonly expected = { jobs: 0, bytes: 0 };
  /** Tenants whose fetch waits for room under the bound, in weighted turns. */
  private readonly waiting = new WeightedLine();
  /**
   * Tenants with work that no session here takes (no session at all, or only
   * dedicated ones for other tenants), or that are paused: not fetched, so
   * their jobs hold no room, until a session that takes them joins or the
   * pause ends. A paused tenant's backlog read ahead held the bound until the
   * pause ended, and no other tenant of the queue was read meanwhile.
   */
  private readonly parked = new Set<string>();
  /** Sessions that take every tenant (no dedicated list). */
  private sessionsForAll = 0;
  /** A session left: some buffer may be of a tenant no session takes any more. */
  private mayHoldUnservable = false;
  private unservedTimer: NodeJS.Timeout | undefined;
  /**
   * Tenants taken out of the Redis index as idle; a doorbell puts them back.
   * Bounded: a broker that retired a million tenants of a queue kept 81 MB of
   * names. Forgetting one long retired only skips a redundant mark, since every
   * path that creates work marks the index itself (JobStore.enqueue, replay).
   */
  private readonly retired = new BoundedSet<string>(MAX_RETIRED_REMEMBERED);
  /** Earliest known run time of each tenant's delayed jobs, and this broker's short waits. */
  private readonly due: DueTimes;
  private wakeTimer: NodeJS.Timeout | undefined;
  private wakeTimerAt = Infinity;
  private pumpScheduled = false;
  private sessionCursor = 0;
  private stopped = false;
  private readonly unsubscribeLimits: () => void;
  /** Until then (limits clock) another broker has idle workers of this queue. */
  private roomElsewhereUntil = 0;
  /** Tenants whose due time is the end of an arrival yield (see planFetch), not a job's. */
  private readonly yielded = new Set<string>();
  /** Fetches sent (or claimed by an enqueue) and not answered yet. */
  private unanswered = 0;
  private answeredWaiters: Array<() => void> = [];

  constructor(
    readonly queue: string,
    private readonly deps: DispatcherDeps,
  ) {
    this.scheduler = new FairScheduler({
      queue,
      quantum: DISPATCH_QUANTUM,
      limits: deps.limits,
      clock: deps.limitsClock,
      onHeldBack: (tenant) => deps.onHeldBack(tenant),
    });
    this.unsubscribeLimits = deps.limits.onChange((tenant) => this.limitsChanged(tenant));
    this.due = new DueTimes(deps.clock, deps.limitsClock, (tenant) => this.onDue(tenant));
  }

  /** A tenant's settings changed (or a lease of it ended): a pause may have begun or ended. */
  private limitsChanged(tenant: string): void {
    if (this.parked.has(tenant)) {
      if (this.served(tenant)) {
        this.parked.delete(tenant);
        this.refill(tenant, true);
      }
    } else if (this.buffers.has(tenant) && this.deps.limits.paused(tenant, this.queue)) {
      // Its buffer is let go when the room runs out (see room()).
      this.mayHoldUnservable = true;
    }
  }

  /** A tenant has (or may have) new work: runnable now, or at `dueAt`. */
  onWork(tenant: string, dueAt?: number): void {
    this.noteWork(tenant);
    if (dueAt !== undefined && dueAt > this.deps.clock()) this.due.runAt(tenant, dueAt);
    else this.refill(tenant, true);
  }

  /**
   * An enqueue through this broker is storing runnable jobs of the tenant: as
   * onWork, except that the fetch it needs, if any, is returned for the enqueue
   * script to do (a claim, see JobStore.enqueue) instead of being sent. Its
   * result goes to onFetched, its failure to onFetchFailed.
   */
  claim(tenant: string): PlannedFetch | undefined {
    this.noteWork(tenant);
    const want = this.planFetch(tenant, true);
    if (want) this.unanswered++;
    return want;
  }

  /**
   * Resolves once every fetch sent has answered (after stop: their jobs are
   * then in the buffers, for Broker.releaseBuffered).
   */
  fetchesAnswered(): Promise<void> {
    if (this.unanswered === 0) return Promise.resolve();
    return new Promise((resolve) => this.answeredWaiters.push(resolve));
  }

  private answered(count: number): void {
    this.unanswered -= count;
    if (this.unanswered > 0) return;
    for (const resolve of this.answeredWaiters.splice(0)) resolve();
  }

  private noteWork(tenant: string): void {
    this.drained.delete(tenant);
    if (this.retired.delete(tenant)) this.markActive(tenant);
  }

  /**
   * Puts a tenant back in the Redis index, again each second until Redis takes
   * it: a retirement whose SREM landed before Redis failed would otherwise
   * leave a tenant with work outside the index, where the recovery sweep of
   * any broker looks, until its next enqueue. An extra mark only costs the
   * sweep a fetch that finds the tenant empty. Only the first failure is
   * logged: during an outage the retries would log a line per tenant a second.
   */
  private markActive(tenant: string, retrying = false): void {
    this.deps.store.markActive(this.queue, tenant).catch((error: unknown) => {
      if (!retrying) {
        this.deps.onError(
          error,
          `re-marking tenant ${tenant} active in ${this.queue}; again each second until Redis takes it`,
        );
      }
      if (this.stopped) return;
      setTimeout(() => this.stopped || this.markActive(tenant, true), MARK_RETRY_MS).unref();
    });
  }

  /** Another broker said it has idle workers of this queue (Doorbell.announceRoom). */
  roomElsewhere(): void {
    this.roomElsewhereUntil = this.deps.limitsClock() + ROOM_ELSEWHERE_HELD_MS;
  }

  /** Whether a session here has free slots and no tenant has jobs ready for it. */
  hasIdleRoom(): boolean {
    if (this.scheduler.ready > 0) return false;
    for (const session of this.sessions) if (session.free > 0) return true;
    return false;
  }

  addSession(session: Session): void {
    this.sessions.add(session);
    if (!session.tenants) this.sessionsForAll++;
    for (const tenant of session.tenants ?? [...this.parked]) {
      if (this.parked.delete(tenant)) this.refill(tenant, true);
    }
    if (this.hasIdleRoom()) this.deps.onIdleRoom();
    this.pump();
  }

  removeSession(session: Session): void {
    if (!this.sessions.delete(session)) return;
    if (!session.tenants) this.sessionsForAll--;
    this.mayHoldUnservable = true;
    clearTimeout(this.unservedTimer);
    this.unservedTimer = setTimeout(() => {
      if (!this.stopped && this.mayHoldUnservable) this.dropUnservable();
    }, UNSERVED_GRACE_MS);
    this.unservedTimer.unref();
  }

  /** Whether a session here takes the tenant's jobs now (and it is not paused). */
  private served(tenant: string): boolean {
    if (this.deps.limits.paused(tenant, this.queue)) return false;
    if (this.sessionsForAll > 0) return true;
    for (const session of this.sessions) if (session.accepts(tenant)) return true;
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
  private dropUnservable(): void {
    this.mayHoldUnservable = false;
    for (const [tenant, buffer] of this.buffers) {
      if (this.served(tenant)) continue;
      for (const job of buffer) {
        this.held.jobs--;
        this.held.bytes -= jobBytes(job);
      }
      this.buffers.delete(tenant);
      this.scheduler.setAvailable(tenant, 0);
      this.parked.add(tenant);
    }
  }

  /** Jobs this broker holds in its pending list without a lease (to renew them). */
  *bufferedJobs(): Iterable<FetchedJob> {
    for (const buffer of this.buffers.values()) yield* buffer;
  }

  /** Whether the dispatcher is already following the tenant (buffer, fetch, line, timer or park). */
  follows(tenant: string): boolean {
    return (
      this.buffers.has(tenant) ||
      this.fetching.has(tenant) ||
      this.waiting.has(tenant) ||
      this.due.has(tenant) ||
      this.parked.has(tenant)
    );
  }

  /**
   * Whether the dispatcher reads the tenant's streams again by itself: a buffer
   * it refills, a fetch in flight, a turn in the line for room, or a park that
   * a session's arrival ends. A tenant followed only for a delayed job (read at
   * its due time) or whose last fetch came back short is not: new entries of
   * it wait for a doorbell, and one that was lost for the sweep.
   */
  readsAgain(tenant: string): boolean {
    return (
      (this.buffers.has(tenant) && !this.drained.has(tenant)) ||
      this.fetching.has(tenant) ||
      this.waiting.has(tenant) ||
      this.parked.has(tenant)
    );
  }

  prefetchUse(): PrefetchUse {
    return { jobs: this.held.jobs, bytes: this.held.bytes, waiting: this.waiting.size };
  }

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
    if (this.stopped || !this.sessions.has(session)) return;
    this.serve(session);
    this.armWakeTimer();
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.unservedTimer);
    this.unsubscribeLimits();
    this.scheduler.dispose();
    this.due.stop();
    clearTimeout(this.wakeTimer);
  }

  private dispatch(): void {
    if (this.stopped) return;
    this.admitWaiting();
    const sessions = [...this.sessions];
    for (let i = 0; i < sessions.length; i++) {
      this.serve(sessions[(this.sessionCursor + i) % sessions.length]!);
    }
    this.sessionCursor = (this.sessionCursor + 1) % Math.max(1, sessions.length);
    this.armWakeTimer();
  }

  /** Grants the session the jobs its free slots and stream take, in DRR order. */
  private serve(session: Session): void {
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
      const tenant = this.scheduler.next(accept);
      if (tenant === undefined) break;
      const buffer = this.buffers.get(tenant);
      const job = buffer?.shift();
      if (!job) {
        // The scheduler's count and the buffer disagree; give the slot back.
        this.deps.limits.onRelease(tenant, this.queue);
        this.scheduler.setAvailable(tenant, 0);
        continue;
      }
      jobs.push(job);
      const size = jobBytes(job);
      bytes -= size;
      this.held.jobs--;
      this.held.bytes -= size;
      if (!this.drained.has(tenant)) {
        if (buffer!.length <= this.prefetchTarget(tenant) / 2) this.refill(tenant);
      } else if (buffer!.length === 0) {
        this.buffers.delete(tenant);
      }
    }
    if (bytes <= 0) session.transport.notifyWhenWritable();
    if (jobs.length > 0) {
      session.reserve(jobs);
      this.deps.grant(session, jobs);
      this.admitWaiting();
    }
  }

  /**
   * How many jobs of the tenant to keep buffered: its share of the count and
   * byte budgets, by weight. Why by weight: when the budgets are tight (many
   * tenants, big jobs) a tenant's buffer is all the DRR sees of its backlog; a
   * tenant of weight 4 with one job buffered was dispatched as often as one of
   * weight 1 with one. A tenant under an in-flight cap buffers its cap
   * (PREFETCH_MIN at least), no more, as a rate-limited one buffers its rate:
   * at max_in_flight 1, with its lease held, it read the whole bound ahead (512
   * jobs, or 64 MiB of big ones), and no other tenant of the queue was read
   * until that lease ended.
   */
  private prefetchTarget(tenant: string): number {
    const tenants = Math.max(1, this.buffers.size);
    const weight = this.deps.limits.weight(tenant, this.queue);
    const count = Math.max(
      PREFETCH_MIN,
      Math.min(
        PREFETCH_MAX,
        Math.floor((PREFETCH_BUDGET * weight) / tenants),
        Math.ceil(this.deps.limits.rate(tenant, this.queue) * PREFETCH_RATE_SECONDS),
        this.deps.limits.maxInFlight(tenant, this.queue),
      ),
    );
    const size = this.jobSize.get(tenant);
    if (size === undefined) return PREFETCH_MIN; // a first, small fetch learns the job size
    const share = Math.floor((this.deps.prefetch.bytes * weight) / tenants / Math.max(1, size));
    return Math.max(1, Math.min(count, share));
  }

  /**
   * How many jobs of `size` bytes the bound has room for now, counting the
   * fetches in flight at their expected size. One job always fits while room
   * is left, so a job bigger than the byte bound is not kept out for good.
   * With no room left, first lets go of buffers no session takes any more
   * (see dropUnservable).
   */
  private room(size: number): number {
    const room = this.roomNow(size);
    if (room > 0 || !this.mayHoldUnservable) return room;
    this.dropUnservable();
    return this.roomNow(size);
  }

  private roomNow(size: number): number {
    const jobs = this.deps.prefetch.jobs - this.held.jobs - this.expected.jobs;
    const bytes = this.deps.prefetch.bytes - this.held.bytes - this.expected.bytes;
    if (jobs <= 0 || bytes <= 0) return 0;
    return size > 0 ? Math.min(jobs, Math.max(1, Math.floor(bytes / size))) : jobs;
  }

  /**
   * Whether the buffers themselves hold at least half the bound. Only then is a
   * wait for room worth a warning that asks for more memory: a wait the fetches
   * in flight cause ends as they answer, and before a queue's first answer each
   * expects jobs of the largest size allowed (a fresh queue of small jobs was
   * "bound reached" with nothing buffered).
   */
  private boundHeld(): boolean {
    const { jobs, bytes } = this.deps.prefetch;
    return this.held.jobs * 2 >= jobs || this.held.bytes * 2 >= bytes;
  }

  private expectedSize(tenant: string): number {
    return this.jobSize.get(tenant) ?? this.queueJobSize ?? this.deps.prefetch.maxJobBytes;
  }

  /** Starts the fetches of waiting tenants, in their turns, while the bound has room. */
  private admitWaiting(): void {
    for (let tenant = this.waiting.peek(); tenant !== undefined; tenant = this.waiting.peek()) {
      if (this.room(this.expectedSize(tenant)) === 0) return;
      this.waiting.shift();
      this.refill(tenant, false, true);
    }
  }

  /**
   * `direct`: new work arrived, so the fetch may lease at once (see
   * takeDirectSlots). `admitted`: the tenant's turn in the line has come.
   * `cameDue`: a due time passed (delayed jobs or retries may be runnable now).
   */
  private refill(tenant: string, direct = false, admitted = false, cameDue = false): void {
    const want = this.planFetch(tenant, direct, admitted, cameDue);
    if (!want) return;
    this.fetchWants.push(want);
    if (this.fetchWants.length === 1) queueMicrotask(() => this.fetchWanted());
  }

  /** The fetch the tenant needs now, marked in flight; none while one is (it runs again after). */
  private planFetch(
    tenant: string,
    direct: boolean,
    admitted = false,
    cameDue = false,
  ): PlannedFetch | undefined {
    if (this.stopped) return undefined;
    if (this.fetching.has(tenant)) {
      this.refetch.add(tenant);
      return undefined;
    }
    if (!this.served(tenant)) {
      this.parked.add(tenant);
      return undefined;
    }
    const buffer = this.buffers.get(tenant) ?? [];
    const wanted = this.prefetchTarget(tenant) - buffer.length;
    if (wanted <= 0) return undefined;
    if (
      (direct || cameDue) &&
      this.deps.limitsClock() < this.roomElsewhereUntil &&
      !this.sessionWithRoomFor(tenant)
    ) {
      // New jobs, no free slot here, idle workers elsewhere: theirs first (see
      // ARRIVAL_YIELD_MS). What is left is read when the yield is over. Jobs
      // that come due too: every broker reads them at the same time, and one
      // with busy workers read them ahead as often as not.
      this.yielded.add(tenant);
      this.due.after(tenant, ARRIVAL_YIELD_MS);
      return undefined;
    }
    const size = this.expectedSize(tenant);
    // While others wait in line, a tenant takes its turn there too, however
    // much room a dispatch has just freed: refilling at once, the tenants
    // already buffered kept the room to themselves, and those in line waited
    // until those had run out of jobs.
    const room = this.waiting.size > 0 && !admitted ? 0 : this.room(size);
    const count = Math.min(wanted, room);
    if (count === 0) {
      this.waiting.add(tenant);
      if (this.boundHeld()) this.deps.onBoundReached();
      return undefined;
    }
    this.fetching.add(tenant);
    if (admitted) this.waiting.charge(tenant, count, this.deps.limits.weight(tenant, this.queue));
    const expectedBytes = count * size;
    this.expected.jobs += count;
    this.expected.bytes += expectedBytes;
    const slots = direct && buffer.length === 0 ? this.takeDirectSlots(tenant, count) : undefined;
    return { tenant, count, direct: slots, leaseTokens: slots?.tokens, expectedBytes };
  }

  /** A planned fetch has answered (or failed): its expected jobs no longer hold room. */
  private settle({ count, expectedBytes }: PlannedFetch): void {
    this.expected.jobs -= count;
    this.expected.bytes -= expectedBytes;
  }

  /**
   * Direct dispatch: when no other tenant is ready here and a session has free
   * capacity, the DRR would hand this tenant's next jobs to that session the
   * moment they arrive; so take those dispatches from the scheduler now and
   * let the fetch lease the jobs it reads, saving the separate lease round
   * trip. Shares stay exact: the scheduler charges the tenant as for any
   * dispatch, and slots the fetch cannot fill are given back.
   */
  private takeDirectSlots(tenant: string, want: number): DirectSlots | undefined {
    if (this.scheduler.ready > 0) return undefined;
    const session = this.sessionWithRoomFor(tenant);
    if (!session) return undefined;
    const limit = Math.min(DIRECT_MAX, want, session.free);
    this.scheduler.setAvailable(tenant, limit);
    let count = 0;
    const onlyThis = (candidate: string): boolean => candidate === tenant;
    while (count < limit && this.scheduler.next(onlyThis) === tenant) count++;
    this.scheduler.setAvailable(tenant, 0);
    if (count === 0) return undefined;
    session.reserveSlots(count);
    return { session, tokens: Array.from({ length: count }, () => newLeaseToken()) };
  }

  /** A session of this queue that takes the tenant and has a free slot now. */
  sessionWithRoomFor(tenant: string): Session | undefined {
    for (const session of this.sessions) {
      if (session.free > 0 && session.accepts(tenant)) return session;
    }
    return undefined;
  }

  /** Gives back the slots of a direct dispatch its fetch did not fill. */
  private releaseDirectSlots(tenant: string, slots: DirectSlots, used: number): void {
    slots.session.unreserveSlots(slots.tokens.length);
    for (let i = used; i < slots.tokens.length; i++) this.deps.limits.onRelease(tenant, this.queue);
  }

  /**
   * Sends the refills asked for in this turn as one round trip: an enqueue
   * batch that wakes 1,000 tenants makes one fetch call, not 1,000.
   */
  private fetchWanted(): void {
    if (this.stopped) return;
    const wants = this.fetchWants.splice(0);
    const now = this.deps.clock();
    this.unanswered += wants.length;
    this.deps.store.fetch(this.queue, wants, now).then(
      (results) =>
        results.forEach((result, i) => {
          // One tenant's failed read: the others' results, leases among them, stand.
          if (result instanceof Error) this.onFetchFailed([wants[i]!], result);
          else this.onFetched(wants[i]!, result, now);
        }),
      (error: unknown) => this.onFetchFailed(wants, error),
    );
  }

  /** Fetches that failed (or whose enqueue did): each tenant is tried again a little later. */
  onFetchFailed(wants: readonly PlannedFetch[], error: unknown): void {
    for (const want of wants) {
      const { tenant, direct } = want;
      this.settle(want);
      // A direct lease Redis may have written expires after the lease TTL, as an unsent one.
      if (direct) this.releaseDirectSlots(tenant, direct, 0);
      this.fetching.delete(tenant);
      this.refetch.delete(tenant);
      this.due.after(tenant, FETCH_RETRY_MS);
    }
    this.deps.onError(error, `fetching ${wants.length} tenant(s) of queue ${this.queue}`);
    this.answered(wants.length);
    this.admitWaiting();
  }

  /** The result of a planned fetch (sent by fetchWanted, or claimed by an enqueue). */
  onFetched(want: PlannedFetch, result: FetchResult, fetchedAt: number): void {
    const { tenant, count, direct } = want;
    this.fetching.delete(tenant);
    this.settle(want);
    // Leases the fetch wrote exist in Redis: they are registered even when stopping.
    if (direct) {
      this.releaseDirectSlots(tenant, direct, result.leased);
      const grants = result.jobs
        .slice(0, result.leased)
        .map((job, i) => ({ job, token: direct.tokens[i]! }));
      if (grants.length > 0) {
        const attempts = grants.map(({ job }) => job.attempts + 1);
        this.deps.deliver(direct.session, grants, attempts, fetchedAt);
      }
    }
    if (this.stopped) {
      // Read after the stop began: buffered, so the shutdown gives them back
      // with the others. Dropped, they waited a lease TTL in this broker's
      // pending list, for the sweep of another broker.
      const late = result.jobs.slice(result.leased);
      if (late.length > 0) this.buffers.set(tenant, [...(this.buffers.get(tenant) ?? []), ...late]);
      this.answered(1);
      return;
    }
    this.answered(1);
    if (result.nextDueAt !== undefined) this.due.runAt(tenant, result.nextDueAt);
    let total = 0;
    let kept = 0; // the bytes of the jobs not leased at once, which go to the buffer
    result.jobs.forEach((job, i) => {
      const size = jobBytes(job);
      total += size;
      if (i >= result.leased) kept += size;
    });
    if (result.jobs.length > 0) {
      this.jobSize.set(tenant, total / result.jobs.length);
      this.queueJobSize = Math.max(this.queueJobSize ?? 0, total / result.jobs.length);
    }
    if (result.jobs.length < count) this.drained.add(tenant);
    else this.drained.delete(tenant);
    const current = this.buffers.get(tenant) ?? [];
    for (const job of result.jobs.slice(result.leased)) insertByPriority(current, job);
    this.held.jobs += result.jobs.length - result.leased;
    this.held.bytes += kept;
    if (current.length > 0) {
      this.retired.delete(tenant);
      this.buffers.set(tenant, current);
      this.scheduler.setAvailable(tenant, current.length);
      this.pump();
    } else if (result.idle) {
      this.retire(tenant);
    } else {
      // Work exists but not here (leased elsewhere, or delayed): park until a doorbell or timer.
      this.buffers.delete(tenant);
      this.scheduler.setAvailable(tenant, 0);
    }
    if (this.refetch.delete(tenant)) this.refill(tenant);
    else if (result.jobs.length > 0 && !this.drained.has(tenant)) {
      // Still low after a full answer: jobs leased at once (the jobs a dispatch
      // takes from the buffer start its refills; these did not), or a fetch the
      // bound's room cut short. Under the bound, that puts the tenant back in
      // line while its jobs wait in the buffer, so one of weight w is there to
      // take w turns to another's one (see WeightedLine).
      if (current.length <= this.prefetchTarget(tenant) / 2) this.refill(tenant);
    }
    // Fewer or smaller jobs than expected (or some leased at once) leave room.
    this.admitWaiting();
  }

  /**
   * Nothing at all left for the tenant: drop it from the ring and from the Redis
   * index. The store keeps it in the index if a job was stored since the fetch
   * (JobStore.retire), and then it is followed again; new work after that
   * comes with its doorbell or enqueue (noteWork).
   */
  private retire(tenant: string): void {
    this.scheduler.remove(tenant);
    this.buffers.delete(tenant);
    this.drained.delete(tenant);
    this.jobSize.delete(tenant);
    this.waiting.forget(tenant);
    if (this.retired.has(tenant)) return;
    this.retired.add(tenant);
    this.deps.store.retire(this.queue, tenant).then(
      (retired) => {
        if (!retired && this.retired.delete(tenant)) this.refill(tenant);
      },
      (error: unknown) => {
        // Out of the index or not, a tenant that may have work is put back (again).
        this.deps.onError(error, `retiring tenant ${tenant} of ${this.queue}`);
        this.noteWork(tenant);
      },
    );
  }

  private onDue(tenant: string): void {
    this.drained.delete(tenant);
    this.refill(tenant, false, false, !this.yielded.delete(tenant));
  }

  /** One timer for the earliest token a throttled tenant gets: no polling. */
  private armWakeTimer(): void {
    const at = this.scheduler.nextWakeAt();
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

/**
 * Keeps a buffer ordered by priority, highest first and FIFO within a level, so a
 * high-priority job fetched after lower ones already buffered still goes first.
 */
function insertByPriority(buffer: FetchedJob[], job: FetchedJob): void {
  let index = buffer.length;
  while (index > 0 && buffer[index - 1]!.priority < job.priority) index--;
  buffer.splice(index, 0, job);
}
