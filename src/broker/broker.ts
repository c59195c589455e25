import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import { createNoopMeter } from '@opentelemetry/api';
import type { Logger } from 'pino';
import { RENEW_MS, TenantLimits, type Clock } from '../scheduler/index.js';
import { JobStore, type HeldEntry } from '../store/job-store.js';
import type { DeadLetterAction, JobRecord, JobState, NewJob } from '../store/types.js';
import type { BrokerConfig } from '../config.js';
import { QueueDispatcher, type PlannedFetch } from './dispatcher.js';
import { Doorbell } from './doorbell.js';
import { BrokerError, coerceError, guarded, invalidArgument, quoted } from './errors.js';
import { LeaseManager } from './lease-manager.js';
import { TenantRegistry } from './tenants.js';
import { ThrottledWarning } from './throttled-warning.js';
import { TenantStore } from '../store/tenant-store.js';
import { SharedLimitStore } from '../store/shared-limits.js';
import { SharedLimitSupply } from './shared-limit-supply.js';
import { checkRedisVersion, redisDurabilityWarnings } from '../store/redis-checks.js';
import type { QueueDepth } from '../store/types.js';
import { StatsBook, type ActivityStats } from './stats.js';
import { LocalHistograms } from '../telemetry/histograms.js';
import { BrokerMetrics, type MetricsSink, type PrefetchUse } from '../telemetry/metrics.js';
import { TelemetryObserver } from '../telemetry/observer.js';
import { JobPages, type JobPage } from './job-pages.js';
import { checkName, checkQueue, toNewJob, type EnqueueInput } from './validation.js';
import {
  SpanKind,
  contextFromHeaders,
  endSpan,
  hasSampledTraceContext,
  messagingAttributes,
  startSpan,
} from '../telemetry/tracing.js';

/**
 * Milliseconds that only go forward, on the Unix epoch scale as of the process
 * start: the clock of the limits, the schedulers and the workers' liveness.
 * On the wall clock, a step back (NTP, a VM resumed) put every throttled
 * tenant's next token as far in the future, and it waited out the whole step.
 */
const monotonicClock: Clock = () => performance.timeOrigin + performance.now();

export type EnqueueResult = { readonly jobId: string; readonly duplicate: boolean } | BrokerError;

/** Dead jobs replayed or deleted per script call. */
const DEAD_LETTER_STEP = 500;
/** Jobs a purge step looks at: a few ms of Redis, so other clients are not held up long. */
const PURGE_STEP = 500;
const SETTINGS_RELOAD_MS = 5000;
/** How often a broker with idle workers of a queue tells the other brokers so (Doorbell.announceRoom). */
const ROOM_ANNOUNCE_MS = 1000;
const DEPTH_REFRESH_MS = 5000;
/** How often the stats of idle tenant×queues are looked for and dropped (see StatsBook). */
const STATS_FORGET_EVERY_MS = 60_000;
/** A full stats book forgets pairs in steps of a tenth; one warning a minute says so. */
const STATS_FULL_WARNING_EVERY_MS = 60_000;
const MAX_STATS_ROWS = 1000;
const MAX_METRIC_DEPTH_ROWS = 10_000;
/** A queue at its prefetch bound says so once a minute, with the tenants in line then. */
const BOUND_WARNING_EVERY_MS = 60_000;

/**
 * The operator calls that work in steps, by the word their messages use for
 * them, and how a step that fails part way names the jobs the steps before
 * took: in the status message, and as the field (`count`) of the warn log.
 */
const STEPPED_CALLS = {
  purge: { rpc: 'PurgeQueue', jobs: 'jobs', verb: 'cancel', done: 'cancelled', count: 'purged' },
  replay: {
    rpc: 'ReplayDeadLetters',
    jobs: 'dead jobs',
    verb: 'replay',
    done: 'replayed',
    count: 'replayed',
  },
  delete: {
    rpc: 'DeleteDeadLetters',
    jobs: 'dead jobs',
    verb: 'delete',
    done: 'deleted',
    count: 'deleted',
  },
} as const;

interface SteppedCall {
  readonly kind: keyof typeof STEPPED_CALLS;
  readonly tenant: string;
  readonly queue: string;
  /** The jobs the steps took so far. */
  readonly taken: () => number;
  /** Counts the jobs taken in the metrics (once, when the steps end, at least one taken). */
  readonly counted: (taken: number) => void;
}

export interface BrokerDeps {
  readonly config: BrokerConfig;
  /** Commands. */
  readonly redis: Redis;
  /** A second connection, for pub/sub. */
  readonly subscriber: Redis;
  readonly logger: Logger;
  readonly clock?: Clock;
  /** Where metrics go (a provider whose readers read `histograms` too); none = metrics off. */
  readonly metrics?: MetricsSink;
}

export interface TenantQueueStats extends QueueDepth, ActivityStats {}

/**
 * The broker's rules: enqueue validation, the job lifecycle, dead letters, and
 * the wiring of dispatchers (one per queue served), leases and doorbells.
 */
export class Broker {
  /** This process's consumer name in every ready stream's consumer group. */
  readonly id = `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;
  readonly store: JobStore;
  readonly leases: LeaseManager;
  readonly limits: TenantLimits;
  readonly tenants: TenantRegistry;
  private readonly pages: JobPages;
  private readonly dispatchers = new Map<string, QueueDispatcher>();
  /** Queues whose sweep is running: a sweep that outlasts its interval is not started twice. */
  private readonly sweeping = new Set<string>();
  private readonly doorbell: Doorbell;
  private readonly shared: SharedLimitSupply;
  private readonly clock: Clock;
  private readonly timers: NodeJS.Timeout[] = [];
  private readonly logger: Logger;
  private readonly stats: StatsBook;
  private readonly observer: TelemetryObserver;
  private depths: readonly QueueDepth[] = [];
  /** Before this time (monotonic) the sweep takes over no entry (see start). */
  private reclaimFrom = 0;

  constructor(private readonly deps: BrokerDeps) {
    const { config } = deps;
    this.clock = deps.clock ?? Date.now;
    this.logger = deps.logger;
    const statsFull = new ThrottledWarning(
      this.logger,
      'GetStats rates and percentiles of the longest idle queue × tenant pairs forgotten to stay within ROTA_STATS_MAX_PAIRS; raise it to keep more',
      STATS_FULL_WARNING_EVERY_MS,
      this.clock,
    );
    this.stats = new StatsBook(config.statsMaxPairs, (forgotten) =>
      statsFull.warn({ forgotten, statsMaxPairs: config.statsMaxPairs }),
    );
    this.store = new JobStore(deps.redis, {
      keyPrefix: config.keyPrefix,
      consumer: this.id,
      completedRetentionMs: config.completedRetentionMs,
      deadRetentionMs: config.deadRetentionMs,
      idempotencyRetentionMs: config.idempotencyRetentionMs,
      clock: this.clock,
    });
    this.pages = new JobPages(this.store);
    this.shared = new SharedLimitSupply(
      new SharedLimitStore(deps.redis, this.store.keys, this.id),
      {
        tokens: (request, granted, waitMs) => {
          this.limits.tokensAnswered(request, granted, waitMs);
          this.pumpAll();
        },
        slots: (request, held, othersWait) => {
          this.limits.slotsAnswered(request, held, othersWait);
          this.pumpAll();
        },
      },
      this.logger,
    );
    this.limits = new TenantLimits(monotonicClock, this.shared);
    const metrics = new BrokerMetrics(
      deps.metrics?.meter ?? createNoopMeter(),
      deps.metrics?.histograms ?? new LocalHistograms('rota'),
      config.metricsMaxTenants,
    );
    this.observer = new TelemetryObserver(metrics, this.stats, this.clock);
    metrics.observeSessions(() => this.leases.capacity());
    metrics.observeDepths(() => this.depths, this.clock);
    metrics.observePrefetch(() => this.prefetchUse());
    this.tenants = new TenantRegistry(
      new TenantStore(deps.redis, this.store.keys),
      this.limits,
      this.logger,
      () => this.pumpAll(),
    );
    this.leases = new LeaseManager({
      store: this.store,
      limits: this.limits,
      clock: this.clock,
      livenessClock: monotonicClock,
      settings: config,
      logger: this.logger,
      dispatcher: (queue) => this.dispatcher(queue),
      observer: this.observer,
    });
    this.doorbell = new Doorbell(
      deps.redis,
      deps.subscriber,
      this.store.keys,
      this.id,
      {
        onWork: (queue, tenant, dueAt) => this.dispatchers.get(queue)?.onWork(tenant, dueAt),
        onCancel: (jobId) => this.leases.revoke(jobId, 'cancelled'),
        onSettings: (tenant) => {
          this.tenants.reload(tenant).catch((error: unknown) => {
            this.logger.error({ err: error, tenant }, 'could not reload tenant settings');
          });
        },
        onRoomElsewhere: (queue) => this.dispatchers.get(queue)?.roomElsewhere(),
        onResubscribed: () => {
          this.leases.revokeCancelled().catch((error: unknown) => {
            this.logger.warn(
              { err: error },
              'could not look for leases cancelled while the pub/sub connection was down',
            );
          });
        },
      },
      this.logger,
    );
  }

  async start(): Promise<void> {
    await checkRedisVersion(this.deps.redis);
    for (const warning of await redisDurabilityWarnings(this.deps.redis)) {
      this.logger.warn({ redis: 'durability' }, `WARNING: ${warning}`);
    }
    // After an outage, renew held entries before any reclaim can take them as
    // abandoned. And take none over for a lease TTL: when Redis itself was down
    // longer than the TTL, every broker's entries are idle past it when it is
    // back, and a broker that reconnected a moment later than this one (up to
    // ioredis's 2 s backoff) had its live leases failed as "lease expired" and
    // run again, its workers' acks refused as stale.
    this.deps.redis.on('ready', () => {
      this.reclaimFrom = monotonicClock() + this.deps.config.leaseTtlMs;
      this.renew();
    });
    await this.doorbell.start();
    const registered = await this.store.registerQueues();
    if (registered !== undefined) {
      this.logger.info({ queues: registered }, 'built the set of queues from the keyspace (once)');
    }
    const buried = await this.store.indexDeadTenants();
    if (buried !== undefined) {
      this.logger.info(
        { withDeadLetters: buried.found, notIndexedBefore: buried.added },
        'built the index of tenants with dead jobs from the keyspace (once)',
      );
    }
    await this.tenants.reloadAll();
    const { leaseTtlMs, heartbeatIntervalMs, tenantsFile } = this.deps.config;
    if (tenantsFile) {
      const count = await this.tenants.loadFile(tenantsFile);
      this.logger.info({ tenantsFile, count }, 'loaded tenant settings');
      // A Redis back without its keys lost the file's settings with them.
      this.deps.redis.on('ready', () => void this.restoreTenantsFile(tenantsFile));
    }
    // Announcements apply changes at once; this repairs one missed while
    // disconnected, and the file's settings lost with keys flushed in place.
    this.every(SETTINGS_RELOAD_MS, () => void this.refreshSettings(tenantsFile));
    this.every(Math.min(SETTINGS_RELOAD_MS, this.deps.config.redisTimeoutMs), () =>
      this.doorbell.ping(),
    );
    this.every(ROOM_ANNOUNCE_MS, () => {
      for (const [queue, dispatcher] of this.dispatchers) {
        if (dispatcher.hasIdleRoom()) this.doorbell.announceRoom(queue);
      }
    });
    this.every(Math.min(heartbeatIntervalMs, leaseTtlMs / 3), () => this.leases.sweep());
    this.every(leaseTtlMs / 3, () => this.renew());
    if (this.deps.metrics) this.every(DEPTH_REFRESH_MS, () => this.refreshDepths());
    this.every(STATS_FORGET_EVERY_MS, () => this.stats.forgetIdle(this.clock()));
    this.every(RENEW_MS, () => {
      for (const renewal of this.limits.slotRenewals()) this.shared.shareSlots(renewal);
    });
    this.every(Math.max(250, leaseTtlMs / 2), () => {
      for (const queue of this.dispatchers.keys()) this.recover(queue);
    });
  }

  /** Shutdown begins: no more leases go out; workers are asked to finish within the grace period. */
  drain(graceMs: number): void {
    this.leases.drainAll(graceMs);
  }

  /**
   * Gives up this broker's share of in-flight caps (after the drain), so other
   * brokers, or this one restarted, need not wait for it to lapse.
   */
  async releaseShared(): Promise<void> {
    try {
      await this.shared.releaseSlots(this.limits.slotHoldings());
    } catch (error) {
      this.logger.warn(
        { err: error },
        'could not give up in-flight slots; they lapse by themselves',
      );
    }
  }

  /**
   * Gives the jobs read ahead and not leased back to their streams (after
   * stop), and rings their doorbells, so the workers of other brokers get them
   * at once. Left in this broker's pending list, they reached nobody until a
   * sweep found them idle past the lease TTL.
   */
  async releaseBuffered(): Promise<void> {
    // A fetch answered after this would leave its jobs in our pending list; on
    // the same connection, the release would wait behind it anyway.
    await Promise.all([...this.dispatchers.values()].map((d) => d.fetchesAnswered()));
    const jobs = [...this.dispatchers.values()].flatMap((dispatcher) => [
      ...dispatcher.bufferedJobs(),
    ]);
    try {
      const released = await this.store.release(jobs);
      jobs.forEach((job, i) => {
        if (released[i]) this.doorbell.ring(job.queue, job.tenant, 0);
      });
      this.doorbell.flush();
    } catch (error) {
      this.logger.warn(
        { err: error, jobs: jobs.length },
        'could not give back the jobs read ahead; other brokers take them after the lease TTL',
      );
    }
  }

  /** Stops timers and sessions; leases stay in Redis for a restarted broker or a replica. */
  stop(): void {
    for (const timer of this.timers) clearInterval(timer);
    for (const dispatcher of this.dispatchers.values()) dispatcher.stop();
    this.leases.stop(new BrokerError('unavailable', 'the broker is shutting down; reconnect'));
  }

  async enqueue(inputs: readonly EnqueueInput[]): Promise<EnqueueResult[]> {
    const now = this.clock();
    const results: EnqueueResult[] = new Array<EnqueueResult>(inputs.length);
    const jobs: NewJob[] = [];
    const positions: number[] = [];
    inputs.forEach((input, i) => {
      try {
        jobs.push(toNewJob(input, this.deps.config, now));
        positions.push(i);
      } catch (error) {
        results[i] = coerceError(error);
      }
    });
    if (jobs.length === 0) return results;
    const spans = jobs.map((job) =>
      hasSampledTraceContext(job.headers)
        ? startSpan(
            `enqueue ${job.queue}`,
            SpanKind.SERVER,
            messagingAttributes('receive', job),
            contextFromHeaders(job.headers),
          )
        : undefined,
    );
    // Tenants with jobs runnable now: their dispatchers are told at once, and
    // the fetch each needs rides on the enqueue script (a claim).
    const runnable = new Set<string>();
    for (const job of jobs) if (job.runAt <= now) runnable.add(`${job.queue}\n${job.tenant}`);
    const told = new Set<string>();
    const claims: Array<{ dispatcher: QueueDispatcher; request: PlannedFetch }> = [];
    const claim = (tenant: string, queue: string): PlannedFetch | undefined => {
      const dispatcher = this.dispatchers.get(queue);
      const key = `${queue}\n${tenant}`;
      if (!dispatcher || !runnable.has(key)) return undefined;
      told.add(key);
      const request = dispatcher.claim(tenant);
      if (request) claims.push({ dispatcher, request });
      return request;
    };
    let reply;
    try {
      reply = await this.store.enqueue(
        jobs,
        (tenant) => this.tenants.maxQueued(tenant),
        now,
        claim,
      );
    } catch (error) {
      const failure = coerceError(error);
      for (const { dispatcher, request } of claims) dispatcher.onFetchFailed([request], failure);
      for (const span of spans) if (span) endSpan(span, failure);
      throw failure;
    }
    for (const { dispatcher, request } of claims) {
      const result = reply.claimed.get(request)!;
      if (result instanceof Error) dispatcher.onFetchFailed([request], result);
      else dispatcher.onFetched(request, result, now);
    }
    reply.outcomes.forEach((outcome, k) => {
      const job = jobs[k]!;
      const position = positions[k]!;
      const span = spans[k];
      if (span) {
        if (outcome.kind !== 'full') span.setAttribute('messaging.message.id', outcome.jobId);
        if (outcome.kind === 'duplicate') span.setAttribute('rota.duplicate', true);
        endSpan(span, outcome.kind === 'full' ? 'tenant over max_queued' : undefined);
      }
      if (outcome.kind === 'full') {
        results[position] = new BrokerError(
          'resource_exhausted',
          `tenant ${job.tenant} has ${outcome.queued} jobs waiting (ready or delayed) in queue ${job.queue}, its max_queued limit; retry later, or raise max_queued with Admin.SetTenant`,
        );
        return;
      }
      results[position] = { jobId: outcome.jobId, duplicate: outcome.kind === 'duplicate' };
      this.observer.enqueued(job, outcome.kind === 'duplicate');
      if (outcome.kind !== 'stored') return;
      const dueAt = job.runAt > now ? job.runAt : 0;
      this.doorbell.ring(job.queue, job.tenant, dueAt);
      if (!told.has(`${job.queue}\n${job.tenant}`)) {
        this.dispatchers.get(job.queue)?.onWork(job.tenant, dueAt || undefined);
      }
    });
    return results;
  }

  async getJob(tenant: string, jobId: string): Promise<JobRecord> {
    checkName('tenant', tenant);
    checkJobId(jobId);
    const job = await guarded(this.store.getJob(tenant, jobId));
    if (!job) throw notFound(tenant, jobId);
    return job;
  }

  async cancel(tenant: string, jobId: string): Promise<{ cancelled: boolean; state: JobState }> {
    checkName('tenant', tenant);
    checkJobId(jobId);
    const outcome = await guarded(this.store.cancel(tenant, jobId, this.clock()));
    if (outcome.kind === 'not_found') throw notFound(tenant, jobId);
    if (outcome.kind === 'ended') return { cancelled: false, state: outcome.state };
    this.observer.cancelled(tenant, outcome.queue, 1, 'cancel');
    if (outcome.previous === 'leased') {
      this.leases.revoke(jobId, 'cancelled');
      this.doorbell.announceCancel(jobId);
    }
    return { cancelled: true, state: 'cancelled' };
  }

  async listDeadLetters(
    tenant: string,
    queue: string,
    pageSize: number,
    pageToken: string,
  ): Promise<JobPage & { total: number }> {
    checkName('tenant', tenant);
    checkQueue('queue', queue);
    return await this.pages.dead(tenant, queue, pageSize, pageToken);
  }

  /** A page of the jobs of a tenant×queue that wait to run: ready ones, or delayed ones. */
  async listJobs(
    tenant: string,
    queue: string,
    state: JobState | undefined,
    pageSize: number,
    pageToken: string,
  ): Promise<JobPage> {
    checkName('tenant', tenant);
    checkQueue('queue', queue);
    if (state === 'waiting') return await this.pages.waiting(tenant, queue, pageSize, pageToken);
    if (state === 'delayed') return await this.pages.delayed(tenant, queue, pageSize, pageToken);
    throw invalidArgument(
      'state must be WAITING (ready to run) or DELAYED (delayed or waiting out a retry); ListDeadLetters lists DEAD jobs',
    );
  }

  async replayDeadLetters(
    tenant: string,
    queue: string,
    jobIds: readonly string[],
    all: boolean,
  ): Promise<{ replayed: number; notFound: string[] }> {
    const { taken, notFound } = await this.takeDeadLetters('replay', tenant, queue, jobIds, all);
    if (taken > 0) this.announceWork(queue, tenant, 0);
    return { replayed: taken, notFound };
  }

  async deleteDeadLetters(
    tenant: string,
    queue: string,
    jobIds: readonly string[],
    all: boolean,
  ): Promise<{ deleted: number; notFound: string[] }> {
    const { taken, notFound } = await this.takeDeadLetters('delete', tenant, queue, jobIds, all);
    if (taken > 0) {
      this.logger.info({ tenant, queue, deleted: taken }, 'deleted dead letters');
    }
    return { deleted: taken, notFound };
  }

  /** Replays or deletes dead jobs: the ids given, or all of the tenant×queue. */
  private async takeDeadLetters(
    action: DeadLetterAction,
    tenant: string,
    queue: string,
    jobIds: readonly string[],
    all: boolean,
  ): Promise<{ taken: number; notFound: string[] }> {
    checkName('tenant', tenant);
    checkQueue('queue', queue);
    if (jobIds.length === 0 && !all) {
      throw invalidArgument(
        `name the job_ids to ${action}, or set all = true to ${action} the whole dead letter queue`,
      );
    }
    if (jobIds.length > 0 && all) throw invalidArgument('set either job_ids or all, not both');
    jobIds.forEach(checkJobId);
    let taken = 0;
    const notFound: string[] = [];
    const call: SteppedCall = {
      kind: action,
      tenant,
      queue,
      taken: () => taken,
      counted: (n) => this.observer.deadLettersTaken(tenant, queue, n, action),
    };
    await this.inSteps(call, async () => {
      if (all) {
        // "All" is the jobs dead when the call began: the steps after the first
        // keep to its bound, so a job that dies again meanwhile stays dead.
        let diedBy = '';
        for (;;) {
          const step = await this.store.takeOldestDead(
            action,
            tenant,
            queue,
            DEAD_LETTER_STEP,
            diedBy,
          );
          taken += step.taken;
          diedBy = step.diedBy;
          if (step.looked < DEAD_LETTER_STEP) break;
        }
      } else {
        // An id named twice is taken once and not also reported as not found.
        const unique = [...new Set(jobIds)];
        for (let i = 0; i < unique.length; i += DEAD_LETTER_STEP) {
          const chunk = await this.store.takeDead(
            action,
            tenant,
            queue,
            unique.slice(i, i + DEAD_LETTER_STEP),
          );
          taken += chunk.taken;
          notFound.push(...chunk.notFound);
        }
      }
    });
    return { taken, notFound };
  }

  /**
   * Cancels the jobs of a tenant×queue that wait to run (ready, delayed, or
   * waiting out a retry's backoff) and were enqueued before the call began;
   * leased jobs run to their end. In steps, so Redis serves others meanwhile.
   */
  async purgeQueue(tenant: string, queue: string): Promise<{ purged: number }> {
    checkName('tenant', tenant);
    checkQueue('queue', queue);
    const createdBy = this.clock();
    let purged = 0;
    let cursor = '';
    const call: SteppedCall = {
      kind: 'purge',
      tenant,
      queue,
      taken: () => purged,
      counted: (n) => this.observer.cancelled(tenant, queue, n, 'purge'),
    };
    await this.inSteps(call, async () => {
      do {
        const step = await this.store.purgeStep(
          tenant,
          queue,
          createdBy,
          this.clock(),
          PURGE_STEP,
          cursor,
        );
        purged += step.purged;
        cursor = step.cursor;
      } while (cursor !== '');
    });
    this.logger.info({ tenant, queue, purged }, 'purged the waiting jobs of a queue');
    return { purged };
  }

  /**
   * Runs the steps of an operator call over a tenant×queue, each step done for
   * good when it returns. A step that fails fails the call with its status,
   * and the message (and a warn log) says how many jobs the steps before took:
   * those stay taken, and a call over a large queue may have done most of its
   * work. They are counted in the metrics all the same.
   */
  private async inSteps(call: SteppedCall, steps: () => Promise<void>): Promise<void> {
    try {
      await steps();
    } catch (error) {
      const failure = coerceError(error);
      const { rpc, jobs, verb, done, count } = STEPPED_CALLS[call.kind];
      const { kind, tenant, queue } = call;
      const taken = call.taken();
      this.logger.warn(
        { err: error, tenant, queue, [count]: taken },
        `a ${kind} failed part way; the ${jobs} ${done} before stay ${done}`,
      );
      // Calling again is safe: each of these calls takes only the jobs still there.
      throw new BrokerError(
        failure.code,
        `${failure.message}; the ${kind} stopped after ${taken} ${jobs} were ${done}: call ${rpc} again to ${verb} the rest`,
        { cause: error },
      );
    } finally {
      const taken = call.taken();
      if (taken > 0) call.counted(taken);
    }
  }

  /** What each queue's prefetch buffers hold (the rota.prefetch.* gauges). */
  private *prefetchUse(): Iterable<[string, PrefetchUse]> {
    for (const [queue, dispatcher] of this.dispatchers) yield [queue, dispatcher.prefetchUse()];
  }

  /** The dispatcher of a queue this broker serves, created (and recovered) on first use. */
  dispatcher(queue: string): QueueDispatcher {
    let dispatcher = this.dispatchers.get(queue);
    if (!dispatcher) {
      const { prefetchJobs, prefetchBytes } = this.deps.config;
      const boundReached = new ThrottledWarning(
        this.logger,
        'prefetch bound reached: tenants of this queue wait for room before their jobs are read; ' +
          'raise ROTA_PREFETCH_JOBS / ROTA_PREFETCH_BYTES if memory allows, or add brokers',
        BOUND_WARNING_EVERY_MS,
      );
      const created = new QueueDispatcher(queue, {
        store: this.store,
        limits: this.limits,
        clock: this.clock,
        limitsClock: monotonicClock,
        prefetch: {
          jobs: prefetchJobs,
          bytes: prefetchBytes,
          maxJobBytes: this.deps.config.maxPayloadBytes,
        },
        grant: (session, jobs) => this.leases.grant(session, jobs),
        deliver: (session, grants, attempts, leasedAt) =>
          this.leases.deliver(session, grants, attempts, leasedAt),
        onError: (error, context) => this.logger.error({ err: error }, context),
        onHeldBack: (tenant) => this.observer.heldBack(tenant, queue),
        onBoundReached: () => boundReached.warn(boundFields),
        onIdleRoom: () => this.doorbell.announceRoom(queue),
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
      this.doorbell.listen(queue).catch((error: unknown) => {
        this.logger.error({ err: error, queue }, 'could not subscribe to the doorbell');
      });
      // After the session that asked for it has joined: recovery needs a consumer to serve.
      setImmediate(() => this.recover(queue));
    }
    return dispatcher;
  }

  private announceWork(queue: string, tenant: string, dueAt: number): void {
    this.dispatchers.get(queue)?.onWork(tenant, dueAt || undefined);
    this.doorbell.ring(queue, tenant, dueAt);
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
  private recover(queue: string): void {
    const dispatcher = this.dispatchers.get(queue);
    if (!dispatcher || dispatcher.sessions.size === 0 || this.sweeping.has(queue)) return;
    this.sweeping.add(queue);
    this.sweep(queue, dispatcher)
      .catch((error: unknown) => this.logger.error({ err: error, queue }, 'recovery sweep failed'))
      .finally(() => this.sweeping.delete(queue));
  }

  /**
   * One page of the index at a time (SSCAN's), each reclaimed and followed
   * before the next is read. Why: the sweep used to reclaim every tenant in one
   * pipeline and follow none until all had answered. With 200,000 jobs over
   * 50,000 tenants queued, a worker connecting to a fresh broker got its first
   * job after 6.5 s (after 144 ms with 1,000 tenants), and every command of
   * the broker queued behind that pipeline on its connection.
   */
  private async sweep(queue: string, dispatcher: QueueDispatcher): Promise<void> {
    for await (const tenants of this.store.activeTenantPages(queue)) {
      const outcomes = await this.store.reclaim(queue, tenants, this.reclaimIdleMs(), this.clock());
      outcomes.forEach((outcome, i) => {
        const tenant = tenants[i]!;
        if (outcome.retrying + outcome.dead + outcome.requeued > 0) {
          this.logger.warn({ tenant, queue, ...outcome }, 'reclaimed entries of a dead holder');
        }
        if (outcome.retrying + outcome.dead > 0) {
          this.observer.attemptsReclaimed(tenant, queue, outcome.retrying, outcome.dead);
        }
        const followed = dispatcher.follows(tenant);
        if (outcome.nextRunAt !== undefined && (!followed || outcome.retrying > 0)) {
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
    }
  }

  /**
   * How long an entry must have been idle for the sweep to take it over: the
   * lease TTL, or never while the connection is down or was re-established
   * less than a TTL ago (see start). Asked per call: a sweep that began
   * during an outage sends its calls once Redis is back. Held back, the sweep
   * still follows the tenants it finds.
   */
  private reclaimIdleMs(): number {
    const holdBack = this.deps.redis.status !== 'ready' || monotonicClock() < this.reclaimFrom;
    return holdBack ? Number.MAX_SAFE_INTEGER : this.deps.config.leaseTtlMs;
  }

  /**
   * Depth by state from Redis plus this broker's rates and percentiles, per
   * tenant×queue: every queue (or the one named) and every tenant with work in
   * it (or the one named), at most MAX_STATS_ROWS rows.
   */
  async getStats(
    queue: string,
    tenant: string,
  ): Promise<{ rows: TenantQueueStats[]; truncated: boolean }> {
    if (queue) checkQueue('queue', queue);
    if (tenant) checkName('tenant', tenant);
    const { depths, truncated } = await guarded(this.depthsOf(queue, tenant, MAX_STATS_ROWS));
    const now = this.clock();
    const rows = depths.map((depth) => ({
      ...depth,
      ...this.stats.snapshot(depth.tenant, depth.queue, now),
    }));
    return { rows, truncated };
  }

  /**
   * Depths of the pairs of statsPairs; tenants listed only for their dead jobs
   * that have none left are taken out of that index meanwhile.
   */
  private async depthsOf(
    queue: string,
    tenant: string,
    limit: number,
  ): Promise<{ depths: QueueDepth[]; truncated: boolean }> {
    const { pairs, truncated, buried } = await this.statsPairs(queue, tenant, limit);
    const depths = await this.store.depths(pairs);
    for (const depth of depths) {
      if (depth.dead > 0 || !buried.has(`${depth.queue}\n${depth.tenant}`)) continue;
      this.store.forgetDeadTenant(depth.queue, depth.tenant).catch((error: unknown) => {
        this.logger.warn(
          { err: error, queue: depth.queue, tenant: depth.tenant },
          'could not update the index of tenants with dead jobs',
        );
      });
    }
    return { depths, truncated };
  }

  private async statsPairs(
    queue: string,
    tenant: string,
    limit: number,
  ): Promise<{
    pairs: Array<{ tenant: string; queue: string }>;
    truncated: boolean;
    /** Pairs (`queue\ntenant`) from the index of tenants with dead jobs. */
    buried: Set<string>;
  }> {
    const queues = queue ? [queue] : await this.store.queues();
    const seen = new Set<string>();
    const pairs: Array<{ tenant: string; queue: string }> = [];
    const add = (pair: { tenant: string; queue: string }): void => {
      const k = `${pair.queue}\n${pair.tenant}`;
      if (!seen.has(k) && (!tenant || pair.tenant === tenant) && (!queue || pair.queue === queue)) {
        seen.add(k);
        pairs.push(pair);
      }
    };
    const buried = new Set<string>();
    for (const q of queues) {
      const tenants = tenant ? [tenant] : await this.store.activeTenants(q);
      for (const t of tenants) add({ tenant: t, queue: q });
      if (tenant) continue;
      for (const t of await this.store.deadTenants(q)) {
        buried.add(`${q}\n${t}`);
        add({ tenant: t, queue: q });
      }
    }
    for (const pair of this.stats.pairs()) add(pair);
    pairs.sort((a, b) => a.queue.localeCompare(b.queue) || a.tenant.localeCompare(b.tenant));
    return { pairs: pairs.slice(0, limit), truncated: pairs.length > limit, buried };
  }

  private refreshDepths(): void {
    this.depthsOf('', '', MAX_METRIC_DEPTH_ROWS).then(
      ({ depths }) => {
        this.depths = depths;
      },
      (error: unknown) =>
        this.logger.warn({ err: error }, 'could not read queue depths for metrics'),
    );
  }

  private pumpAll(): void {
    for (const dispatcher of this.dispatchers.values()) dispatcher.pump();
  }

  private renew(): void {
    this.store.renew(this.heldEntries()).catch((error: unknown) => {
      this.logger.error({ err: error }, 'renewing held entries failed');
    });
  }

  /**
   * The entries this broker holds in Redis: its leases and its buffered jobs.
   * Not pushed into one array as call arguments (`push(...jobs)`): with 50,000
   * tenants queued a broker buffered about 200,000 jobs, and that overflowed
   * the call stack in the renew timer, which crashed the broker.
   */
  private *heldEntries(): Iterable<HeldEntry> {
    yield* this.leases.heldEntries();
    for (const dispatcher of this.dispatchers.values()) yield* dispatcher.bufferedJobs();
  }

  /** The periodic repair of tenant settings (see start). */
  private async refreshSettings(tenantsFile: string | undefined): Promise<void> {
    // While Redis is down the check would only fail: the reconnect makes it.
    if (tenantsFile && this.deps.redis.status === 'ready') {
      await this.restoreTenantsFile(tenantsFile);
    }
    try {
      await this.tenants.reloadAll();
    } catch (error) {
      this.logger.error({ err: error }, 'reloading tenant settings failed');
    }
  }

  private async restoreTenantsFile(tenantsFile: string): Promise<void> {
    try {
      await this.tenants.restoreFile(tenantsFile);
    } catch (error) {
      this.logger.error(
        { err: error, tenantsFile },
        'could not check that Redis still holds the settings of the tenants file, or apply it again; retrying in a few seconds',
      );
    }
  }

  private every(ms: number, task: () => void): void {
    const timer = setInterval(task, Math.max(10, Math.floor(ms)));
    timer.unref();
    this.timers.push(timer);
  }
}

function checkJobId(jobId: string): void {
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(jobId)) {
    throw invalidArgument(`job_id ${quoted(jobId)} is malformed; use the id Enqueue returned`);
  }
}

function notFound(tenant: string, jobId: string): BrokerError {
  return new BrokerError(
    'not_found',
    `job ${jobId} of tenant ${tenant} does not exist (wrong id or tenant, or it ended and its retention is over)`,
  );
}
