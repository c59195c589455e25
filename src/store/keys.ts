/**
 * Every Redis key Rota uses is built here, from one prefix.
 *
 * All keys of one tenant carry the hash tag `{tenant}`, so a Lua script may touch
 * them together and Redis Cluster keeps a tenant on one node. Keys outside the
 * tenant slots (tenant settings, the per-queue index of tenants with work) are
 * only ever written by single commands, never by a script that also touches a
 * tenant's keys.
 */
/** Segments after `{tenant}:` that start a tenant's keys outside its queues. */
const JOB_SEGMENT = 'job';
const IDEMPOTENCY_SEGMENT = 'idem';

/**
 * Queue names that are taken by those segments: queue `job`'s keys would be job
 * records (`{T}:job:levels` is also the record of a job with id `levels`), and
 * queue `idem`'s would be idempotency keys, so Redis would answer WRONGTYPE
 * to both. Queue keys may use every other name (they never hold a `:`).
 */
export const RESERVED_QUEUE_NAMES: readonly string[] = [JOB_SEGMENT, IDEMPOTENCY_SEGMENT];

/**
 * The version of the data layout this code reads and writes: key names, hash
 * fields, stream entries and what the scripts take them to mean. A change that
 * a broker of the release before would misread raises it (see Keys.layout).
 */
export const LAYOUT_VERSION = 1;

export class Keys {
  constructor(readonly prefix: string) {}

  /**
   * The layout version of the data under this prefix (a string), marked by
   * the first broker to start on it: a broker of another layout refuses to
   * start there (see checkLayout). Data from before the mark was kept is of
   * layout 1. Running brokers mark it again should Redis lose its keys (see
   * markLayout).
   */
  layout(): string {
    return `${this.prefix}:layout`;
  }

  /**
   * SCAN pattern of every tenant key (jobs, queues, idempotency keys): not of
   * a longer prefix's, as a prefix holds no `{`.
   */
  tenantKeysPattern(): string {
    return `${this.prefix}:{*`;
  }

  /** `prefix:{tenant}:` — every tenant key starts with this. */
  tenantBase(tenant: string): string {
    return `${this.prefix}:{${tenant}}:`;
  }

  /** Base of a job hash key; the script appends the job id. */
  jobBase(tenant: string): string {
    return `${this.tenantBase(tenant)}${JOB_SEGMENT}:`;
  }

  job(tenant: string, jobId: string): string {
    return `${this.jobBase(tenant)}${jobId}`;
  }

  /**
   * The record of one call of a broker that reads jobs: a fetch, or an enqueue
   * with claims (see lua/includes/call_record.lua). `@` keeps it apart from
   * queue keys: no queue name holds one.
   */
  callRecord(tenant: string, consumer: string, call: number): string {
    return `${this.tenantBase(tenant)}@call:${consumer}:${call}`;
  }

  /** Base of the tenant×queue keys; scripts append `ready:<priority>`, `levels`, … */
  queueBase(tenant: string, queue: string): string {
    return `${this.tenantBase(tenant)}${queue}:`;
  }

  /** Ready stream of one priority level (consumer group GROUP). */
  ready(tenant: string, queue: string, priority: number): string {
    return `${this.queueBase(tenant, queue)}ready:${priority}`;
  }

  /** Sorted set of the priority levels that have a ready stream. */
  levels(tenant: string, queue: string): string {
    return `${this.queueBase(tenant, queue)}levels`;
  }

  delayed(tenant: string, queue: string): string {
    return `${this.queueBase(tenant, queue)}delayed`;
  }

  dead(tenant: string, queue: string): string {
    return `${this.queueBase(tenant, queue)}dead`;
  }

  /**
   * Rate-limit bucket shared by every broker: the tenant's, or with `queue`
   * its override's on that queue (take_tokens.lua).
   */
  tokens(tenant: string, queue?: string): string {
    return `${queue === undefined ? this.tenantBase(tenant) : this.queueBase(tenant, queue)}tokens`;
  }

  /**
   * Holdings of an in-flight cap shared by every broker: the tenant's, or with
   * `queue` its override's on that queue (hold_slots.lua; it adds `:wants` and
   * `:until` for its other two keys).
   */
  slots(tenant: string, queue?: string): string {
    return `${queue === undefined ? this.tenantBase(tenant) : this.queueBase(tenant, queue)}slots`;
  }

  idempotency(tenant: string, key: string): string {
    return `${this.tenantBase(tenant)}${IDEMPOTENCY_SEGMENT}:${key}`;
  }

  /** Set of tenants that have (or may have) work in a queue: found again after a restart. */
  activeTenants(queue: string): string {
    return `${this.prefix}:queue:${queue}:tenants`;
  }

  /**
   * Set of tenants that left a queue's index of active tenants with dead jobs
   * left: stats and metrics read it too, so dead letters stay in sight.
   */
  deadTenants(queue: string): string {
    return `${this.prefix}:queue:${queue}:dead-tenants`;
  }

  /**
   * Set once the indexes of tenants with dead jobs were built from the
   * keyspace (JobStore.indexDeadTenants): data written before they were kept
   * is in none of them.
   */
  deadTenantsIndexed(): string {
    return `${this.prefix}:dead-tenants-indexed`;
  }

  /**
   * A key every broker makes sure of at start, and only then, and nothing
   * deletes: gone, Redis lost its keys since (see Recovery.renew). The mark of
   * the dead-tenant indexes serves: a start that finds it gone builds them and
   * sets it. Not the layout mark: running brokers mark that again each few
   * seconds (see Broker.keepLayoutMarked), which would hide a loss from the renewal.
   */
  keysKeptMark(): string {
    return this.deadTenantsIndexed();
  }

  /**
   * SCAN pattern of every tenant×queue's dead letters (to build the indexes of
   * tenants with dead jobs once). It also matches some keys that are none:
   * `deadLettersOf` tells them apart.
   */
  deadLettersPattern(): string {
    return `${this.prefix}:{*}:*:dead`;
  }

  /**
   * The tenant and queue whose dead letters a key of `deadLettersPattern()`
   * holds; undefined for a job record or an idempotency key that ends so (its
   * part after `{tenant}:` holds a `:` or is a reserved name; a tenant name
   * never holds a `}`).
   */
  deadLettersOf(key: string): { tenant: string; queue: string } | undefined {
    const middle = key.slice(`${this.prefix}:{`.length, -':dead'.length);
    const close = middle.indexOf('}:');
    if (close <= 0) return undefined;
    const queue = middle.slice(close + 2);
    if (queue === '' || queue.includes(':') || RESERVED_QUEUE_NAMES.includes(queue)) {
      return undefined;
    }
    return { tenant: middle.slice(0, close), queue };
  }

  /**
   * Set of every queue that has had an index of active tenants: read for stats
   * instead of a SCAN of the keyspace (which costs Redis about 0.8 s per million
   * keys, job hashes included).
   */
  queues(): string {
    return `${this.prefix}:queues`;
  }

  /** SCAN pattern of every queue's index of active tenants (to build `queues()` once). */
  activeTenantsPattern(): string {
    return `${this.prefix}:queue:*:tenants`;
  }

  /**
   * The queue named by a key of `activeTenantsPattern()`; undefined for a key
   * of a longer prefix the pattern also matches (prefix `rota` matches
   * `rota:queue:x:queue:q:tenants`, whose part between holds a `:`, which no
   * queue name does).
   */
  queueOfActiveTenants(key: string): string | undefined {
    const queue = key.slice(`${this.prefix}:queue:`.length, -':tenants'.length);
    return queue === '' || queue.includes(':') ? undefined : queue;
  }

  tenantSettings(tenant: string): string {
    return `${this.prefix}:tenant:${tenant}`;
  }

  tenantIndex(): string {
    return `${this.prefix}:tenants`;
  }

  /**
   * Marker (no TTL) that a tenants file was applied to this Redis: gone, it
   * says Redis lost its keys since (see TenantStore.fileApplied).
   */
  tenantsFileMarker(): string {
    return `${this.prefix}:tenants-file`;
  }

  /** Pub/sub channel: "tenant has new work in this queue". */
  doorbell(queue: string): string {
    return `${this.prefix}:doorbell:${queue}`;
  }

  /** Pub/sub channel: "job was cancelled; whoever holds its lease, tell the worker". */
  cancellations(): string {
    return `${this.prefix}:cancellations`;
  }

  /**
   * Pub/sub channel: "a worker re-attached this lease to another broker; the
   * broker that held it, let go of it" (adopt.lua).
   */
  movedLeases(): string {
    return `${this.prefix}:moved-leases`;
  }

  /** Pub/sub channel: "tenant settings changed". */
  settingsChanged(): string {
    return `${this.prefix}:settings`;
  }
}

/** Consumer group of every ready stream. */
export const GROUP = 'rota';
