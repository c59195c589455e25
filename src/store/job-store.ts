import type { Redis } from 'ioredis';
import { Cancellation } from './cancellation.js';
import { DeadLetters } from './dead-letters.js';
import { Intake } from './intake.js';
import { JobReads } from './job-reads.js';
import { JobStoreContext, type JobStoreOptions } from './job-store-context.js';
import type { Keys } from './keys.js';
import { LeaseWrites } from './lease-writes.js';
import { Recovery, type RenewOutcome } from './recovery.js';
import { defineScripts } from './scripts.js';
import { TenantIndexes } from './tenant-indexes.js';
import type {
  AckOutcome,
  CancelOutcome,
  EnqueueReply,
  FailOutcome,
  FetchResult,
  JobRecord,
  LeaseState,
  QueueDepth,
  ReadyEntry,
  ReclaimOutcome,
} from './types.js';

export type { JobStoreOptions } from './job-store-context.js';
export type { HeldEntry, RenewOutcome } from './recovery.js';

/**
 * The only module that talks to Redis about jobs. Every multi-step change is one
 * Lua script; batches go out in one write (sendBatch).
 *
 * This class is what the rest of the broker calls; the work is in its parts,
 * which share a JobStoreContext (the connection, the keys, the options): Intake
 * (enqueue, fetch), LeaseWrites (lease, adopt, progress, complete, fail),
 * Cancellation (cancel, purge steps), DeadLetters (replay, delete), Recovery
 * (reclaim, release, renew), TenantIndexes (the indexes of tenants and queues)
 * and JobReads (jobs, pages, depths).
 */
export class JobStore {
  readonly keys: Keys;
  private readonly intake: Intake;
  private readonly leases: LeaseWrites;
  private readonly cancellation: Cancellation;
  private readonly deadLetters: DeadLetters;
  private readonly recovery: Recovery;
  private readonly indexes: TenantIndexes;
  private readonly reads: JobReads;

  constructor(
    readonly redis: Redis,
    options: JobStoreOptions,
  ) {
    const context = new JobStoreContext(redis, options);
    this.keys = context.keys;
    defineScripts(redis);
    this.reads = new JobReads(context);
    this.indexes = new TenantIndexes(context, this.reads);
    this.intake = new Intake(context, this.indexes);
    this.leases = new LeaseWrites(context);
    this.cancellation = new Cancellation(context);
    this.deadLetters = new DeadLetters(context, this.indexes);
    this.recovery = new Recovery(context);
  }

  // The parts' own methods, forwarded (their comments are there).

  enqueue(...args: Parameters<Intake['enqueue']>): Promise<EnqueueReply> {
    return this.intake.enqueue(...args);
  }

  fetch(...args: Parameters<Intake['fetch']>): Promise<Array<FetchResult | Error>> {
    return this.intake.fetch(...args);
  }

  abandonCall(...args: Parameters<Intake['abandonCall']>): Promise<number> {
    return this.intake.abandonCall(...args);
  }

  lease(...args: Parameters<LeaseWrites['lease']>): Promise<number[]> {
    return this.leases.lease(...args);
  }

  complete(...args: Parameters<LeaseWrites['complete']>): Promise<AckOutcome[]> {
    return this.leases.complete(...args);
  }

  fail(...args: Parameters<LeaseWrites['fail']>): Promise<FailOutcome[]> {
    return this.leases.fail(...args);
  }

  adopt(...args: Parameters<LeaseWrites['adopt']>): Promise<boolean[]> {
    return this.leases.adopt(...args);
  }

  progress(...args: Parameters<LeaseWrites['progress']>): Promise<AckOutcome> {
    return this.leases.progress(...args);
  }

  cancel(...args: Parameters<Cancellation['cancel']>): Promise<CancelOutcome> {
    return this.cancellation.cancel(...args);
  }

  purgeStep(
    ...args: Parameters<Cancellation['purgeStep']>
  ): Promise<{ purged: number; cursor: string }> {
    return this.cancellation.purgeStep(...args);
  }

  takeDead(
    ...args: Parameters<DeadLetters['takeDead']>
  ): Promise<{ taken: number; notFound: string[] }> {
    return this.deadLetters.takeDead(...args);
  }

  takeOldestDead(
    ...args: Parameters<DeadLetters['takeOldestDead']>
  ): Promise<{ taken: number; looked: number; diedBy: string }> {
    return this.deadLetters.takeOldestDead(...args);
  }

  reclaim(...args: Parameters<Recovery['reclaim']>): Promise<ReclaimOutcome[]> {
    return this.recovery.reclaim(...args);
  }

  release(...args: Parameters<Recovery['release']>): Promise<boolean[]> {
    return this.recovery.release(...args);
  }

  renew(...args: Parameters<Recovery['renew']>): Promise<RenewOutcome> {
    return this.recovery.renew(...args);
  }

  getJob(...args: Parameters<JobReads['getJob']>): Promise<JobRecord | undefined> {
    return this.reads.getJob(...args);
  }

  getJobs(...args: Parameters<JobReads['getJobs']>): Promise<JobRecord[]> {
    return this.reads.getJobs(...args);
  }

  leaseStates(
    ...args: Parameters<JobReads['leaseStates']>
  ): Promise<Array<LeaseState | undefined>> {
    return this.reads.leaseStates(...args);
  }

  holdsLease(...args: Parameters<JobReads['holdsLease']>): Promise<boolean> {
    return this.reads.holdsLease(...args);
  }

  listDead(...args: Parameters<JobReads['listDead']>): Promise<{ ids: string[]; total: number }> {
    return this.reads.listDead(...args);
  }

  listDelayed(
    ...args: Parameters<JobReads['listDelayed']>
  ): Promise<{ ids: string[]; total: number }> {
    return this.reads.listDelayed(...args);
  }

  readyEntries(...args: Parameters<JobReads['readyEntries']>): Promise<ReadyEntry[]> {
    return this.reads.readyEntries(...args);
  }

  depths(...args: Parameters<JobReads['depths']>): Promise<QueueDepth[]> {
    return this.reads.depths(...args);
  }

  queues(): Promise<string[]> {
    return this.indexes.queues();
  }

  registerQueues(): Promise<number | undefined> {
    return this.indexes.registerQueues();
  }

  indexDeadTenants(): Promise<{ found: number; added: number } | undefined> {
    return this.indexes.indexDeadTenants();
  }

  markActive(queue: string, tenant: string): Promise<void> {
    return this.indexes.markActive(queue, tenant);
  }

  inIndex(queue: string, tenants: readonly string[]): Promise<boolean[]> {
    return this.indexes.inIndex(queue, tenants);
  }

  listsTenant(queue: string, tenant: string): Promise<boolean> {
    return this.indexes.listsTenant(queue, tenant);
  }

  retire(queue: string, tenant: string): Promise<boolean> {
    return this.indexes.retire(queue, tenant);
  }

  deadTenants(queue: string): Promise<string[]> {
    return this.indexes.deadTenants(queue);
  }

  forgetDeadTenant(queue: string, tenant: string): Promise<void> {
    return this.indexes.forgetDeadTenant(queue, tenant);
  }

  activeTenants(queue: string): Promise<string[]> {
    return this.indexes.activeTenants(queue);
  }

  activeTenantPages(queue: string): AsyncGenerator<string[]> {
    return this.indexes.activeTenantPages(queue);
  }
}
