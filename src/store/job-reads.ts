import type { JobStoreContext } from './job-store-context.js';
import { parseHeaders } from './job-headers.js';
import { sendPacked } from './packed.js';
import { sendBatch } from './scripts.js';
import type {
  JobRecord,
  JobState,
  LeaseState,
  QueueDepth,
  ReadyEntry,
  ReadyPosition,
} from './types.js';

/** Reads for a job's status, the pages of a queue's jobs, and the depths stats report. */
export class JobReads {
  constructor(private readonly context: JobStoreContext) {}

  async getJob(tenant: string, jobId: string): Promise<JobRecord | undefined> {
    const { redis, keys } = this.context;
    const hash = await redis.hgetallBuffer(keys.job(tenant, jobId));
    return decodeJob(tenant, jobId, hash);
  }

  async getJobs(tenant: string, jobIds: readonly string[]): Promise<JobRecord[]> {
    if (jobIds.length === 0) return [];
    const { redis, keys } = this.context;
    const replies = await sendBatch(redis, (batch) => {
      for (const id of jobIds) batch.add(redis.hgetallBuffer(keys.job(tenant, id)));
    });
    return replies
      .map((hash, i) => decodeJob(tenant, jobIds[i]!, hash as Record<string, Buffer>))
      .filter((job): job is JobRecord => job !== undefined);
  }

  /**
   * Each job's state, lease token and whether this broker holds its lease (its
   * holder, see adopt.lua), in one round trip; undefined for a job that no
   * longer exists.
   */
  async leaseStates(
    jobs: ReadonlyArray<{ tenant: string; jobId: string }>,
  ): Promise<Array<LeaseState | undefined>> {
    if (jobs.length === 0) return [];
    const { redis, keys, options } = this.context;
    const replies = await sendBatch(redis, (batch) => {
      for (const { tenant, jobId } of jobs) {
        batch.add(redis.hmget(keys.job(tenant, jobId), 'state', 'token', 'holder'));
      }
    });
    return (replies as Array<Array<string | null>>).map(([state, token, holder]) =>
      state
        ? { state: state as JobState, token: token ?? '', heldHere: holder === options.consumer }
        : undefined,
    );
  }

  /** Whether this broker still holds the job's lease under `token` (its holder in Redis, see adopt.lua). */
  async holdsLease(tenant: string, jobId: string, token: string): Promise<boolean> {
    const [now] = await this.leaseStates([{ tenant, jobId }]);
    return now?.state === 'leased' && now.token === token && now.heldHere;
  }

  /** Dead job ids, newest first, from `offset`; with the queue's total. */
  async listDead(
    tenant: string,
    queue: string,
    offset: number,
    limit: number,
  ): Promise<{ ids: string[]; total: number }> {
    const key = this.context.keys.dead(tenant, queue);
    // Sent ahead on the same connection: the page and the total are read after it.
    const [, page] = await Promise.all([
      this.context.redis.zremrangebyscore(key, '-inf', this.context.deadExpiredBy()),
      this.rankPage(key, offset, limit, 'highest score first'),
    ]);
    return page;
  }

  /** Delayed job ids (delays and retries), soonest due first, from `offset`; with the set's size. */
  listDelayed(
    tenant: string,
    queue: string,
    offset: number,
    limit: number,
  ): Promise<{ ids: string[]; total: number }> {
    return this.rankPage(
      this.context.keys.delayed(tenant, queue),
      offset,
      limit,
      'lowest score first',
    );
  }

  /** Up to `limit` members of a sorted set from rank `offset`, in `order`; with its size. */
  private async rankPage(
    key: string,
    offset: number,
    limit: number,
    order: 'highest score first' | 'lowest score first',
  ): Promise<{ ids: string[]; total: number }> {
    const { redis } = this.context;
    const last = offset + limit - 1;
    const [ids, total] = await Promise.all([
      order === 'highest score first'
        ? redis.zrevrange(key, offset, last)
        : redis.zrange(key, String(offset), String(last)),
      redis.zcard(key),
    ]);
    return { ids, total };
  }

  /**
   * Up to `limit` entries of a tenant×queue's ready streams, in the order
   * brokers read them (highest priority first, then oldest first), after
   * `from` when given. Entries of leased jobs are among them until completed.
   */
  async readyEntries(
    tenant: string,
    queue: string,
    from: ReadyPosition | undefined,
    limit: number,
  ): Promise<ReadyEntry[]> {
    const { redis, keys } = this.context;
    const levels = (await redis.zrevrange(keys.levels(tenant, queue), 0, -1))
      .map(Number)
      .filter((level) => from === undefined || level <= from.level);
    const found: ReadyEntry[] = [];
    for (const level of levels) {
      if (found.length >= limit) break;
      const start = from?.level === level ? `(${from.entry}` : '-';
      const stream = keys.ready(tenant, queue, level);
      const entries = await redis.xrange(stream, start, '+', 'COUNT', limit - found.length);
      for (const [entry, fields] of entries) found.push({ level, entry, jobId: fields[1] ?? '' });
    }
    return found;
  }

  /** Depth by state of tenant×queue pairs, in one round trip. */
  async depths(pairs: ReadonlyArray<{ tenant: string; queue: string }>): Promise<QueueDepth[]> {
    if (pairs.length === 0) return [];
    const { redis, keys } = this.context;
    const groups = pairs.map(({ tenant, queue }, index) => ({
      routingKey: keys.levels(tenant, queue),
      header: [],
      items: [index],
    }));
    const shared = [this.context.deadExpiredBy()];
    const replies = await sendPacked(redis, 'stats', shared, groups, (index, args) => {
      const { tenant, queue } = pairs[index]!;
      args.push(keys.queueBase(tenant, queue));
    });
    const depths = new Array<QueueDepth>(pairs.length);
    for (const reply of replies) {
      const values = reply.values.map(Number);
      reply.items.forEach((index, k) => {
        const [waiting = 0, leased = 0, delayed = 0, dead = 0, oldest = -1] = values.slice(
          5 * k,
          5 * k + 5,
        );
        depths[index] = {
          ...pairs[index]!,
          waiting,
          leased,
          delayed,
          dead,
          oldestWaitingAt: oldest >= 0 ? oldest : undefined,
        };
      });
    }
    return depths;
  }
}

function decodeJob(
  tenant: string,
  id: string,
  hash: Record<string, Buffer>,
): JobRecord | undefined {
  if (!hash.state) return undefined;
  const text = (field: string): string => hash[field]?.toString() ?? '';
  const num = (field: string): number => Number(text(field) || 0);
  return {
    id,
    tenant,
    queue: text('queue'),
    state: text('state') as JobState,
    payload: hash.payload ?? Buffer.alloc(0),
    priority: num('priority'),
    attempts: num('attempts'),
    maxAttempts: num('maxAttempts'),
    backoffInitialMs: num('backoffInitialMs'),
    backoffMaxMs: num('backoffMaxMs'),
    timeoutMs: num('timeoutMs'),
    runAt: num('runAt'),
    idempotencyKey: text('idem'),
    headers: parseHeaders(text('headers')),
    createdAt: num('createdAt'),
    progress: hash.progress,
    progressContentType: text('progressType'),
    result: hash.result,
    resultContentType: text('resultType'),
    lastError: text('error'),
    leasedAt: num('leasedAt'),
    finishedAt: num('finishedAt'),
    leaseToken: text('token'),
    entry: text('entry'),
  };
}
