import type { JobStore } from '../store/job-store.js';
import { BoundedSet } from './bounded-set.js';

/** Retired tenants a queue's dispatcher remembers (about 8 MB of names). */
const MAX_RETIRED_REMEMBERED = 100_000;
/** After a failed mark of a tenant in the Redis index, mark it again this much later. */
const MARK_RETRY_MS = 1000;

export interface TenantIndexDeps {
  readonly store: JobStore;
  onError(error: unknown, context: string): void;
  /** A tenant retired was kept in the index (a job was stored since its fetch): follow it again. */
  onKept(tenant: string): void;
  /** A retirement failed: the tenant, in the index or not, may have work. */
  onRetireFailed(tenant: string): void;
}

/**
 * A queue's side of the Redis index of tenants with work: this broker takes
 * out tenants it finds idle, and puts them back when work comes.
 */
export class TenantIndex {
  /**
   * Tenants taken out of the Redis index as idle; a doorbell puts them back.
   * Bounded: a broker that retired a million tenants of a queue kept 81 MB of
   * names. Forgetting one long retired only skips a redundant mark, since every
   * path that creates work marks the index itself (JobStore.enqueue, replay).
   */
  private readonly retired = new BoundedSet<string>(MAX_RETIRED_REMEMBERED);
  private stopped = false;

  constructor(
    private readonly queue: string,
    private readonly deps: TenantIndexDeps,
  ) {}

  /** The tenant has (or may have) work: back in the index if it was retired. */
  noteWork(tenant: string): void {
    if (this.retired.delete(tenant)) this.markActive(tenant);
  }

  /** The tenant has jobs buffered here: no longer retired (it is in the index again). */
  buffered(tenant: string): void {
    this.retired.delete(tenant);
  }

  /**
   * Nothing at all left for the tenant: drop it from the Redis index. The
   * store keeps it in the index if a job was stored since the fetch
   * (JobStore.retire), and then it is followed again; new work after that
   * comes with its doorbell or enqueue (noteWork).
   */
  retire(tenant: string): void {
    if (this.retired.has(tenant)) return;
    this.retired.add(tenant);
    this.deps.store.retire(this.queue, tenant).then(
      (retired) => {
        if (!retired && this.retired.delete(tenant)) this.deps.onKept(tenant);
      },
      (error: unknown) => {
        // Out of the index or not, a tenant that may have work is put back (again).
        this.deps.onError(error, `retiring tenant ${tenant} of ${this.queue}`);
        this.deps.onRetireFailed(tenant);
      },
    );
  }

  stop(): void {
    this.stopped = true;
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
}
