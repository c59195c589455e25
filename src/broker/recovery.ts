import type { HeldEntry, RenewOutcome } from '../store/job-store.js';
import type { ReclaimOutcome } from '../store/types.js';
import { monotonicClock, type BrokerContext } from './broker-context.js';
import type { QueueDispatcher } from './dispatcher.js';
import type { ServedQueues } from './served-queues.js';
import type { ThrottledWarning } from './throttled-warning.js';

/**
 * Sweeps of a queue after its last worker here left, while tenants stay in its
 * index: orphaned leases wait a lease TTL to be re-attached or to expire, two
 * sweep intervals; the rest is margin.
 */
const TIDY_ROUNDS = 8;
/** How many queue×tenant pairs the line about lost entries names. */
const LOST_PAIRS_LOGGED = 20;

/**
 * The entries this broker holds in Redis, renewed so no other broker takes
 * them over, and the slow sweep that takes over those of a broker that died
 * and repairs a lost doorbell.
 */
export class Recovery {
  /** Queues whose sweep is running: a sweep that outlasts its interval is not started twice. */
  private readonly sweeping = new Set<string>();
  /** Queues swept once more when their running sweep ends (see missedDoorbells). */
  private readonly sweepAgain = new Set<string>();
  /** Before this time (monotonic) the sweep takes over no entry (see reconnected). */
  private reclaimFrom = 0;
  /** A renewal failed and none has succeeded since: the sweep takes over no entry (see renew). */
  private renewalsFailing = false;
  private readonly renewalFailed: ThrottledWarning;
  /** Held entries whose stream Redis lost (see forget), by entryKey. */
  private lost = new Set<string>();
  /** Queues swept here, and how many more sweeps each gets once its workers here have gone (see tidy). */
  private readonly leftBehind = new Map<string, number>();

  constructor(
    private readonly context: BrokerContext,
    private readonly queues: ServedQueues,
  ) {
    this.renewalFailed = context.warnings.make(
      'renewing held entries failed; the sweep takes over no entry until a renewal succeeds and a lease TTL has passed',
    );
  }

  /**
   * The Redis connection is (again) ready. After an outage, renew held entries
   * before any reclaim can take them as abandoned. And take none over for a
   * lease TTL: when Redis itself was down longer than the TTL, every broker's
   * entries are idle past it when it is back, and a broker that reconnected a
   * moment later than this one (up to ioredis's 2 s backoff) had its live
   * leases failed as "lease expired" and run again, its workers' acks refused
   * as stale.
   */
  reconnected(): void {
    this.reclaimFrom = monotonicClock() + this.context.config.leaseTtlMs;
    this.renew();
  }

  /**
   * Doorbells rung while the pub/sub connection was down were lost: each
   * queue served here is swept now, which finds their work. Left to the
   * periodic sweep, a job enqueued on another broker meanwhile waited up to
   * half a lease TTL (15 s by default) with this broker's workers idle. A
   * sweep running now may have passed its tenant already: the queue is swept
   * again after it, never twice at once.
   */
  missedDoorbells(): void {
    for (const queue of this.queues.names()) {
      if (this.sweeping.has(queue)) this.sweepAgain.add(queue);
      else this.recover(queue);
    }
  }

  recoverAll(): void {
    // Before the sweeps: a queue still to be tidied keeps its dispatcher.
    this.queues.dropIdle((queue) => this.leftBehind.has(queue) || this.sweeping.has(queue));
    for (const queue of this.queues.names()) this.recover(queue);
    for (const [queue, rounds] of this.leftBehind) {
      if ((this.queues.get(queue)?.sessions.size ?? 0) === 0) this.tidy(queue, rounds);
    }
    // Queues without sessions here, past their tidy: work announced here parks
    // its tenant, which may then leave the index elsewhere (see letGoParked).
    for (const queue of this.queues.names()) {
      const dispatcher = this.queues.get(queue)!;
      if (dispatcher.sessions.size > 0 || this.leftBehind.has(queue)) continue;
      if (!dispatcher.hasParked()) continue;
      this.run(queue, 'looking up parked tenants in the index failed', () =>
        this.letGoUnindexed(queue),
      );
    }
  }

  /**
   * The slow sweep of a queue: takes over entries whose holder died (idle past
   * the lease TTL) and follows the tenants of the Redis index that the
   * dispatcher does not know and that have something to fetch (entries nobody
   * read, or delayed jobs), and those it knows with entries nobody read that
   * it would not read by itself (see readsAgain), which repairs a lost doorbell
   * or a restart. A
   * tenant with nothing at all is fetched once, and that fetch drops it from
   * the index. Why not fetch every unknown tenant: with 10,000 tenants whose
   * jobs are all out with workers, each sweep fetched 10,000 empty tenants.
   */
  recover(queue: string): void {
    const dispatcher = this.queues.get(queue);
    if (!dispatcher || dispatcher.sessions.size === 0 || this.sweeping.has(queue)) return;
    this.leftBehind.set(queue, TIDY_ROUNDS);
    this.run(queue, 'recovery sweep failed', () => this.sweep(queue, dispatcher));
  }

  /**
   * A queue swept here whose workers here have all gone: its tenants with
   * nothing left leave the index, and so Redis deletes their streams (see
   * JobStore.retire). Why: the sweep of a queue runs only while it has
   * workers, and its fetches are what retire tenants, so a queue's last
   * tenants kept their keys for good (about 0.7 KB each; a queue per import
   * or per customer left thousands a day). Swept again each interval while
   * some tenant stays in the index (the leases of a worker that left expire
   * a lease TTL later), up to TIDY_ROUNDS times; a tenant with jobs waiting
   * keeps its keys for the next worker.
   */
  private tidy(queue: string, rounds: number): void {
    if (this.sweeping.has(queue)) return;
    if (rounds > 1) this.leftBehind.set(queue, rounds - 1);
    else this.leftBehind.delete(queue);
    this.run(queue, 'sweep of a queue without workers failed', async () => {
      if (await this.retireIdle(queue)) this.leftBehind.delete(queue);
    });
  }

  /** Runs a sweep of the queue unless one runs; one at a time per queue. */
  private run(queue: string, failed: string, sweep: () => Promise<void>): void {
    if (this.sweeping.has(queue)) return;
    this.sweeping.add(queue);
    sweep()
      .catch((error: unknown) => this.context.logger.error({ err: error, queue }, failed))
      .finally(() => {
        this.sweeping.delete(queue);
        if (this.sweepAgain.delete(queue)) this.recover(queue);
      });
  }

  private async sweep(queue: string, dispatcher: QueueDispatcher): Promise<void> {
    await this.reclaimPages(queue, (tenants, outcomes) => {
      outcomes.forEach((outcome, i) => {
        const tenant = tenants[i]!;
        const followed = dispatcher.follows(tenant);
        if (outcome.nextRunAt !== undefined && outcome.retrying > 0) {
          // Retries of expired leases made here: the other brokers are told
          // too, as of any retry (see HeldLeases.afterFailure).
          this.queues.announceWork(queue, tenant, outcome.nextRunAt);
        } else if (outcome.nextRunAt !== undefined) {
          // A followed tenant too (its earlier time known stays): followed for
          // a job delayed by an hour, one delayed by seconds whose doorbell
          // was lost waited that hour.
          dispatcher.onWork(tenant, outcome.nextRunAt);
        }
        const empty = outcome.pending === 0 && outcome.nextRunAt === undefined;
        // Unread entries of a followed tenant too: followed for a job delayed
        // by an hour, a lost doorbell's job waited that hour.
        const unread = outcome.unread && !dispatcher.readsAgain(tenant);
        if (outcome.requeued > 0 || unread || (!followed && empty)) {
          dispatcher.onWork(tenant);
        }
      });
    });
    dispatcher.swept();
  }

  /**
   * Retires the queue's tenants with nothing at all; whether every tenant of
   * the index went. Why not stop at the first sweep that found no entry out: a
   * tenant the dispatcher still followed then (a fetch on its way) was never
   * swept again, and kept its keys for good.
   */
  private async retireIdle(queue: string): Promise<boolean> {
    let settled = true;
    await this.reclaimPages(queue, (tenants, outcomes) => {
      outcomes.forEach(({ pending, nextRunAt, unread }, i) => {
        const idle = pending === 0 && nextRunAt === undefined && !unread;
        if (!idle || !this.queues.get(queue)?.retireIfIdle(tenants[i]!)) settled = false;
      });
    });
    await this.letGoUnindexed(queue);
    return settled;
  }

  /** Lets go of the queue's parked tenants that are not in its index (QueueDispatcher.letGoParked). */
  private async letGoUnindexed(queue: string): Promise<void> {
    const parked = this.queues.get(queue)?.parkedTenants() ?? [];
    if (parked.length === 0) return;
    const indexed = await this.context.store.inIndex(queue, parked);
    this.queues.get(queue)?.letGoParked(parked.filter((_, i) => !indexed[i]));
  }

  /**
   * One page of the index at a time (SSCAN's), each reclaimed and followed
   * before the next is read. Why: the sweep used to reclaim every tenant in one
   * pipeline and follow none until all had answered. With 200,000 jobs over
   * 50,000 tenants queued, a worker connecting to a fresh broker got its first
   * job after 6.5 s (after 144 ms with 1,000 tenants), and every command of
   * the broker queued behind that pipeline on its connection.
   */
  private async reclaimPages(
    queue: string,
    onPage: (tenants: string[], outcomes: ReclaimOutcome[]) => void | Promise<void>,
  ): Promise<void> {
    const { store, clock, logger, observer, limits } = this.context;
    // A lease reclaimed frees its slots of the tenant's shared caps (reclaim.lua).
    const capsOf = (tenant: string) => limits.sharedCaps(tenant, queue);
    for await (const tenants of store.activeTenantPages(queue)) {
      const outcomes = await store.reclaim(queue, tenants, this.reclaimIdleMs(), clock(), capsOf);
      outcomes.forEach((outcome, i) => {
        const tenant = tenants[i]!;
        if (outcome.retrying + outcome.dead + outcome.requeued > 0) {
          logger.warn({ tenant, queue, ...outcome }, 'reclaimed entries of a dead holder');
        }
        if (outcome.retrying + outcome.dead > 0) {
          observer.attemptsReclaimed(tenant, queue, outcome.retrying, outcome.dead);
        }
      });
      await onPage(tenants, outcomes);
    }
  }

  /**
   * How long an entry must have been idle for the sweep to take it over: the
   * lease TTL, or never while the connection is down or was re-established
   * less than a TTL ago (see reconnected). Asked per call: a sweep that began
   * during an outage sends its calls once Redis is back. Held back, the sweep
   * still follows the tenants it finds.
   */
  private reclaimIdleMs(): number {
    const holdBack =
      this.context.redis.status !== 'ready' ||
      this.renewalsFailing ||
      monotonicClock() < this.reclaimFrom;
    return holdBack ? Number.MAX_SAFE_INTEGER : this.context.config.leaseTtlMs;
  }

  /**
   * Renews the held entries. A renewal can fail with the connection up (Redis
   * busy with another client's slow script answers BUSY, a replica READONLY),
   * where no reconnect holds the sweep back: once Redis answered again, the
   * sweep took this broker's own entries, unrenewed since, as a dead holder's
   * (its workers' leases failed as "lease expired" and their jobs ran again).
   * So after a failed renewal the sweep takes over nothing until one succeeds,
   * and then not for a lease TTL, as after a reconnect: the other brokers'
   * renewals failed alike.
   */
  renew(): void {
    this.context.store.renew(this.heldEntries()).then(
      (outcome) => {
        if (this.renewalsFailing) {
          this.renewalsFailing = false;
          this.reclaimFrom = monotonicClock() + this.context.config.leaseTtlMs;
        }
        this.forget(outcome);
      },
      (error: unknown) => {
        this.renewalsFailing = true;
        this.renewalFailed.warn(() => ({ err: error }));
      },
    );
  }

  /**
   * Held entries whose stream Redis no longer has are not renewed again, and
   * when Redis lost its keys, said so once. Why: their renewal failed
   * (NOGROUP) on every tick until the worker acked or the buffer let the job
   * go: an error line every TTL/3 for as long as a job runs, for ever for the
   * buffered jobs of a paused tenant. And a stream made again under the same
   * key holds new entries; an old id renewed there could only match another's.
   * Their workers are answered as before: an ack of a job Redis lost is
   * answered ACK_UNKNOWN_JOB (or the lease was revoked, see
   * Revocation.revokeCancelledAndFindMoved), a buffered job is not leased.
   * When Redis kept its keys, their jobs ended elsewhere and the stream went
   * with its idle tenant (see JobStore.renew): nothing was lost, and only
   * debug says so.
   */
  private forget({ gone, keysLost }: RenewOutcome): void {
    // Renewals sent while Redis was down are all answered once it is back,
    // each naming the same lost entries: those are said once.
    const fresh = gone.filter((held) => !this.lost.has(entryKey(held)));
    if (fresh.length === 0) return;
    for (const held of fresh) this.lost.add(entryKey(held));
    const pairs = new Set(fresh.map(({ tenant, queue }) => `${queue}/${tenant}`));
    const said = { entries: fresh.length, queues: [...pairs].slice(0, LOST_PAIRS_LOGGED) };
    if (!keysLost) {
      this.context.logger.debug(
        said,
        'held entries whose jobs ended elsewhere (their streams went with their idle tenants) are not renewed again',
      );
      return;
    }
    this.context.logger.warn(
      said,
      'Redis no longer has the streams of entries this broker holds (it lost its keys: restarted without persistence, failed over to an empty replica, or flushed); they are not renewed again',
    );
  }

  /**
   * The entries this broker holds in Redis: its leases and its buffered jobs,
   * but those Redis lost. Not pushed into one array as call arguments
   * (`push(...jobs)`): with 50,000 tenants queued a broker buffered about
   * 200,000 jobs, and that overflowed the call stack in the renew timer, which
   * crashed the broker.
   */
  private *heldEntries(): Iterable<HeldEntry> {
    const held = [this.context.leases.heldEntries(), this.queues.bufferedJobs()];
    if (this.lost.size === 0) {
      for (const entries of held) yield* entries;
      return;
    }
    // Only the lost entries still held are kept, so the set ends with them.
    const stillLost = new Set<string>();
    for (const entries of held) {
      for (const entry of entries) {
        const key = entryKey(entry);
        if (!this.lost.has(key)) yield entry;
        else stillLost.add(key);
      }
    }
    this.lost = stillLost;
  }
}

/** A held entry's identity: its stream (tenant, queue, priority) and its id there. */
const entryKey = ({ tenant, queue, priority, entry }: HeldEntry): string =>
  `${tenant} ${queue} ${priority} ${entry}`;
