import type { Redis, ScanStream } from 'ioredis';
import type { JobReads } from './job-reads.js';
import type { JobStoreContext } from './job-store-context.js';
import { runScript, sendBatch, type Batch } from './scripts.js';

/** Keys a SCAN or SSCAN command looks at: a few ms of Redis (its default, 10, meant 100× the commands). */
const SCAN_COUNT = 1000;

/**
 * The indexes outside the tenant slots: per queue, the tenants with work (what
 * brokers fetch from and recovery sweeps) and the tenants that left it with
 * dead jobs (what stats list); and the set of queues that ever had either.
 */
export class TenantIndexes {
  constructor(
    private readonly context: JobStoreContext,
    private readonly reads: JobReads,
  ) {}

  /** Every queue that has had an index of active tenants. */
  async queues(): Promise<string[]> {
    return (await this.context.redis.smembers(this.context.keys.queues())).sort();
  }

  /**
   * Builds the set of queues from the keyspace when it does not exist yet: data
   * written before the set was kept. One SCAN at start instead of one per stats
   * read; afterwards every index write also names its queue in the set.
   * Returns how many queues were found, or undefined when the set existed.
   */
  async registerQueues(): Promise<number | undefined> {
    const { redis, keys } = this.context;
    if ((await redis.exists(keys.queues())) === 1) return undefined;
    const found = new Set<string>();
    for await (const page of keyPages(redis, keys.activeTenantsPattern())) {
      for (const key of page) {
        const queue = keys.queueOfActiveTenants(key);
        if (queue !== undefined) found.add(queue);
      }
    }
    if (found.size > 0) await redis.sadd(keys.queues(), ...found);
    return found.size;
  }

  /**
   * Builds the indexes of tenants with dead jobs (see retire) from the
   * keyspace, once per Redis: a tenant whose jobs had all died before they
   * were kept is in none, so its dead letters were out of GetStats and
   * rota_queue_depth until something touched it. Marked done only after the
   * whole SCAN, so a broker that dies part way leaves it to the next start;
   * brokers starting together scan twice, adding the same tenants. Each page
   * is added as it comes, so memory stays bounded; the queues go to the set of
   * queues too (stats look only at those). Call after registerQueues, which
   * scans only when that set is missing. Returns how many tenant×queues with
   * dead letters were found (one may come twice, as SCAN may return a key
   * twice) and how many of those were missing from the indexes, or undefined
   * when the indexes were built before.
   */
  async indexDeadTenants(): Promise<{ found: number; added: number } | undefined> {
    const { redis, keys } = this.context;
    if ((await redis.exists(keys.deadTenantsIndexed())) === 1) return undefined;
    let found = 0;
    let added = 0;
    for await (const page of keyPages(redis, keys.deadLettersPattern())) {
      const byQueue = new Map<string, string[]>();
      for (const key of page) {
        const pair = keys.deadLettersOf(key);
        if (!pair) continue;
        found++;
        const tenants = byQueue.get(pair.queue) ?? [];
        tenants.push(pair.tenant);
        byQueue.set(pair.queue, tenants);
      }
      if (byQueue.size > 0) {
        const [, ...counts] = await Promise.all([
          redis.sadd(keys.queues(), ...byQueue.keys()),
          ...[...byQueue].map(([queue, tenants]) =>
            redis.sadd(keys.deadTenants(queue), ...tenants),
          ),
        ]);
        for (const count of counts) added += count;
      }
    }
    await redis.set(keys.deadTenantsIndexed(), String(Date.now()));
    return { found, added };
  }

  /** Whether each tenant is in the queue's index of tenants with work, a page of SCAN_COUNT per command. */
  async inIndex(queue: string, tenants: readonly string[]): Promise<boolean[]> {
    const { redis, keys } = this.context;
    const found: boolean[] = [];
    for (let i = 0; i < tenants.length; i += SCAN_COUNT) {
      const page = tenants.slice(i, i + SCAN_COUNT);
      for (const member of await redis.smismember(keys.activeTenants(queue), ...page)) {
        found.push(member === 1);
      }
    }
    return found;
  }

  /** Whether the queue's index of tenants with work, or that of tenants with dead jobs, lists the tenant. */
  async listsTenant(queue: string, tenant: string): Promise<boolean> {
    const { redis, keys } = this.context;
    const [active, dead] = await Promise.all([
      redis.sismember(keys.activeTenants(queue), tenant),
      redis.sismember(keys.deadTenants(queue), tenant),
    ]);
    return active === 1 || dead === 1;
  }

  async markActive(queue: string, tenant: string): Promise<void> {
    await sendBatch(this.context.redis, (batch) => this.indexTenants(batch, queue, [tenant]));
  }

  /**
   * Marks tenants as having work in a queue, and the queue as known (two
   * commands). A write that stores jobs does it on both sides of its script:
   * before, so a write cut short by a crash leaves no job outside the index;
   * after (reindexTenants), because a retirement (see retire) between the
   * first mark and the script would take the tenant out as its jobs go in.
   */
  indexTenants(batch: Batch, queue: string, tenants: readonly string[]): void {
    this.reindexTenants(batch, queue, tenants);
    batch.add(this.context.redis.sadd(this.context.keys.queues(), queue));
  }

  reindexTenants(batch: Batch, queue: string, tenants: readonly string[]): void {
    batch.add(this.context.redis.sadd(this.context.keys.activeTenants(queue), ...tenants));
  }

  /**
   * Takes a tenant out of the queue's index of tenants with work when it has
   * none: removes it, then runs retire.lua (sent on one connection without
   * waiting in between, so Redis runs them in that order), and puts it back if
   * any job is there. Returns whether it stays out. With no job left, the
   * script also deletes the tenant×queue's ready streams and levels, which a
   * next job makes again.
   *
   * Why not a plain SREM after a fetch found nothing: a job stored between that
   * fetch and the SREM (through any broker: its enqueue's SADD ran before the
   * SREM) and read into a broker's pending list was left out of the index. The
   * recovery sweep reads only the index, so had that broker died, the job
   * waited for its tenant's next enqueue. Read after the SREM, the depth sees
   * every job stored before it; a write that stores jobs after it marks the
   * tenant again after its script (see indexTenants). Two commands, not one
   * script: the index lies outside the tenant's hash slot (see keys.ts).
   *
   * A tenant that leaves with dead jobs goes to the queue's index of tenants
   * with dead jobs: stats and metrics list only indexed tenants, so its dead
   * letters were out of GetStats and rota_queue_depth after a broker restart
   * (or an hour without events), while they still waited for an operator. No
   * job can die after this without an enqueue (or replay) marking it again.
   */
  async retire(queue: string, tenant: string): Promise<boolean> {
    const { redis, keys } = this.context;
    const [, reply] = await Promise.all([
      redis.srem(keys.activeTenants(queue), tenant),
      runScript(
        redis,
        'retire',
        [keys.levels(tenant, queue)],
        [keys.queueBase(tenant, queue), this.context.deadExpiredBy()],
      ),
    ]);
    const [waiting, leased, delayed, dead] = reply as number[];
    if (waiting! + leased! + delayed! === 0) {
      if (dead! > 0) await redis.sadd(keys.deadTenants(queue), tenant);
      return true;
    }
    await this.markActive(queue, tenant);
    return false;
  }

  /** Every tenant that left the queue's index of active tenants with dead jobs (see retire). */
  async deadTenants(queue: string): Promise<string[]> {
    const tenants = new Set<string>();
    const { redis, keys } = this.context;
    for await (const page of pages(
      redis.sscanStream(keys.deadTenants(queue), { count: SCAN_COUNT }),
    )) {
      for (const tenant of page) tenants.add(tenant);
    }
    return [...tenants];
  }

  /**
   * Takes a tenant whose dead jobs are gone (replayed, deleted, or past their
   * retention) out of the queue's index of tenants with dead jobs; as retire,
   * removed first and put back if its depth, read after, has dead jobs.
   */
  async forgetDeadTenant(queue: string, tenant: string): Promise<void> {
    const { redis, keys } = this.context;
    const [, [depth]] = await Promise.all([
      redis.srem(keys.deadTenants(queue), tenant),
      this.reads.depths([{ tenant, queue }]),
    ]);
    if (depth!.dead > 0) await redis.sadd(keys.deadTenants(queue), tenant);
  }

  /** Every tenant marked as having work in the queue. */
  async activeTenants(queue: string): Promise<string[]> {
    const tenants: string[] = [];
    for await (const page of this.activeTenantPages(queue)) tenants.push(...page);
    return tenants;
  }

  /** The index of a queue's active tenants, a page (about 1,000) at a time; a tenant may come twice. */
  async *activeTenantPages(queue: string): AsyncGenerator<string[]> {
    // The cursor by hand, not a scan stream: a stream reads up to 16 pages
    // ahead, and the sweep takes a page only when it has served the one before.
    let cursor = '0';
    do {
      const [next, page] = await this.context.redis.sscan(
        this.context.keys.activeTenants(queue),
        cursor,
        'COUNT',
        SCAN_COUNT,
      );
      if (page.length > 0) yield page;
      cursor = next;
    } while (cursor !== '0');
  }
}

/** The keys matching `match`, a SCAN page (about 1,000 keys looked at) at a time; a key may come twice. */
export function keyPages(redis: Redis, match: string): AsyncIterable<string[]> {
  return pages(redis.scanStream({ match, count: SCAN_COUNT }));
}

/** The pages of an ioredis scan stream, which follows the cursor (a few pages ahead of the reader). */
function pages(stream: ScanStream): AsyncIterable<string[]> {
  return stream as AsyncIterable<string[]>;
}
