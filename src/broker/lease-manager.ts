import type { Logger } from 'pino';
import type { Clock, TenantLimits } from '../scheduler/index.js';
import type { HeldEntry, JobStore } from '../store/job-store.js';
import type { FailOutcome, FetchedJob, JobRecord } from '../store/types.js';
import { BrokerError, coerceError } from './errors.js';
import { ThrottledWarning } from './throttled-warning.js';
import { newLeaseToken, newSessionId } from './ids.js';
import type { QueueDispatcher } from './dispatcher.js';
import type { BrokerObserver, Settlement } from './observer.js';
import { Session, type AckRefusal, type Lease, type SessionTransport } from './session.js';
import { isName, MAX_DELAY_MS, MAX_ERROR_LENGTH, MAX_PROGRESS_BYTES } from './validation.js';
import { checkCapacity, checkHello, type HelloInput, type InFlightRef } from './hello.js';

const MAX_CONTENT_TYPE_BYTES = 128;
const WRITE_RETRY_MS = 1000;

export interface LeaseSettings {
  readonly leaseTtlMs: number;
  readonly heartbeatIntervalMs: number;
  readonly maxSessionCapacity: number;
  readonly maxPayloadBytes: number;
}

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
  /** The dispatcher of a queue, created on first use. */
  dispatcher(queue: string): QueueDispatcher;
  /** Sees every lease start and end (traces, metrics, stats). */
  readonly observer: BrokerObserver;
}

export interface CompleteInput {
  readonly jobId: string;
  readonly token: string;
  readonly result: Buffer;
  /** Media type of the result ('' = not given). */
  readonly resultContentType: string;
}

export interface FailInput {
  readonly jobId: string;
  readonly token: string;
  readonly message: string;
  readonly retryable: boolean;
  readonly retryAfterMs: number;
}

/**
 * Sessions and their leases: the heartbeat contract.
 *
 * Every message from a worker proves its session alive. A session silent for
 * the lease TTL is closed. When a session closes (silence, stream error, or the
 * worker hanging up) its leases become orphans: a reconnecting worker can
 * re-attach them with Hello.in_flight, and those still orphaned lease TTL after
 * the holder's last sign of life expire as failed attempts. Independently, the
 * broker renews its claim on every entry it holds in Redis (one XCLAIM per
 * stream per tick), so brokers only reclaim each other's entries when the
 * holder itself has died.
 */
export class LeaseManager {
  private readonly sessions = new Map<string, Session>();
  private readonly leases = new Map<string, Lease>();
  private readonly orphans = new Set<Lease>();
  /**
   * Leases a worker has acknowledged whose outcome is being written to Redis.
   * The worker is done with them, so they no longer take a slot of its session
   * (see claim); the tenant's in-flight count keeps them until written.
   */
  private readonly recording = new Set<Lease>();
  private stopped = false;

  private readonly progressNotStored: ThrottledWarning;

  constructor(private readonly deps: LeaseManagerDeps) {
    this.progressNotStored = new ThrottledWarning(
      deps.logger,
      'progress not stored (it is best effort); the job runs on',
    );
  }

  get sessionCount(): number {
    return this.sessions.size;
  }

  /** Sessions connected and the leases they can hold in all. */
  capacity(): { sessions: number; capacity: number } {
    let capacity = 0;
    for (const session of this.sessions.values()) capacity += session.capacity;
    return { sessions: this.sessions.size, capacity };
  }

  async open(hello: HelloInput, transport: SessionTransport): Promise<Session> {
    const { settings } = this.deps;
    checkHello(hello, settings.maxSessionCapacity);
    const tenants = hello.tenants.length > 0 ? new Set(hello.tenants) : undefined;
    const session = new Session(
      newSessionId(),
      hello.workerId,
      [...new Set(hello.queues)],
      tenants,
      hello.capacity,
      this.deps.livenessClock(),
      transport,
    );
    const { reattached, refused } = await this.reattach(session, hello.inFlight);
    this.sessions.set(session.id, session);
    session.send({
      kind: 'welcome',
      sessionId: session.id,
      heartbeatIntervalMs: settings.heartbeatIntervalMs,
      leaseTtlMs: settings.leaseTtlMs,
      reattached,
      refused,
    });
    for (const queue of session.queues) this.deps.dispatcher(queue).addSession(session);
    this.deps.logger.info(
      {
        sessionId: session.id,
        workerId: session.workerId,
        queues: session.queues,
        capacity: session.capacity,
      },
      'worker session opened',
    );
    return session;
  }

  /** Any message from the worker. */
  touch(session: Session): void {
    session.lastSeenAt = this.deps.livenessClock();
  }

  heartbeat(session: Session): void {
    this.touch(session);
    session.send({ kind: 'heartbeatAck', now: this.deps.clock() });
  }

  credit(session: Session, capacity: number): void {
    this.touch(session);
    checkCapacity(capacity, this.deps.settings.maxSessionCapacity);
    session.capacity = capacity;
    this.pumpQueues(session);
  }

  drain(session: Session): void {
    this.touch(session);
    if (session.state === 'OPEN') session.state = 'DRAINING';
  }

  /** The stream ended, failed or the session went silent: its leases become orphans. */
  close(session: Session, error?: Error): void {
    if (session.state === 'CLOSED') return;
    session.state = 'CLOSED';
    this.sessions.delete(session.id);
    for (const queue of session.queues) this.deps.dispatcher(queue).removeSession(session);
    for (const lease of session.leases.values()) {
      lease.session = undefined;
      lease.lastSeenAt = session.lastSeenAt;
      this.orphans.add(lease);
    }
    session.leases.clear();
    session.transport.close(error);
    this.deps.logger.info(
      { sessionId: session.id, workerId: session.workerId, error: error?.message },
      'worker session closed',
    );
  }

  /** Jobs chosen by a dispatcher for this session: lease them in Redis, then send them. */
  grant(session: Session, jobs: FetchedJob[]): void {
    const grants = jobs.map((job) => ({ job, token: newLeaseToken() }));
    const now = this.deps.clock();
    this.deps.store.lease(grants, now).then(
      (attempts) => {
        session.unreserve(jobs);
        this.deliver(session, grants, attempts, now);
      },
      (error: unknown) => {
        session.unreserve(jobs);
        for (const job of jobs) this.deps.limits.onRelease(job.tenant, job.queue);
        // The jobs stay in our pending list unrenewed; reclaim returns them after the lease TTL.
        this.deps.logger.error({ err: error, sessionId: session.id }, 'leasing jobs failed');
        this.pumpQueues(session);
      },
    );
  }

  /**
   * Leases written to Redis (by the lease script, or by a direct dispatch's
   * fetch) go to the worker; `attempts[i]` 0 means grant i was not leased.
   *
   * When the session closed while they were written, each goes to another
   * session of its queue with a free slot, as it is (its token and attempt are
   * valid; no worker has seen it). Why: left to expire with the closed
   * session's leases, a job no worker had seen lost an attempt and waited a
   * lease TTL and a backoff (with max_attempts 1 it went to the dead letters
   * without having run). With no free slot anywhere it does expire.
   */
  deliver(
    session: Session,
    grants: ReadonlyArray<{ job: FetchedJob; token: string }>,
    attempts: readonly number[],
    leasedAt: number,
  ): void {
    const granted: Lease[] = [];
    const registered: Lease[] = [];
    const now = this.deps.clock();
    grants.forEach(({ job, token }, i) => {
      const attempt = attempts[i] ?? 0;
      if (attempt === 0) {
        // Cancelled or re-queued since it was prefetched.
        this.deps.limits.onRelease(job.tenant, job.queue);
        return;
      }
      const deadline = job.timeoutMs > 0 ? leasedAt + job.timeoutMs : 0;
      const holder =
        session.state === 'CLOSED'
          ? (this.deps.dispatcher(job.queue).sessionWithRoomFor(job.tenant) ?? session)
          : session;
      const lease = this.register(job, token, attempt, deadline, holder);
      registered.push(lease);
      if (holder === session) granted.push(lease);
      else holder.send({ kind: 'leases', leases: [lease], now });
    });
    if (granted.length > 0) session.send({ kind: 'leases', leases: granted, now });
    // Sent (the messages hold the payloads until written), or orphaned unseen.
    for (const lease of registered) lease.job = withoutPayload(lease.job);
    if (granted.length < grants.length) this.pumpQueues(session);
  }

  async acknowledge(
    session: Session,
    completes: readonly CompleteInput[],
    fails: readonly FailInput[],
  ): Promise<void> {
    this.touch(session);
    const refusals: AckRefusal[] = [];
    const maxResult = this.deps.settings.maxPayloadBytes;
    const completing = completes
      .filter((ack) =>
        acceptable(
          ack.jobId,
          (ack.result.length > maxResult &&
            `result is ${ack.result.length} bytes; the limit is ${maxResult}. Fail the job or store the result elsewhere`) ||
            contentTypeProblem('result_content_type', ack.resultContentType),
          refusals,
        ),
      )
      .map((ack) => ({ ack, lease: this.claim(ack.jobId, ack.token, refusals) }))
      .filter((item): item is { ack: CompleteInput; lease: Lease } => item.lease !== undefined);
    const failing = fails
      .filter((fail) =>
        acceptable(
          fail.jobId,
          fail.retryAfterMs > MAX_DELAY_MS &&
            `retry_after_ms is ${fail.retryAfterMs}; it must be at most ${MAX_DELAY_MS} (365 days)`,
          refusals,
        ),
      )
      .map((fail) => ({ fail, lease: this.claim(fail.jobId, fail.token, refusals) }))
      .filter((item): item is { fail: FailInput; lease: Lease } => item.lease !== undefined);

    if (refusals.length > 0) session.send({ kind: 'ackResult', outcomes: refusals });
    if (completing.length > 0 || failing.length > 0) {
      // Now, not on the next turn: the leases of the slots just freed go to
      // Redis ahead of this ack's write, and the worker has its next jobs
      // while Redis records these.
      for (const queue of session.queues) this.deps.dispatcher(queue).serveNow(session);
    }
    await this.record(session, completing, failing);
  }

  /**
   * Writes acknowledged outcomes to Redis. While Redis is unreachable they are
   * kept (their leases stay settling, so nothing expires them) and written again
   * every second until Redis answers: an ack the worker sent is never dropped.
   * A failed write may have been recorded all the same (Redis ran the scripts,
   * the replies were lost): the scripts answer such an ack again as recorded,
   * and `resent` tells the store it was sent before.
   */
  private async record(
    session: Session,
    completing: ReadonlyArray<{ ack: CompleteInput; lease: Lease }>,
    failing: ReadonlyArray<{ fail: FailInput; lease: Lease }>,
    resent = false,
  ): Promise<void> {
    if (completing.length === 0 && failing.length === 0) return;
    const now = this.deps.clock();
    let completed: Awaited<ReturnType<JobStore['complete']>>;
    let failed: FailOutcome[];
    try {
      [completed, failed] = await Promise.all([
        this.deps.store.complete(
          completing.map(({ ack, lease }) => ({
            tenant: lease.job.tenant,
            queue: lease.job.queue,
            jobId: ack.jobId,
            token: ack.token,
            result: ack.result,
            resultContentType: ack.resultContentType,
            entry: lease.job.entry,
            priority: lease.job.priority,
          })),
          now,
          resent,
        ),
        this.deps.store.fail(
          failing.map(({ fail, lease }) => ({
            tenant: lease.job.tenant,
            queue: lease.job.queue,
            jobId: fail.jobId,
            token: fail.token,
            message: fail.message.slice(0, MAX_ERROR_LENGTH),
            retryable: fail.retryable,
            retryAfterMs: fail.retryAfterMs,
          })),
          now,
        ),
      ]);
    } catch (error) {
      if (this.stopped) return;
      this.deps.logger.warn(
        { err: error, acks: completing.length + failing.length },
        'recording acks failed; retrying in 1 s',
      );
      const retry = setTimeout(
        () => void this.record(session, completing, failing, true),
        WRITE_RETRY_MS,
      );
      retry.unref();
      return;
    }
    const refusals: AckRefusal[] = [];
    completing.forEach(({ lease }, i) => {
      const outcome = completed[i] ?? 'unknown';
      if (outcome !== 'ok') refusals.push(storeRefusal(lease.job.id, outcome));
      this.finish(lease, { result: outcome === 'ok' ? 'completed' : 'stale', cause: 'ack' });
    });
    failing.forEach(({ fail, lease }, i) => {
      const outcome = failed[i] ?? { kind: 'unknown' };
      if (outcome.kind === 'stale' || outcome.kind === 'unknown') {
        refusals.push(storeRefusal(lease.job.id, outcome.kind));
      }
      this.afterFailure(lease, outcome, 'fail', fail.message);
    });
    if (refusals.length > 0) session.send({ kind: 'ackResult', outcomes: refusals });
  }

  async progress(
    session: Session,
    jobId: string,
    token: string,
    data: Buffer,
    contentType: string,
  ): Promise<void> {
    this.touch(session);
    const lease = this.leases.get(jobId);
    let refusal: AckRefusal | undefined;
    const problem =
      (data.length > MAX_PROGRESS_BYTES &&
        `progress is ${data.length} bytes; the limit is ${MAX_PROGRESS_BYTES}`) ||
      contentTypeProblem('content_type', contentType);
    if (problem) {
      refusal = { jobId, status: 'invalid', message: problem };
    } else if (!lease || lease.token !== token) {
      refusal = { jobId, status: 'stale', message: 'this lease is not current' };
    } else {
      let outcome: Awaited<ReturnType<JobStore['progress']>>;
      try {
        outcome = await this.deps.store.progress(lease.job.tenant, jobId, token, data, contentType);
      } catch (error) {
        // Progress is best effort, and a worker may report it often: while
        // Redis is full or down, one line per second, not an error per message.
        this.progressNotStored.warn({ jobId, reason: coerceError(error).message });
        return;
      }
      if (outcome !== 'ok') refusal = storeRefusal(jobId, outcome);
    }
    if (refusal) session.send({ kind: 'ackResult', outcomes: [refusal] });
  }

  /** The job was cancelled (here or on another broker): tell the worker holding it. */
  revoke(jobId: string, reason: string): void {
    const lease = this.leases.get(jobId);
    if (!lease) return;
    lease.session?.send({ kind: 'cancel', jobId, reason });
    this.finish(lease, { result: 'cancelled', cause: 'cancel' });
  }

  /**
   * Revokes the leases whose job was cancelled meanwhile. Called once this
   * broker listens again after its pub/sub connection was down: the
   * cancellations announced then were lost, and their workers ran the jobs to
   * the end, their results refused. A job that no longer exists counts as
   * cancelled: with ROTA_COMPLETED_RETENTION_MS 0 a cancel deletes the job,
   * and nothing else deletes a leased one (its lease is ended here first).
   */
  async revokeCancelled(): Promise<void> {
    const leases = [...this.leases.values()].filter((lease) => !lease.settling);
    const states = await this.deps.store.jobStates(
      leases.map(({ job }) => ({ tenant: job.tenant, jobId: job.id })),
    );
    leases.forEach((lease, i) => {
      // An ack sent meanwhile (a completion with retention 0 deletes the job too) settles it.
      if (lease.settling || this.leases.get(lease.job.id) !== lease) return;
      if (states[i] === 'cancelled' || states[i] === undefined) {
        this.revoke(lease.job.id, 'cancelled');
      }
    });
  }

  /** Closes silent sessions and expires orphans whose holder has been gone a lease TTL. */
  sweep(): void {
    const now = this.deps.livenessClock();
    const ttl = this.deps.settings.leaseTtlMs;
    for (const session of this.sessions.values()) {
      if (now - session.lastSeenAt > ttl) {
        this.close(
          session,
          new BrokerError(
            'unavailable',
            `no message from the worker for ${ttl} ms (lease TTL); session closed`,
          ),
        );
      }
    }
    const expired = [...this.orphans].filter(
      (lease) => !lease.settling && now - lease.lastSeenAt > ttl,
    );
    if (expired.length > 0) {
      this.revokeAttempts(
        'expired',
        expired,
        `lease expired: the worker sent no heartbeat for ${ttl} ms`,
      );
    }
  }

  /** Every entry held for a lease, for renewal in Redis. */
  *heldEntries(): Iterable<HeldEntry> {
    for (const lease of this.leases.values()) yield lease.job;
  }

  /** Broker shutdown begins: no more leases; workers are told to finish within the grace period. */
  drainAll(graceMs: number): void {
    for (const session of this.sessions.values()) {
      if (session.state === 'OPEN') session.state = 'DRAINING';
      session.send({ kind: 'drain', graceMs });
    }
  }

  /** Leases held by open sessions, and acks being written (what a draining broker waits for). */
  get heldByWorkers(): number {
    let held = this.recording.size;
    for (const session of this.sessions.values()) held += session.leases.size;
    return held;
  }

  /** Broker shutdown: close every stream, keep the leases in Redis for recovery. */
  stop(error: Error): void {
    this.stopped = true;
    for (const session of [...this.sessions.values()]) this.close(session, error);
    for (const lease of this.leases.values()) {
      clearTimeout(lease.timeoutTimer);
      this.deps.observer.settled(lease, { result: 'left', cause: 'shutdown' });
    }
    this.leases.clear();
    this.recording.clear();
    this.orphans.clear();
  }

  private register(
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
      lease.session = undefined;
      lease.lastSeenAt = session.lastSeenAt;
      this.orphans.add(lease);
    } else {
      session.leases.set(job.id, lease);
    }
    if (adoptedLeasedAt === undefined) this.deps.observer.dispatched(lease, session);
    if (deadline > 0) this.armTimeout(lease, Math.max(0, deadline - this.deps.clock()));
    return lease;
  }

  /** Revokes the lease as timed out in `delayMs`, unless it has ended or is being acked by then. */
  private armTimeout(lease: Lease, delayMs: number): void {
    lease.timeoutTimer = setTimeout(() => {
      if (!lease.settling && this.leases.get(lease.job.id) === lease) {
        this.revokeAttempts('timeout', [lease], `timed out after ${lease.job.timeoutMs} ms`);
      }
    }, delayMs);
  }

  /**
   * The lease an ack names, marked settling and out of its session's slots;
   * undefined (and a refusal) when not current.
   *
   * Why the slot is free before Redis has the outcome: the worker finished the
   * job when it acked, and a slot held until the complete script answered
   * idled for that round trip. With no-op jobs (bench throughput, 2 workers ×
   * 100) every grant took a session's whole capacity, so lease script, work
   * and complete script ran one after another in lockstep. Freed here, and the
   * next leases written ahead of the complete (acknowledge): batch end to end
   * 21.4 / 21.9 / 22.3k → 23.2 / 24.0 / 24.2k jobs/s in alternating runs, the
   * noisy flood's drain 24.6 / 24.8k → 27.5 / 28.3k (quiet p50 7.6 → 9.0 ms,
   * p99 27–38 ms either way). Freeing the slot without the reordering gained
   * nothing: the lease script then queued behind the complete on the connection.
   */
  private claim(jobId: string, token: string, refusals: AckRefusal[]): Lease | undefined {
    const lease = this.leases.get(jobId);
    if (!lease || lease.token !== token) {
      refusals.push({
        jobId,
        status: 'stale',
        message:
          'this lease is not current (it expired, timed out, was cancelled or already acknowledged)',
      });
      return undefined;
    }
    if (lease.settling) {
      refusals.push({
        jobId,
        status: 'stale',
        message: 'this lease is already being acknowledged',
      });
      return undefined;
    }
    lease.settling = true;
    lease.session?.leases.delete(jobId);
    this.recording.add(lease);
    return lease;
  }

  /** Ends attempts without the worker (expiry, timeout): failed attempts, worker told to stop. */
  private revokeAttempts(cause: 'expired' | 'timeout', leases: Lease[], message: string): void {
    const reason = cause === 'timeout' ? 'timeout' : 'lease lost';
    for (const lease of leases) lease.settling = true;
    const failures = leases.map((lease) => ({
      tenant: lease.job.tenant,
      queue: lease.job.queue,
      jobId: lease.job.id,
      token: lease.token,
      message,
      retryable: true,
      retryAfterMs: 0,
    }));
    this.deps.store.fail(failures, this.deps.clock()).then(
      (outcomes) => {
        leases.forEach((lease, i) => {
          lease.session?.send({ kind: 'cancel', jobId: lease.job.id, reason });
          this.afterFailure(lease, outcomes[i] ?? { kind: 'unknown' }, cause, message);
        });
        // A timeout is one job's event (at debug, as every per-job line: under
        // load that was an info line per job); an expiry is one sweep's.
        this.deps.logger[cause === 'timeout' ? 'debug' : 'info'](
          { jobs: leases.map((l) => l.job.id), reason },
          'leases revoked',
        );
      },
      (error: unknown) => {
        for (const lease of leases) lease.settling = false;
        if (this.stopped) return;
        // An expired orphan is swept again; a timed-out lease sits on a live
        // session the sweep never looks at, so its timeout is armed again
        // (else the job stayed leased and its slot lost for good).
        if (cause === 'timeout') {
          for (const lease of leases) this.armTimeout(lease, WRITE_RETRY_MS);
        }
        this.deps.logger.error(
          { err: error, jobs: leases.map((l) => l.job.id), reason },
          cause === 'timeout'
            ? 'revoking leases failed; retrying in 1 s'
            : 'revoking leases failed; retrying on the next sweep',
        );
      },
    );
  }

  private afterFailure(
    lease: Lease,
    outcome: FailOutcome,
    cause: Settlement['cause'],
    error: string,
  ): void {
    const result = outcome.kind === 'unknown' ? 'stale' : outcome.kind;
    this.finish(lease, { result, cause, error });
    if (outcome.kind === 'retrying') {
      this.deps.dispatcher(lease.job.queue).onWork(lease.job.tenant, outcome.runAt);
    }
  }

  private finish(lease: Lease, settlement: Settlement): void {
    if (this.leases.get(lease.job.id) !== lease) return;
    this.deps.observer.settled(lease, settlement);
    this.leases.delete(lease.job.id);
    this.orphans.delete(lease);
    this.recording.delete(lease);
    lease.session?.leases.delete(lease.job.id);
    clearTimeout(lease.timeoutTimer);
    this.deps.limits.onRelease(lease.job.tenant, lease.job.queue);
    this.deps.dispatcher(lease.job.queue).pump();
  }

  /**
   * Re-attaches leases a reconnecting worker still runs whose token is still
   * the job's current one in Redis: ours (orphaned or held by its old
   * session), or another broker's (after a broker restart, or a move).
   * Adopting makes this broker the lease's holder, so the previous one can no
   * longer expire it. Ours are adopted too: the worker may have re-attached
   * one to another broker since (A → B → A), and an ack is recorded only by
   * the holder (complete.lua), so a lease taken over here without it had the
   * worker's valid Complete refused as stale, and B expired it and ran it again.
   *
   * Nothing moves before Redis has answered: a Hello that fails on Redis
   * leaves every lease as it was. Why: an orphan moved onto a session that
   * then never opened was neither orphaned nor held by a live session, so it
   * never expired, and its renewed entry was never reclaimed.
   */
  private async reattach(
    session: Session,
    inFlight: readonly InFlightRef[],
  ): Promise<{ reattached: string[]; refused: string[] }> {
    const reattached: string[] = [];
    const refused: string[] = [];
    const ours: InFlightRef[] = [];
    const lookups: InFlightRef[] = [];
    // A job named twice is adopted once: each adoption takes a slot of the
    // tenant's in-flight cap, and only one lease would ever give it back.
    const refs = new Map(inFlight.map((ref) => [ref.jobId, ref])).values();
    for (const ref of refs) {
      const lease = this.leases.get(ref.jobId);
      // Another token of ours may be a stale copy: Redis tells.
      if (!lease || !names(ref, lease)) lookups.push(ref);
      else if (lease.settling) refused.push(ref.jobId);
      else ours.push(ref);
    }
    const byTenant = new Map<string, string[]>();
    for (const ref of lookups)
      byTenant.set(ref.tenant, [...(byTenant.get(ref.tenant) ?? []), ref.jobId]);
    const records = new Map<string, JobRecord>();
    for (const [tenant, ids] of byTenant) {
      if (!isName(tenant)) continue;
      for (const record of await this.deps.store.getJobs(tenant, ids))
        records.set(record.id, record);
    }
    const candidates = lookups.filter((ref) => {
      const record = records.get(ref.jobId);
      const current =
        record !== undefined &&
        record.tenant === ref.tenant &&
        record.state === 'leased' &&
        record.leaseToken === ref.token &&
        record.entry !== '';
      if (!current) refused.push(ref.jobId);
      return current;
    });
    const adopting = [...ours, ...candidates];
    const won = await this.deps.store.adopt(
      adopting.map((ref) => ({ tenant: ref.tenant, jobId: ref.jobId, token: ref.token })),
    );
    adopting.forEach((ref, i) => {
      const held = this.leases.get(ref.jobId);
      const record = records.get(ref.jobId);
      if (!won[i]) {
        refused.push(ref.jobId);
      } else if (held && names(ref, held)) {
        // Ours, or another Hello adopted it while this one waited for Redis.
        (this.takeOver(held, ref, session) ? reattached : refused).push(ref.jobId);
      } else if (!record) {
        // Ours, and it ended while Redis answered.
        refused.push(ref.jobId);
      } else {
        const deadline = record.timeoutMs > 0 ? record.leasedAt + record.timeoutMs : 0;
        this.deps.limits.onDispatch(record.tenant, record.queue);
        // The reattaching worker holds the job already: no payload to keep.
        const job = withoutPayload(record);
        this.register(job, ref.token, record.attempts, deadline, session, record.leasedAt);
        reattached.push(ref.jobId);
      }
    });
    return { reattached, refused };
  }

  /** Moves a lease this broker holds, that `ref` names, to `session` unless it is being settled. */
  private takeOver(lease: Lease, ref: InFlightRef, session: Session): boolean {
    if (!names(ref, lease) || lease.settling) return false;
    this.move(lease, session);
    return true;
  }

  private move(lease: Lease, session: Session): void {
    lease.session?.leases.delete(lease.job.id);
    this.orphans.delete(lease);
    lease.session = session;
    session.leases.set(lease.job.id, lease);
  }

  private pumpQueues(session: Session): void {
    for (const queue of session.queues) this.deps.dispatcher(queue).pump();
  }
}

/** Whether a worker's in-flight `ref` is this lease (its token, of its job's tenant). */
function names(ref: InFlightRef, lease: Lease): boolean {
  return lease.token === ref.token && lease.job.tenant === ref.tenant;
}

/** Why a media type of a result or progress is refused, or false when it is not. */
function contentTypeProblem(field: string, value: string): string | false {
  const bytes = Buffer.byteLength(value);
  return (
    bytes > MAX_CONTENT_TYPE_BYTES &&
    `${field} is ${bytes} bytes; it must be at most ${MAX_CONTENT_TYPE_BYTES}`
  );
}

/** False, with an ACK_INVALID refusal, when the ack has a `problem`. */
function acceptable(jobId: string, problem: string | false, refusals: AckRefusal[]): boolean {
  if (problem === false) return true;
  refusals.push({ jobId, status: 'invalid', message: problem });
  return false;
}

function storeRefusal(jobId: string, outcome: 'stale' | 'unknown' | 'ok'): AckRefusal {
  return outcome === 'unknown'
    ? { jobId, status: 'unknown', message: 'no such job (wrong id, or its retention expired)' }
    : { jobId, status: 'stale', message: 'this lease is no longer the job\u2019s current lease' };
}

const NO_PAYLOAD = Buffer.alloc(0);

/**
 * The job as a lease keeps it once sent: every field but the payload (a lease
 * lives as long as its job runs, and the broker holds the leases of all its
 * workers).
 */
function withoutPayload(job: FetchedJob): FetchedJob {
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
