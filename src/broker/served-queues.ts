import type { FetchedJob } from '../store/types.js';
import type { PrefetchUse } from '../telemetry/metrics.js';
import { monotonicClock, type BrokerContext } from './broker-context.js';
import { QueueDispatcher } from './dispatcher.js';
import { LostCalls } from './lost-calls.js';
import type { RoomFor } from './room-elsewhere.js';

/** A queue at its prefetch bound says so once a minute, with the tenants in line then. */
const BOUND_WARNING_EVERY_MS = 60_000;

/** The queues this broker serves: one dispatcher each, made when a worker first asks for it. */
export class ServedQueues {
  private readonly dispatchers = new Map<string, QueueDispatcher>();
  /** Fetches and enqueues whose replies never came (see LostCalls). */
  readonly lostCalls: LostCalls;

  constructor(
    private readonly context: BrokerContext,
    /** Sweeps a queue newly served (Recovery.recover). */
    private readonly recover: (queue: string) => void,
  ) {
    this.lostCalls = new LostCalls({
      store: context.store,
      warnings: context.warnings,
      onGivenBack: (queue, tenant) => this.announceWork(queue, tenant, 0),
    });
  }

  /** The dispatcher of a queue this broker serves, created (and recovered) on first use. */
  dispatcher(queue: string): QueueDispatcher {
    let dispatcher = this.dispatchers.get(queue);
    if (!dispatcher) {
      const { config, logger, leases, doorbell } = this.context;
      const { prefetchJobs, prefetchBytes } = config;
      const boundReached = this.context.warnings.make(
        'prefetch bound reached: tenants of this queue wait for room before their jobs are read; ' +
          'raise ROTA_PREFETCH_JOBS / ROTA_PREFETCH_BYTES if memory allows, or add brokers',
        BOUND_WARNING_EVERY_MS,
      );
      const created = new QueueDispatcher(queue, {
        store: this.context.store,
        limits: this.context.limits,
        clock: this.context.clock,
        limitsClock: monotonicClock,
        prefetch: {
          jobs: prefetchJobs,
          bytes: prefetchBytes,
          maxJobBytes: config.maxPayloadBytes,
        },
        grant: (session, jobs) => leases.grant(session, jobs),
        deliver: (session, grants, attempts, leasedAt) =>
          leases.deliver(session, grants, attempts, leasedAt),
        onError: (error, context) => logger.error({ err: error }, context),
        onHeldBack: (tenant) => this.context.observer.heldBack(tenant, queue),
        onBoundReached: () => boundReached.warn(boundFields),
        onIdleRoom: (room) => doorbell.announceRoom([[queue, room]]),
        onSlotsFreed: (session) => leases.pumpQueues(session),
        onRepliesLost: (calls) => this.lostCalls.abandon(calls),
        giveBack: (jobs) => void this.giveBack(jobs),
      });
      // Built only when the warning is logged: a blocked refill happens per fetch under the bound.
      const boundFields = (): Record<string, unknown> => ({
        queue,
        ...created.prefetchUse(),
        prefetchJobs,
        prefetchBytes,
      });
      dispatcher = created;
      this.dispatchers.set(queue, dispatcher);
      doorbell.listen(queue).catch((error: unknown) => {
        logger.error({ err: error, queue }, 'could not subscribe to the doorbell');
      });
      // After the session that asked for it has joined: recovery needs a consumer to serve.
      setImmediate(() => this.recover(queue));
    }
    return dispatcher;
  }

  /** The dispatcher of a queue, if this broker serves it (none is made). */
  get(queue: string): QueueDispatcher | undefined {
    return this.dispatchers.get(queue);
  }

  names(): Iterable<string> {
    return this.dispatchers.keys();
  }

  /**
   * Drops the dispatchers of queues with nothing here (QueueDispatcher.isIdle)
   * but those `keep` names, and stops listening to their doorbells. Why: a
   * dispatcher (about 9 KB, a doorbell subscription, metric series) lived
   * until the broker restarted, so a broker serving a queue per import or per
   * customer grew by every queue it had ever served. A worker that asks for
   * the queue again makes a new one, whose first sweep finds what came
   * meanwhile; until then the queue's doorbells are another broker's to hear.
   */
  dropIdle(keep: (queue: string) => boolean): void {
    for (const [queue, dispatcher] of this.dispatchers) {
      if (keep(queue) || !dispatcher.isIdle()) continue;
      dispatcher.stop();
      this.dispatchers.delete(queue);
      this.context.doorbell.unlisten(queue);
    }
  }

  pumpAll(): void {
    for (const dispatcher of this.dispatchers.values()) dispatcher.pump();
  }

  /**
   * Work for a tenant, runnable at `dueAt` (0, or a time passed: now), of up
   * to `priority` (undefined: not known): this broker's dispatcher is told,
   * and the other brokers by the doorbell.
   */
  announceWork(queue: string, tenant: string, dueAt: number, priority?: number): void {
    const due = dueAt > this.context.clock() ? dueAt : 0;
    this.dispatchers.get(queue)?.onWork(tenant, due || undefined, priority);
    this.context.doorbell.ring(queue, tenant, due, priority);
  }

  /** Tells the other brokers of the queues whose workers here wait for jobs (Doorbell.announceRoom). */
  announceIdleRoom(): void {
    const rooms: Array<[string, RoomFor]> = [];
    for (const [queue, dispatcher] of this.dispatchers) {
      const room = dispatcher.idleRoom();
      if (room) rooms.push([queue, room]);
    }
    this.context.doorbell.announceRoom(rooms);
  }

  /** What each queue's prefetch buffers hold (the rota.prefetch.* gauges). */
  *prefetchUse(): Iterable<[string, PrefetchUse]> {
    for (const [queue, dispatcher] of this.dispatchers) yield [queue, dispatcher.prefetchUse()];
  }

  /** The jobs read ahead and not leased yet, of every queue. */
  *bufferedJobs(): Iterable<FetchedJob> {
    for (const dispatcher of this.dispatchers.values()) yield* dispatcher.bufferedJobs();
  }

  /**
   * Gives the jobs read ahead and not leased back to their streams (after
   * stop), for the workers of other brokers (see giveBack).
   */
  async releaseBuffered(): Promise<void> {
    // A fetch answered after this would leave its jobs in our pending list; on
    // the same connection, the release would wait behind it anyway.
    await Promise.all([...this.dispatchers.values()].map((d) => d.fetchesAnswered()));
    await this.giveBack([...this.bufferedJobs()]);
  }

  /**
   * Gives jobs read ahead and not leased (or leased under `tokens` and not
   * sent) back to their streams, and rings their doorbells, so the workers of
   * other brokers get them at once. Left in this broker's pending list, they
   * reached nobody until a sweep found them idle past the lease TTL; those a
   * failed release leaves there still do.
   */
  async giveBack(jobs: readonly FetchedJob[], tokens?: readonly string[]): Promise<void> {
    const { store, doorbell, logger } = this.context;
    try {
      const released = await store.release(jobs, tokens);
      jobs.forEach((job, i) => {
        if (released[i]) doorbell.ring(job.queue, job.tenant, 0, job.priority);
      });
      doorbell.flush();
    } catch (error) {
      logger.warn(
        { err: error, jobs: jobs.length },
        'could not give back jobs no worker got; other brokers take them after the lease TTL',
      );
    }
  }

  stop(): void {
    for (const dispatcher of this.dispatchers.values()) dispatcher.stop();
    this.lostCalls.stop();
  }
}
