import { holdingTtls } from '../scheduler/index.js';
import { NO_SLOT, type LeaseSlots } from '../store/lease-writes.js';
import type { FetchedJob } from '../store/types.js';
import { withoutPayload, type HeldLeases, type LeaseManagerDeps } from './held-leases.js';
import { newLeaseToken } from './ids.js';
import type { Lease, Session } from './session.js';
import type { ThrottledWarning } from './throttled-warning.js';
import { WriteRetry } from './write-retry.js';

/** Jobs a dispatcher chose for a session, leased in Redis and sent to its worker. */
export class Grants {
  private readonly writeRetry: WriteRetry;
  private readonly slots: LeaseSlots;
  private readonly slotRefused: ThrottledWarning;

  constructor(
    private readonly deps: LeaseManagerDeps,
    private readonly held: HeldLeases,
  ) {
    this.writeRetry = new WriteRetry(deps.warnings, 'leasing jobs');
    this.slots = {
      caps: (tenant, queue) => deps.limits.slotCounts(tenant, queue),
      ttls: holdingTtls(deps.settings.leaseTtlMs),
    };
    this.slotRefused = deps.warnings.make(
      'Redis refused leases for want of a slot of a shared in-flight cap: this broker held fewer slots than it knew ' +
        '(they lapsed while Redis stalled, or one went along with a lease moved to another broker); ' +
        'the jobs went back to wait for a slot',
    );
  }

  /** Jobs chosen by a dispatcher for this session: lease them in Redis, then send them. */
  grant(session: Session, jobs: FetchedJob[]): void {
    this.write(
      session,
      jobs.map((job) => ({ job, token: newLeaseToken() })),
    );
  }

  /**
   * A write that failed may have leased the jobs all the same (Redis ran the
   * script, its reply was lost): it is written again, under the same tokens,
   * every second until Redis answers, and the script answers a lease its
   * earlier run wrote as leased. Given up, those leases went unheld, expired
   * after the lease TTL as failed attempts and ran again (with max_attempts 1:
   * dead without having run). Jobs reclaimed meanwhile (their entries go
   * unrenewed) are answered as not leased.
   */
  private write(session: Session, grants: ReadonlyArray<{ job: FetchedJob; token: string }>): void {
    const jobs = grants.map(({ job }) => job);
    const now = this.deps.clock();
    this.deps.store.lease(grants, now, this.slots).then(
      (attempts) => {
        session.unreserve(jobs);
        this.deliver(session, grants, attempts, now);
      },
      (error: unknown) => {
        if (this.held.stopped) {
          // Left in Redis: reclaim returns the jobs, or expires leases written, after the lease TTL.
          session.unreserve(jobs);
          for (const job of jobs) this.deps.limits.onRelease(job.tenant, job.queue);
          return;
        }
        this.writeRetry.retry(
          () => ({ err: error, sessionId: session.id, jobs: jobs.length }),
          () => this.write(session, grants),
        );
      },
    );
  }

  /**
   * Leases written to Redis (by the lease script, or by a direct dispatch's
   * fetch) go to the worker; `attempts[i]` 0 means grant i was not leased,
   * NO_SLOT that Redis found no slot of a shared in-flight cap for it: the
   * job goes back to its ready stream, for a broker that has one.
   *
   * When the session drained or closed while they were written, each goes to
   * another session of its queue with a free slot, as it is (its token and
   * attempt are valid; no worker has seen it), or else back to its ready
   * stream for any broker, its attempt not counted. Why: left to expire with
   * the closed session's leases, a job no worker had seen lost an attempt and
   * waited a lease TTL and a backoff (with max_attempts 1 it went to the dead
   * letters without having run). Sent to a draining one, which the protocol
   * promises no more leases, a worker with nothing left to run had ended its
   * stream by then, and the job waited a lease TTL all the same.
   */
  deliver(
    session: Session,
    grants: ReadonlyArray<{ job: FetchedJob; token: string }>,
    attempts: readonly number[],
    leasedAt: number,
  ): void {
    const granted: Lease[] = [];
    const registered: Lease[] = [];
    const givenBack: Array<{ job: FetchedJob; token: string }> = [];
    const now = this.deps.clock();
    grants.forEach(({ job, token }, i) => {
      const attempt = attempts[i] ?? 0;
      if (attempt === NO_SLOT) {
        this.slotRefused.warn({ tenant: job.tenant, queue: job.queue, jobId: job.id });
        this.deps.limits.onLeaseRefused(job.tenant, job.queue);
        givenBack.push({ job, token });
        return;
      }
      if (attempt === 0) {
        // Cancelled or re-queued since it was prefetched.
        this.deps.limits.onRelease(job.tenant, job.queue);
        return;
      }
      const deadline = job.timeoutMs > 0 ? leasedAt + job.timeoutMs : 0;
      const holder =
        session.state === 'OPEN'
          ? session
          : this.deps.dispatcher(job.queue).sessionWithRoomFor(job.tenant);
      if (holder === undefined) {
        this.deps.limits.onRelease(job.tenant, job.queue);
        givenBack.push({ job, token });
        return;
      }
      const lease = this.held.register(job, token, attempt, deadline, holder);
      registered.push(lease);
      if (holder === session) granted.push(lease);
      else holder.send({ kind: 'leases', leases: [lease], now });
    });
    if (granted.length > 0) session.send({ kind: 'leases', leases: granted, now });
    if (givenBack.length > 0) {
      this.deps.giveBack(
        givenBack.map(({ job }) => job),
        givenBack.map(({ token }) => token),
      );
    }
    // Sent (the messages hold the payloads until written), or orphaned unseen.
    for (const lease of registered) lease.job = withoutPayload(lease.job);
    if (granted.length < grants.length) this.pumpQueues(session);
  }

  /**
   * The session may have room for more (a lease of it ended unsent, its
   * capacity rose, its stream drained, slots held for it came back): its
   * queues' dispatchers look again, in its turn (Session.queuesInTurn).
   */
  pumpQueues(session: Session): void {
    for (const queue of session.queuesInTurn()) this.deps.dispatcher(queue).pumpFor(session);
  }
}
