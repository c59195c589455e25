import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import { createNoopMeter } from '@opentelemetry/api';
import type { Logger } from 'pino';
import {
  RENEW_MS,
  TenantLimits,
  holdingTtls,
  sweepIntervalMs,
  type Clock,
} from '../scheduler/index.js';
import { JobStore } from '../store/job-store.js';
import type { BrokerConfig } from '../config.js';
import type { QueueDispatcher } from './dispatcher.js';
import { Doorbell } from './doorbell.js';
import { BrokerError } from './errors.js';
import { LeaseManager } from './lease-manager.js';
import { TenantRegistry } from './tenants.js';
import { ThrottledWarnings } from './throttled-warning.js';
import { TenantStore } from '../store/tenant-store.js';
import { SharedLimitStore } from '../store/shared-limits.js';
import { SharedLimitSupply } from './shared-limit-supply.js';
import {
  LayoutMismatch,
  checkLayout,
  checkRedisVersion,
  markLayout,
  redisDurabilityWarnings,
} from '../store/redis-checks.js';
import { StatsBook } from './stats.js';
import { LocalGauges } from '../telemetry/gauges.js';
import { LocalHistograms } from '../telemetry/histograms.js';
import { BrokerMetrics, type MetricsSink } from '../telemetry/metrics.js';
import { TelemetryObserver } from '../telemetry/observer.js';
import { monotonicClock, type BrokerContext } from './broker-context.js';
import { Enqueuer } from './enqueue.js';
import { JobStatus } from './job-status.js';
import { QueueAdmin } from './queue-admin.js';
import { QueueDepths } from './queue-depths.js';
import { Recovery } from './recovery.js';
import { ServedQueues } from './served-queues.js';
import { SettingsUpkeep } from './settings-upkeep.js';

export type { TenantQueueStats } from './queue-depths.js';

const SETTINGS_RELOAD_MS = 5000;
/** How often a broker with idle workers of a queue tells the other brokers so (Doorbell.announceRoom). */
const ROOM_ANNOUNCE_MS = 1000;
/** How often the stats of idle tenant×queues are looked for and dropped (see StatsBook). */
const STATS_FORGET_EVERY_MS = 60_000;
/** A full stats book forgets pairs in steps of a tenth; one warning a minute says so. */
const STATS_FULL_WARNING_EVERY_MS = 60_000;

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

/**
 * The broker's rules: enqueue validation, the job lifecycle, dead letters, and
 * the wiring of dispatchers (one per queue served), leases and doorbells.
 *
 * This class wires the parts, runs their timers, and is what the gRPC edge
 * calls; each call is done by a part: Enqueuer (enqueue), JobStatus (a job by
 * its id), QueueAdmin (listings, dead letters, purge), QueueDepths (stats and
 * the depth gauges), ServedQueues (the dispatchers), Recovery (renewal and
 * the recovery sweep) and SettingsUpkeep (tenant settings kept current).
 */
export class Broker {
  /** This process's consumer name in every ready stream's consumer group. */
  readonly id = `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;
  readonly store: JobStore;
  readonly leases: LeaseManager;
  readonly limits: TenantLimits;
  readonly tenants: TenantRegistry;
  /** Every throttled warning of this broker, the gRPC edge's too: stop closes them. */
  readonly warnings: ThrottledWarnings;
  private readonly doorbell: Doorbell;
  private readonly shared: SharedLimitSupply;
  private readonly clock: Clock;
  private readonly timers: NodeJS.Timeout[] = [];
  private readonly logger: Logger;
  private readonly stats: StatsBook;
  private readonly queues: ServedQueues;
  private readonly recovery: Recovery;
  private readonly depths: QueueDepths;
  private readonly settings: SettingsUpkeep;
  // The calls the gRPC edge makes, done by the parts (their comments are there).
  readonly enqueue: Enqueuer['enqueue'];
  readonly getJob: JobStatus['getJob'];
  readonly cancel: JobStatus['cancel'];
  readonly listDeadLetters: QueueAdmin['listDeadLetters'];
  readonly listJobs: QueueAdmin['listJobs'];
  readonly replayDeadLetters: QueueAdmin['replayDeadLetters'];
  readonly deleteDeadLetters: QueueAdmin['deleteDeadLetters'];
  readonly purgeQueue: QueueAdmin['purgeQueue'];
  readonly getStats: QueueDepths['getStats'];

  constructor(private readonly deps: BrokerDeps) {
    const { config } = deps;
    this.clock = deps.clock ?? Date.now;
    this.logger = deps.logger;
    this.warnings = new ThrottledWarnings(this.logger);
    const statsFull = this.warnings.make(
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
      recordMs: config.leaseTtlMs,
      clock: this.clock,
    });
    this.shared = new SharedLimitSupply(
      new SharedLimitStore(deps.redis, this.store.keys, this.id),
      {
        tokens: (request, granted, waitMs) => {
          this.limits.tokensAnswered(request, granted, waitMs);
          this.queues.pumpAll();
        },
        slots: (request, usable, othersWait) => {
          this.limits.slotsAnswered(request, usable, othersWait);
          this.queues.pumpAll();
        },
      },
      holdingTtls(config.leaseTtlMs),
      this.warnings,
    );
    this.limits = new TenantLimits(monotonicClock, this.shared);
    const metrics = new BrokerMetrics(
      deps.metrics?.meter ?? createNoopMeter(),
      deps.metrics?.histograms ?? new LocalHistograms('rota'),
      deps.metrics?.gauges ?? new LocalGauges('rota'),
      { tenants: config.metricsMaxTenants, queues: config.metricsMaxQueues },
    );
    const observer = new TelemetryObserver(metrics, this.stats, this.clock);
    metrics.observeSessions(() => this.leases.capacity());
    metrics.observePrefetch(() => this.queues.prefetchUse());
    this.tenants = new TenantRegistry(
      new TenantStore(deps.redis, this.store.keys),
      this.limits,
      this.logger,
      { onApplied: () => this.queues.pumpAll() },
    );
    this.leases = new LeaseManager({
      store: this.store,
      limits: this.limits,
      clock: this.clock,
      livenessClock: monotonicClock,
      settings: config,
      logger: this.logger,
      warnings: this.warnings,
      dispatcher: (queue) => this.queues.dispatcher(queue),
      announceWork: (queue, tenant, dueAt, priority) =>
        this.queues.announceWork(queue, tenant, dueAt, priority),
      giveBack: (jobs, tokens) => void this.queues.giveBack(jobs, tokens),
      observer,
    });
    this.doorbell = new Doorbell(
      deps.redis,
      deps.subscriber,
      this.store.keys,
      this.id,
      {
        onWork: (queue, tenant, dueAt, priority) =>
          this.queues.get(queue)?.onWork(tenant, dueAt, priority),
        onCancel: (jobId) => this.leases.revoke(jobId, 'cancelled'),
        onLeaseMoved: (jobId, token) => void this.leases.moved(jobId, token),
        onSettings: (tenant) => {
          this.tenants.reload(tenant).catch((error: unknown) => {
            this.logger.error({ err: error, tenant }, 'could not reload tenant settings');
          });
        },
        onRoomElsewhere: (queue, room) => this.queues.get(queue)?.roomElsewhere(room),
        onResubscribed: () => {
          this.recovery.missedDoorbells();
          this.leases.catchUpAnnouncements().catch((error: unknown) => {
            this.logger.warn(
              { err: error },
              'could not look for leases cancelled or moved while the pub/sub connection was down',
            );
          });
        },
      },
      this.logger,
    );
    const context: BrokerContext = {
      config,
      redis: deps.redis,
      store: this.store,
      limits: this.limits,
      clock: this.clock,
      logger: this.logger,
      warnings: this.warnings,
      observer,
      doorbell: this.doorbell,
      leases: this.leases,
    };
    this.queues = new ServedQueues(context, (queue) => this.recovery.recover(queue));
    this.recovery = new Recovery(context, this.queues);
    this.depths = new QueueDepths(context, this.stats);
    metrics.observeDepths(this.depths, this.clock);
    this.settings = new SettingsUpkeep(context, this.tenants);
    const enqueuer = new Enqueuer(context, this.queues, this.tenants);
    const jobs = new JobStatus(context);
    const admin = new QueueAdmin(context, this.queues);
    this.enqueue = enqueuer.enqueue.bind(enqueuer);
    this.getJob = jobs.getJob.bind(jobs);
    this.cancel = jobs.cancel.bind(jobs);
    this.listDeadLetters = admin.listDeadLetters.bind(admin);
    this.listJobs = admin.listJobs.bind(admin);
    this.replayDeadLetters = admin.replayDeadLetters.bind(admin);
    this.deleteDeadLetters = admin.deleteDeadLetters.bind(admin);
    this.purgeQueue = admin.purgeQueue.bind(admin);
    this.getStats = this.depths.getStats.bind(this.depths);
  }

  async start(): Promise<void> {
    await checkRedisVersion(this.deps.redis);
    await checkLayout(this.deps.redis, this.store.keys);
    for (const warning of await redisDurabilityWarnings(this.deps.redis)) {
      this.logger.warn({ redis: 'durability' }, `WARNING: ${warning}`);
    }
    // Renewed at once after an outage, and nothing taken over for a lease TTL (see Recovery).
    this.deps.redis.on('ready', () => this.recovery.reconnected());
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
    await this.settings.load();
    // Announcements apply changes at once; this repairs one missed while
    // disconnected, and the file's settings lost with keys flushed in place.
    this.every(SETTINGS_RELOAD_MS, () => void this.settings.refresh());
    this.every(SETTINGS_RELOAD_MS, () => void this.keepLayoutMarked());
    this.every(Math.min(SETTINGS_RELOAD_MS, this.deps.config.redisTimeoutMs), () =>
      this.doorbell.ping(),
    );
    const { leaseTtlMs, heartbeatIntervalMs } = this.deps.config;
    this.every(ROOM_ANNOUNCE_MS, () => this.queues.announceIdleRoom());
    this.every(Math.min(heartbeatIntervalMs, leaseTtlMs / 3), () => this.leases.sweep());
    this.every(leaseTtlMs / 3, () => this.recovery.renew());
    this.every(STATS_FORGET_EVERY_MS, () => this.stats.forgetIdle(this.clock()));
    this.every(RENEW_MS, () => {
      for (const renewal of this.limits.slotRenewals()) this.shared.shareSlots(renewal);
    });
    this.every(sweepIntervalMs(leaseTtlMs), () => this.recovery.recoverAll());
  }

  /**
   * Marks the layout again after Redis lost its keys while this broker ran:
   * unmarked, a broker of another layout could start on the data this one
   * goes on writing. One already there is said, as an error, each time.
   */
  private async keepLayoutMarked(): Promise<void> {
    try {
      await markLayout(this.deps.redis, this.store.keys);
    } catch (error) {
      // Redis unreachable: the outage is told elsewhere, and the next tick marks it.
      if (error instanceof LayoutMismatch) this.logger.error({ err: error }, error.message);
    }
  }

  /** Shutdown begins: no more leases go out; workers are asked to finish within the grace period. */
  drain(graceMs: number): void {
    this.leases.drainAll(graceMs);
  }

  /**
   * Gives up this broker's share of in-flight caps (after the drain), so other
   * brokers, or this one restarted, need not wait for it to lapse: all of it
   * but the slots of the leases left with workers (see SharedLimitSupply.releaseSlots).
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

  /** After stop: the jobs read ahead go back to their streams, for other brokers (see ServedQueues). */
  releaseBuffered(): Promise<void> {
    return this.queues.releaseBuffered();
  }

  /**
   * Stops timers and sessions; leases stay in Redis for a restarted broker or
   * a replica. The warnings left out so far are logged now (see
   * ThrottledWarning.close), none later.
   */
  stop(): void {
    for (const timer of this.timers) clearInterval(timer);
    this.depths.stop();
    this.queues.stop();
    this.leases.stop(new BrokerError('unavailable', 'the broker is shutting down; reconnect'));
    this.warnings.close();
  }

  /** The dispatcher of a queue this broker serves, created (and recovered) on first use. */
  dispatcher(queue: string): QueueDispatcher {
    return this.queues.dispatcher(queue);
  }

  /** The queues this broker holds a dispatcher of (see ServedQueues.dropIdle). */
  servedQueues(): string[] {
    return [...this.queues.names()];
  }

  private every(ms: number, task: () => void): void {
    const timer = setInterval(task, Math.max(10, Math.floor(ms)));
    timer.unref();
    this.timers.push(timer);
  }
}
