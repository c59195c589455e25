import type { Redis } from 'ioredis';
import { GROUP, Keys } from './keys.js';
import { packArgs, unpackReply } from './cmsgpack.js';
import { sendPacked, type PackedGroup } from './packed.js';
import { defineScripts, runScript, sendBatch, type Batch, type ScriptArg } from './scripts.js';
import type {
  AckOutcome,
  CancelOutcome,
  DeadLetterAction,
  EnqueueOutcome,
  EnqueueReply,
  FailOutcome,
  FetchRequest,
  FetchResult,
  FetchedJob,
  JobRecord,
  JobState,
  NewJob,
  QueueDepth,
  ReadyEntry,
  ReadyPosition,
  ReclaimOutcome,
} from './types.js';

export interface JobStoreOptions {
  readonly keyPrefix: string;
  /** This broker's consumer name in every ready stream's group. */
  readonly consumer: string;
  readonly completedRetentionMs: number;
  readonly deadRetentionMs: number;
  readonly idempotencyRetentionMs: number;
  /**
   * The time of the broker's clock, for the reads of dead letters (depths, the
   * dead letter queue's pages, replay and delete), which drop those past their
   * retention: the calls that kill jobs stamp them with the same clock's `now`.
   * @default Date.now
   */
  readonly clock?: () => number;
}

/** Most delayed jobs one fetch promotes; the rest wait for the next fetch. */
const PROMOTE_LIMIT = 500;
/**
 * Most stale entries one reclaim call takes per stream; past that many in all,
 * it stops (the rest is sent again in a further call), so one call never fails
 * thousands of leases while Redis waits.
 */
const RECLAIM_LIMIT = 200;
/**
 * Most XAUTOCLAIMs of one reclaim call, each looking at up to 10 × RECLAIM_LIMIT
 * pending entries: 20,000 at most, live ones included, before the call stops
 * and the rest is sent again.
 */
const RECLAIM_SCANS = 10;
/** Values per job in a fetch reply (see fetch.lua). */
const FETCH_FIELDS = 10;
/** Marks a part of a fetch (or an enqueue's claim) whose read failed (see read_ready.lua). */
const PART_FAILED = -2;
/** Jobs one fetch call asks for before the next tenant goes into another call. */
const FETCH_BATCH = 1024;
/**
 * Entries one XCLAIM renews. The ids go to ioredis as call arguments: a
 * stream's 200,000 held entries in one call overflowed the call stack.
 */
const RENEW_BATCH = 1000;

export interface HeldEntry {
  readonly tenant: string;
  readonly queue: string;
  readonly priority: number;
  readonly entry: string;
}

/**
 * The only module that talks to Redis about jobs. Every multi-step change is one
 * Lua script; batches go out in one write (sendBatch).
 */
export class JobStore {
  readonly keys: Keys;

  constructor(
    readonly redis: Redis,
    private readonly options: JobStoreOptions,
  ) {
    this.keys = new Keys(options.keyPrefix);
    defineScripts(redis);
  }

  /**
   * Stores jobs in one round trip. The per-queue index of tenants with work is
   * written before the tenant's script: a crash between the two leaves a tenant
   * marked active with nothing to do (dropped when found empty), never a job no
   * broker can find.
   *
   * `claim(tenant, queue)` is asked once per tenant×queue (while a call has
   * room for it) for the fetch its new jobs need; the enqueue script then reads
   * them into this broker's pending list itself, as fetch would, so the broker
   * neither sends that fetch nor reads back payloads it already holds. With
   * 10,000 tenants of one job each per batch, that fetch was a script part per
   * job. A request the store did not take was not asked for.
   *
   * Idempotency keys hold as if the jobs came one call each, in order: the
   * first job of the batch with a tenant's key is the one stored, and later
   * ones with that key are answered as its duplicates (or as duplicates of
   * the job the first turned out to duplicate). Only the first goes to Redis:
   * the script groups jobs by tenant×queue, so a later job of another queue
   * would otherwise be stored first and take the key. When the first is over
   * its queue's limit, nothing holds the key, and the next job with it is
   * sent in a further round trip, as a call of its own would be (after the
   * rest of the batch, which its limit check then counts; `claim` may be
   * asked again).
   */
  async enqueue(
    jobs: readonly NewJob[],
    maxQueued: (tenant: string, queue: string) => number,
    now: number,
    claim: (tenant: string, queue: string) => FetchRequest | undefined = () => undefined,
  ): Promise<EnqueueReply> {
    const reply: EnqueueReply = {
      outcomes: new Array<EnqueueOutcome>(jobs.length),
      claimed: new Map(),
    };
    for (let left = jobs.map((_, index) => index); left.length > 0;) {
      const firsts = new Map<string, number>();
      const sent: number[] = [];
      const later: Array<{ index: number; first: number }> = [];
      for (const index of left) {
        const { tenant, idempotencyKey } = jobs[index]!;
        if (idempotencyKey === '') {
          sent.push(index);
          continue;
        }
        const key = `${tenant}\n${idempotencyKey}`;
        const first = firsts.get(key);
        if (first === undefined) {
          firsts.set(key, index);
          sent.push(index);
        } else later.push({ index, first });
      }
      await this.enqueueRound(jobs, sent, maxQueued, now, claim, reply);
      left = [];
      for (const { index, first } of later) {
        const outcome = reply.outcomes[first]!;
        if (outcome.kind === 'full') left.push(index);
        else reply.outcomes[index] = { kind: 'duplicate', jobId: outcome.jobId };
      }
    }
    return reply;
  }

  /** One round trip of enqueue: stores jobs[i] for each i of `sent`, answering into `reply`. */
  private async enqueueRound(
    jobs: readonly NewJob[],
    sent: readonly number[],
    maxQueued: (tenant: string, queue: string) => number,
    now: number,
    claim: (tenant: string, queue: string) => FetchRequest | undefined,
    reply: EnqueueReply,
  ): Promise<void> {
    const groups = [
      ...groupBy(sent, (index) => `${jobs[index]!.queue}\n${jobs[index]!.tenant}`).values(),
    ].map((positions) => positions.map((position) => sent[position]!));
    const tenantsByQueue = new Map<string, string[]>();
    for (const indexes of groups) {
      const { tenant, queue } = jobs[indexes[0]!]!;
      const tenants = tenantsByQueue.get(queue);
      if (tenants) tenants.push(tenant);
      else tenantsByQueue.set(queue, [tenant]);
    }
    const tenantQueues: PackedGroup[] = [];
    /** Per call, its claims in argument order, with the jobs of their groups. */
    const claims: Array<
      Array<{ request: FetchRequest; indexes: readonly number[]; queue: string }>
    > = [];
    const claimedJobs: number[] = [];
    for (const indexes of groups) {
      const { tenant, queue } = jobs[indexes[0]!]!;
      const trailer = (call: number, last: boolean): ScriptArg[] => {
        const asked = (claimedJobs[call] ??= 0);
        const request = last && asked < FETCH_BATCH ? claim(tenant, queue) : undefined;
        if (!request) return [0, 0];
        claimedJobs[call] = asked + request.count;
        (claims[call] ??= []).push({ request, indexes, queue });
        const tokens = request.leaseTokens ?? [];
        return [request.count, tokens.length, ...tokens];
      };
      tenantQueues.push({
        trailer,
        routingKey: this.keys.delayed(tenant, queue),
        header: [
          this.keys.queueBase(tenant, queue),
          this.keys.jobBase(tenant),
          this.keys.idempotency(tenant, ''),
          maxQueued(tenant, queue),
          queue,
        ],
        items: indexes,
      });
    }
    const shared = [now, this.options.idempotencyRetentionMs, this.options.consumer, PROMOTE_LIMIT];
    const replies = await sendPacked(
      this.redis,
      'enqueue',
      shared,
      tenantQueues,
      (index, args) => {
        const job = jobs[index]!;
        args.push(
          job.id,
          job.idempotencyKey,
          job.runAt,
          job.priority,
          job.payload,
          job.maxAttempts,
          job.backoffInitialMs,
          job.backoffMaxMs,
          job.timeoutMs,
          encodeHeaders(job.headers),
          job.createdAt,
        );
      },
      {
        before: (batch) => {
          for (const [queue, tenants] of tenantsByQueue) this.indexTenants(batch, queue, tenants);
        },
        after: (batch) => {
          for (const [queue, tenants] of tenantsByQueue) this.reindexTenants(batch, queue, tenants);
        },
      },
    );
    const { outcomes, claimed } = reply;
    replies.forEach(({ items, values }, call) => {
      items.forEach((index, k) => {
        const code = Number(values[2 * k]);
        const value = values[2 * k + 1]!;
        outcomes[index] =
          code === 0
            ? { kind: 'stored', jobId: value.toString() }
            : code === 1
              ? { kind: 'duplicate', jobId: value.toString() }
              : { kind: 'full', queued: Number(value) };
      });
      let i = 2 * items.length;
      for (const { request, indexes, queue } of claims[call] ?? []) {
        const part = readFetchPart(values, i, request.tenant, queue);
        i = part.next;
        if (part.result instanceof Error) {
          claimed.set(request, part.result);
          continue;
        }
        // The script answers the jobs it has just stored without their payload
        // and headers. The payload is copied: the request's is a view into its
        // whole message, which a buffered or leased job would keep alive.
        const stored = new Map(indexes.map((index) => [jobs[index]!.id, jobs[index]!]));
        const jobsRead = part.result.jobs.map((job) => {
          const own = stored.get(job.id);
          return own ? { ...job, payload: Buffer.from(own.payload), headers: own.headers } : job;
        });
        claimed.set(request, { ...part.result, jobs: jobsRead });
      }
    });
  }

  /**
   * Prefetch for many tenants of a queue in one round trip: `count` new jobs at
   * most for each, fewer when its streams run dry. Calls carry many tenants
   * each, up to about FETCH_BATCH jobs asked for. With `leaseTokens`, the first
   * jobs read are leased at once under those tokens (a direct dispatch).
   * Answers per request, in order; a tenant whose read failed gets its Error,
   * and the others their jobs (some of them leased already).
   */
  async fetch(
    queue: string,
    wants: readonly FetchRequest[],
    now: number,
  ): Promise<Array<FetchResult | Error>> {
    const shared = [this.options.consumer, now, PROMOTE_LIMIT];
    const replies = await sendBatch(this.redis, (batch) => {
      for (let start = 0; start < wants.length;) {
        const first = wants[start]!.tenant;
        const args: Array<string | number> = [...shared];
        for (let asked = 0; start < wants.length && asked < FETCH_BATCH; start++) {
          const { tenant, count, leaseTokens = [] } = wants[start]!;
          args.push(this.keys.queueBase(tenant, queue), this.keys.jobBase(tenant), count);
          args.push(leaseTokens.length, ...leaseTokens);
          asked += count;
        }
        batch.script('fetch', [this.keys.levels(first, queue)], [packArgs(args)], true);
      }
    });
    const results: Array<FetchResult | Error> = [];
    for (const reply of replies) {
      const values = unpackReply(reply as Buffer);
      for (let i = 0; i < values.length;) {
        const part = readFetchPart(values, i, wants[results.length]!.tenant, queue);
        results.push(part.result);
        i = part.next;
      }
    }
    return results;
  }

  /**
   * Turns fetched jobs into leases under the given tokens, one script per tenant,
   * all in one round trip. Returns each job's attempt number, 0 when skipped.
   */
  async lease(
    grants: ReadonlyArray<{ job: FetchedJob; token: string }>,
    now: number,
  ): Promise<number[]> {
    const groups = [...groupBy(grants, (grant) => grant.job.tenant).values()].map((indexes) => {
      const jobBase = this.keys.jobBase(grants[indexes[0]!]!.job.tenant);
      return { routingKey: jobBase, header: [jobBase], items: indexes };
    });
    const shared = [now, this.options.consumer];
    const replies = await sendPacked(this.redis, 'lease', shared, groups, (index, args) => {
      const { job, token } = grants[index]!;
      args.push(job.id, job.entry, token, job.attempts + 1);
    });
    const attempts = new Array<number>(grants.length).fill(0);
    for (const { items, values } of replies) {
      values.forEach((leased, k) => {
        const index = items[k]!;
        if (Number(leased) === 1) attempts[index] = grants[index]!.job.attempts + 1;
      });
    }
    return attempts;
  }

  /**
   * Records completions (complete.lua). `resent`: these same acks went out
   * before in a call that failed, which may have recorded them all the same.
   *
   * A second run of an ack (this one, or ioredis sending the command again on
   * a new connection when the reply to the first did not come on the old one)
   * is answered 'ok' by the script, except when the first run deleted the job
   * (completed retention 0, or a retention shorter than the wait): Redis then
   * says 'no such job', which here means that run completed it. Only a job
   * cancelled, and deleted, before the first run (a race with CancelJob while
   * the connection dropped) would be taken for completed.
   */
  async complete(
    acks: ReadonlyArray<{
      tenant: string;
      queue: string;
      jobId: string;
      token: string;
      result: Buffer;
      resultContentType: string;
      entry: string;
      priority: number;
    }>,
    now: number,
    resent = false,
  ): Promise<AckOutcome[]> {
    if (acks.length === 0) return [];
    const connection = this.redis.stream;
    const groups = [...groupBy(acks, (ack) => ack.tenant).values()].map((indexes) => {
      const tenant = acks[indexes[0]!]!.tenant;
      return {
        routingKey: this.keys.jobBase(tenant),
        header: [this.keys.tenantBase(tenant)],
        items: indexes,
      };
    });
    const shared = [now, this.options.completedRetentionMs, this.options.consumer];
    const replies = await sendPacked(this.redis, 'complete', shared, groups, (index, args) => {
      const ack = acks[index]!;
      args.push(
        ack.jobId,
        ack.queue,
        ack.token,
        ack.result,
        ack.resultContentType,
        ack.entry,
        ack.priority,
      );
    });
    // ioredis sends a call again on its next connection when the one it went
    // out on closed before the reply: on a new connection, it may have run twice.
    const sentBefore = resent || this.redis.stream !== connection;
    const outcomes = new Array<AckOutcome>(acks.length);
    for (const { items, values } of replies) {
      values.forEach((code, k) => {
        const outcome = ACK_OUTCOMES[Number(code)] ?? 'unknown';
        outcomes[items[k]!] = outcome === 'unknown' && sentBefore ? 'ok' : outcome;
      });
    }
    return outcomes;
  }

  async fail(
    failures: ReadonlyArray<{
      tenant: string;
      queue: string;
      jobId: string;
      token: string;
      message: string;
      retryable: boolean;
      retryAfterMs: number;
    }>,
    now: number,
  ): Promise<FailOutcome[]> {
    if (failures.length === 0) return [];
    const replies = await sendBatch(this.redis, (batch) => {
      for (const failure of failures) {
        batch.script(
          'fail',
          [this.keys.job(failure.tenant, failure.jobId)],
          [
            this.keys.queueBase(failure.tenant, failure.queue),
            failure.jobId,
            failure.token,
            now,
            failure.message,
            failure.retryable ? 1 : 0,
            failure.retryAfterMs,
            Math.random(),
            this.options.deadRetentionMs,
            this.options.consumer,
          ],
        );
      }
    });
    return replies.map((reply) => {
      const [code, outcome, runAt] = (reply as number[]).map(Number);
      if (code === 1) return { kind: 'stale' };
      if (code === 2) return { kind: 'unknown' };
      return outcome === 1 ? { kind: 'retrying', runAt: runAt! } : { kind: 'dead' };
    });
  }

  /** Makes this broker the holder of leases re-attached here; false where the lease is not current. */
  async adopt(
    leases: ReadonlyArray<{ tenant: string; jobId: string; token: string }>,
  ): Promise<boolean[]> {
    if (leases.length === 0) return [];
    const replies = await sendBatch(this.redis, (batch) => {
      for (const lease of leases) {
        batch.script(
          'adopt',
          [this.keys.job(lease.tenant, lease.jobId)],
          [lease.token, this.options.consumer],
        );
      }
    });
    return replies.map((reply) => Number(reply) === 1);
  }

  async progress(
    tenant: string,
    jobId: string,
    token: string,
    data: Buffer,
    contentType: string,
  ): Promise<AckOutcome> {
    const code = await runScript(
      this.redis,
      'progress',
      [this.keys.job(tenant, jobId)],
      [token, data, contentType],
    );
    return ACK_OUTCOMES[Number(code)] ?? 'unknown';
  }

  async cancel(tenant: string, jobId: string, now: number): Promise<CancelOutcome> {
    const reply = (await runScript(
      this.redis,
      'cancel',
      [this.keys.job(tenant, jobId)],
      [this.keys.tenantBase(tenant), jobId, now, this.options.completedRetentionMs],
    )) as [number, string?, string?];
    if (reply[0] === 0) return { kind: 'not_found' };
    if (reply[0] === 1) return { kind: 'ended', state: reply[1] as JobState };
    return { kind: 'cancelled', previous: reply[1] as JobState, queue: reply[2] ?? '' };
  }

  async getJob(tenant: string, jobId: string): Promise<JobRecord | undefined> {
    const hash = await this.redis.hgetallBuffer(this.keys.job(tenant, jobId));
    return decodeJob(tenant, jobId, hash);
  }

  async getJobs(tenant: string, jobIds: readonly string[]): Promise<JobRecord[]> {
    if (jobIds.length === 0) return [];
    const replies = await sendBatch(this.redis, (batch) => {
      for (const id of jobIds) batch.add(this.redis.hgetallBuffer(this.keys.job(tenant, id)));
    });
    return replies
      .map((hash, i) => decodeJob(tenant, jobIds[i]!, hash as Record<string, Buffer>))
      .filter((job): job is JobRecord => job !== undefined);
  }

  /** Each job's state (undefined once it no longer exists), in one round trip. */
  async jobStates(
    jobs: ReadonlyArray<{ tenant: string; jobId: string }>,
  ): Promise<Array<JobState | undefined>> {
    if (jobs.length === 0) return [];
    const replies = await sendBatch(this.redis, (batch) => {
      for (const { tenant, jobId } of jobs) {
        batch.add(this.redis.hget(this.keys.job(tenant, jobId), 'state'));
      }
    });
    return (replies as Array<string | null>).map(
      (state) => (state ?? undefined) as JobState | undefined,
    );
  }

  /** Dead job ids, newest first, from `offset`; with the queue's total. */
  async listDead(
    tenant: string,
    queue: string,
    offset: number,
    limit: number,
  ): Promise<{ ids: string[]; total: number }> {
    const key = this.keys.dead(tenant, queue);
    // Sent ahead on the same connection: the page and the total are read after it.
    const [, page] = await Promise.all([
      this.redis.zremrangebyscore(key, '-inf', this.deadExpiredBy()),
      this.rankPage(key, offset, limit, 'highest score first'),
    ]);
    return page;
  }

  private now(): number {
    return (this.options.clock ?? Date.now)();
  }

  /** The death time up to which dead letters are past their retention (their job hashes expired). */
  private deadExpiredBy(now = this.now()): number {
    return now - this.options.deadRetentionMs;
  }

  /** Delayed job ids (delays and retries), soonest due first, from `offset`; with the set's size. */
  listDelayed(
    tenant: string,
    queue: string,
    offset: number,
    limit: number,
  ): Promise<{ ids: string[]; total: number }> {
    return this.rankPage(this.keys.delayed(tenant, queue), offset, limit, 'lowest score first');
  }

  /** Up to `limit` members of a sorted set from rank `offset`, in `order`; with its size. */
  private async rankPage(
    key: string,
    offset: number,
    limit: number,
    order: 'highest score first' | 'lowest score first',
  ): Promise<{ ids: string[]; total: number }> {
    const last = offset + limit - 1;
    const [ids, total] = await Promise.all([
      order === 'highest score first'
        ? this.redis.zrevrange(key, offset, last)
        : this.redis.zrange(key, String(offset), String(last)),
      this.redis.zcard(key),
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
    const levels = (await this.redis.zrevrange(this.keys.levels(tenant, queue), 0, -1))
      .map(Number)
      .filter((level) => from === undefined || level <= from.level);
    const found: ReadyEntry[] = [];
    for (const level of levels) {
      if (found.length >= limit) break;
      const start = from?.level === level ? `(${from.entry}` : '-';
      const stream = this.keys.ready(tenant, queue, level);
      const entries = await this.redis.xrange(stream, start, '+', 'COUNT', limit - found.length);
      for (const [entry, fields] of entries) found.push({ level, entry, jobId: fields[1] ?? '' });
    }
    return found;
  }

  /**
   * Takes the named jobs out of a dead letter queue: replays them (back to
   * their ready stream with a fresh attempt budget) or deletes them for good.
   * Says which were not dead there.
   */
  async takeDead(
    action: DeadLetterAction,
    tenant: string,
    queue: string,
    jobIds: readonly string[],
  ): Promise<{ taken: number; notFound: string[] }> {
    const { taken, notFound } = await this.runTakeDead(action, tenant, queue, 0, '', jobIds);
    return { taken, notFound };
  }

  /**
   * Takes up to `limit` of the oldest dead jobs out, of those that died by
   * `diedBy` ('' = by the newest death now). Answers the bound it used, for
   * the next call of a pass in steps, and how many dead-set entries it looked at.
   */
  async takeOldestDead(
    action: DeadLetterAction,
    tenant: string,
    queue: string,
    limit: number,
    diedBy: string,
  ): Promise<{ taken: number; looked: number; diedBy: string }> {
    const reply = await this.runTakeDead(action, tenant, queue, limit, diedBy, []);
    return { taken: reply.taken, looked: reply.taken + reply.notFound.length, diedBy: reply.bound };
  }

  private async runTakeDead(
    action: DeadLetterAction,
    tenant: string,
    queue: string,
    limit: number,
    diedBy: string,
    jobIds: readonly string[],
  ): Promise<{ taken: number; notFound: string[]; bound: string }> {
    const keys = [this.keys.dead(tenant, queue)];
    const now = this.now();
    const args = [
      this.keys.jobBase(tenant),
      this.deadExpiredBy(now),
      limit,
      diedBy,
      now,
      ...jobIds,
    ];
    let reply: [number, string, ...string[]];
    if (action === 'delete') {
      reply = (await runScript(this.redis, 'delete_dead', keys, args)) as typeof reply;
    } else {
      // Marked first, on its own: a full Redis refuses the SADD, and so nothing
      // is replayed. The script would not be refused (its first write, a ZREM,
      // adds no memory, and Redis then lets the rest of it write).
      await this.markActive(queue, tenant);
      [reply] = (await sendBatch(this.redis, (batch) => {
        batch.script('replay', keys, args);
        this.reindexTenants(batch, queue, [tenant]);
      })) as [typeof reply];
    }
    const [taken, bound, ...notFound] = reply;
    return { taken: Number(taken), notFound: notFound.map(String), bound: String(bound) };
  }

  /**
   * One step of a purge (purge.lua): cancels up to `limit` of the jobs of a
   * tenant×queue that wait (ready, delayed or retrying) and were created by
   * `createdBy`. Begin with cursor ''; repeat with the cursor answered until
   * it is ''.
   */
  async purgeStep(
    tenant: string,
    queue: string,
    createdBy: number,
    now: number,
    limit: number,
    cursor: string,
  ): Promise<{ purged: number; cursor: string }> {
    const [purged, next] = (await runScript(
      this.redis,
      'purge',
      [this.keys.delayed(tenant, queue)],
      [
        this.keys.queueBase(tenant, queue),
        this.keys.jobBase(tenant),
        createdBy,
        now,
        this.options.completedRetentionMs,
        limit,
        cursor,
      ],
    )) as [number, string];
    return { purged: Number(purged), cursor: String(next) };
  }

  /**
   * Takes over entries idle longer than `minIdleMs` (their holder died), for
   * each tenant of a queue, in one round trip (more when a call reached its
   * bounds, RECLAIM_LIMIT or RECLAIM_SCANS: those tenants are sent again from
   * where it stopped, so every entry is looked at once per call of this);
   * also says what each has left.
   */
  async reclaim(
    queue: string,
    tenants: readonly string[],
    minIdleMs: number,
    now: number,
  ): Promise<ReclaimOutcome[]> {
    const outcomes = tenants.map(() => ({
      requeued: 0,
      retrying: 0,
      dead: 0,
      nextRunAt: undefined as number | undefined,
      unread: false,
      pending: 0,
    }));
    const shared = [
      this.options.consumer,
      minIdleMs,
      now,
      Math.random(),
      this.options.deadRetentionMs,
      RECLAIM_LIMIT,
      RECLAIM_SCANS,
    ];
    const from = tenants.map(() => ({ level: '-inf', entry: '0-0' }));
    for (let left = tenants.map((_, index) => index); left.length > 0;) {
      const groups = left.map((index) => ({
        routingKey: this.keys.levels(tenants[index]!, queue),
        header: [],
        items: [index],
      }));
      const replies = await sendPacked(this.redis, 'reclaim', shared, groups, (index, args) => {
        const tenant = tenants[index]!;
        const { level, entry } = from[index]!;
        args.push(this.keys.queueBase(tenant, queue), this.keys.jobBase(tenant), level, entry);
      });
      const unfinished: number[] = [];
      for (const reply of replies) {
        reply.items.forEach((index, k) => {
          const values = reply.values.slice(8 * k, 8 * k + 8);
          const [requeued, retrying, dead, nextRunAt, unread, pending] = values.map(Number);
          const outcome = outcomes[index]!;
          outcome.requeued += requeued ?? 0;
          outcome.retrying += retrying ?? 0;
          outcome.dead += dead ?? 0;
          outcome.unread ||= unread === 1;
          outcome.pending += pending ?? 0;
          const entry = String(values[7] ?? '');
          if (entry === '') {
            outcome.nextRunAt = nextRunAt !== undefined && nextRunAt >= 0 ? nextRunAt : undefined;
          } else {
            from[index] = { level: String(values[6]), entry };
            unfinished.push(index);
          }
        });
      }
      left = unfinished;
    }
    return outcomes;
  }

  /**
   * Gives back jobs this broker read ahead and will not lease (release.lua):
   * each still waiting on its entry goes to the tail of its ready stream, for
   * any broker. Answers, per job in order, whether it was given back.
   */
  async release(jobs: readonly FetchedJob[]): Promise<boolean[]> {
    if (jobs.length === 0) return [];
    const groups = [...groupBy(jobs, (job) => `${job.queue}\n${job.tenant}`).values()].map(
      (indexes) => {
        const { tenant, queue } = jobs[indexes[0]!]!;
        return {
          routingKey: this.keys.levels(tenant, queue),
          header: [this.keys.queueBase(tenant, queue), this.keys.jobBase(tenant)],
          items: indexes,
        };
      },
    );
    const replies = await sendPacked(this.redis, 'release', [], groups, (index, args) => {
      const job = jobs[index]!;
      args.push(job.id, job.entry, job.priority);
    });
    const released = new Array<boolean>(jobs.length).fill(false);
    for (const { items, values } of replies) {
      values.forEach((value, k) => (released[items[k]!] = Number(value) === 1));
    }
    return released;
  }

  /**
   * Resets the idle time of entries this broker holds (buffered or leased), one
   * XCLAIM … JUSTID per stream, so other brokers' reclaim leaves them alone.
   */
  async renew(entries: Iterable<HeldEntry>): Promise<void> {
    const byStream = new Map<string, string[]>();
    for (const held of entries) {
      const stream = this.keys.ready(held.tenant, held.queue, held.priority);
      const list = byStream.get(stream);
      if (list) list.push(held.entry);
      else byStream.set(stream, [held.entry]);
    }
    if (byStream.size === 0) return;
    await sendBatch(this.redis, (batch) => {
      for (const [stream, ids] of byStream) {
        for (let i = 0; i < ids.length; i += RENEW_BATCH) {
          const some = ids.slice(i, i + RENEW_BATCH);
          batch.add(
            this.redis.call('XCLAIM', stream, GROUP, this.options.consumer, 0, ...some, 'JUSTID'),
          );
        }
      }
    });
  }

  /** Depth by state of tenant×queue pairs, in one round trip. */
  async depths(pairs: ReadonlyArray<{ tenant: string; queue: string }>): Promise<QueueDepth[]> {
    if (pairs.length === 0) return [];
    const groups = pairs.map(({ tenant, queue }, index) => ({
      routingKey: this.keys.levels(tenant, queue),
      header: [],
      items: [index],
    }));
    const shared = [this.deadExpiredBy()];
    const replies = await sendPacked(this.redis, 'stats', shared, groups, (index, args) => {
      const { tenant, queue } = pairs[index]!;
      args.push(this.keys.queueBase(tenant, queue));
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

  /** Every queue that has had an index of active tenants. */
  async queues(): Promise<string[]> {
    return (await this.redis.smembers(this.keys.queues())).sort();
  }

  /**
   * Builds the set of queues from the keyspace when it does not exist yet: data
   * written before the set was kept. One SCAN at start instead of one per stats
   * read; afterwards every index write also names its queue in the set.
   * Returns how many queues were found, or undefined when the set existed.
   */
  async registerQueues(): Promise<number | undefined> {
    if ((await this.redis.exists(this.keys.queues())) === 1) return undefined;
    const found = new Set<string>();
    let cursor = '0';
    do {
      const [next, keys] = await this.redis.scan(
        cursor,
        'MATCH',
        this.keys.activeTenantsPattern(),
        'COUNT',
        1000,
      );
      for (const key of keys) found.add(this.keys.queueOfActiveTenants(key));
      cursor = next;
    } while (cursor !== '0');
    if (found.size > 0) await this.redis.sadd(this.keys.queues(), ...found);
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
    if ((await this.redis.exists(this.keys.deadTenantsIndexed())) === 1) return undefined;
    let found = 0;
    let added = 0;
    let cursor = '0';
    do {
      const [next, keys] = await this.redis.scan(
        cursor,
        'MATCH',
        this.keys.deadLettersPattern(),
        'COUNT',
        1000,
      );
      const byQueue = new Map<string, string[]>();
      for (const key of keys) {
        const pair = this.keys.deadLettersOf(key);
        if (!pair) continue;
        found++;
        const tenants = byQueue.get(pair.queue) ?? [];
        tenants.push(pair.tenant);
        byQueue.set(pair.queue, tenants);
      }
      if (byQueue.size > 0) {
        const [, ...counts] = await Promise.all([
          this.redis.sadd(this.keys.queues(), ...byQueue.keys()),
          ...[...byQueue].map(([queue, tenants]) =>
            this.redis.sadd(this.keys.deadTenants(queue), ...tenants),
          ),
        ]);
        for (const count of counts) added += count;
      }
      cursor = next;
    } while (cursor !== '0');
    await this.redis.set(this.keys.deadTenantsIndexed(), String(Date.now()));
    return { found, added };
  }

  async markActive(queue: string, tenant: string): Promise<void> {
    await sendBatch(this.redis, (batch) => this.indexTenants(batch, queue, [tenant]));
  }

  /**
   * Marks tenants as having work in a queue, and the queue as known (two
   * commands). A write that stores jobs does it on both sides of its script:
   * before, so a write cut short by a crash leaves no job outside the index;
   * after (reindexTenants), because a retirement (see retire) between the
   * first mark and the script would take the tenant out as its jobs go in.
   */
  private indexTenants(batch: Batch, queue: string, tenants: readonly string[]): void {
    this.reindexTenants(batch, queue, tenants);
    batch.add(this.redis.sadd(this.keys.queues(), queue));
  }

  private reindexTenants(batch: Batch, queue: string, tenants: readonly string[]): void {
    batch.add(this.redis.sadd(this.keys.activeTenants(queue), ...tenants));
  }

  /**
   * Takes a tenant out of the queue's index of tenants with work when it has
   * none: removes it, then reads its depth (sent on one connection without
   * waiting in between, so Redis runs them in that order), and puts it back if
   * any job is there. Returns whether it stays out.
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
    const [, [depth]] = await Promise.all([
      this.redis.srem(this.keys.activeTenants(queue), tenant),
      this.depths([{ tenant, queue }]),
    ]);
    if (depth!.waiting + depth!.leased + depth!.delayed === 0) {
      if (depth!.dead > 0) await this.redis.sadd(this.keys.deadTenants(queue), tenant);
      return true;
    }
    await this.markActive(queue, tenant);
    return false;
  }

  /** Every tenant that left the queue's index of active tenants with dead jobs (see retire). */
  async deadTenants(queue: string): Promise<string[]> {
    const tenants = new Set<string>();
    let cursor = '0';
    do {
      const [next, page] = await this.redis.sscan(
        this.keys.deadTenants(queue),
        cursor,
        'COUNT',
        1000,
      );
      for (const tenant of page) tenants.add(tenant);
      cursor = next;
    } while (cursor !== '0');
    return [...tenants];
  }

  /**
   * Takes a tenant whose dead jobs are gone (replayed, deleted, or past their
   * retention) out of the queue's index of tenants with dead jobs; as retire,
   * removed first and put back if its depth, read after, has dead jobs.
   */
  async forgetDeadTenant(queue: string, tenant: string): Promise<void> {
    const [, [depth]] = await Promise.all([
      this.redis.srem(this.keys.deadTenants(queue), tenant),
      this.depths([{ tenant, queue }]),
    ]);
    if (depth!.dead > 0) await this.redis.sadd(this.keys.deadTenants(queue), tenant);
  }

  /** Every tenant marked as having work in the queue. */
  async activeTenants(queue: string): Promise<string[]> {
    const tenants: string[] = [];
    for await (const page of this.activeTenantPages(queue)) tenants.push(...page);
    return tenants;
  }

  /** The index of a queue's active tenants, a page (about 1,000) at a time; a tenant may come twice. */
  async *activeTenantPages(queue: string): AsyncGenerator<string[]> {
    let cursor = '0';
    do {
      const [next, page] = await this.redis.sscan(
        this.keys.activeTenants(queue),
        cursor,
        'COUNT',
        1000,
      );
      if (page.length > 0) yield page;
      cursor = next;
    } while (cursor !== '0');
  }
}

const ACK_OUTCOMES: Record<number, AckOutcome> = { 0: 'ok', 1: 'stale', 2: 'unknown' };

/** Indexes of items grouped by key, groups and indexes in input order. */
function groupBy<T>(items: readonly T[], key: (item: T) => string): Map<string, number[]> {
  const groups = new Map<string, number[]>();
  items.forEach((item, index) => {
    const k = key(item);
    const list = groups.get(k);
    if (list) list.push(index);
    else groups.set(k, [index]);
  });
  return groups;
}

function encodeHeaders(headers: Readonly<Record<string, string>>): string {
  for (const _ in headers) return JSON.stringify(headers);
  return '';
}

/**
 * One tenant×queue's part of a fetch (or claim) reply from `values[i]` on (see
 * read_ready.lua), or the error its read met.
 */
function readFetchPart(
  values: ReadonlyArray<number | Buffer>,
  i: number,
  tenant: string,
  queue: string,
): { result: FetchResult | Error; next: number } {
  if (Number(values[i]) === PART_FAILED) {
    const message = String(values[i + 1]);
    return {
      result: new Error(`reading jobs of tenant ${tenant} in ${queue}: ${message}`),
      next: i + 2,
    };
  }
  const nextDue = Number(values[i]);
  const idle = Number(values[i + 1]) === 1;
  const found = Number(values[i + 2]);
  const leased = Number(values[i + 3]);
  i += 4;
  const jobs: FetchedJob[] = [];
  for (let k = 0; k < found; k++, i += FETCH_FIELDS) {
    const field = (offset: number): Buffer => values[i + offset] as Buffer;
    jobs.push({
      id: field(0).toString(),
      tenant,
      queue,
      entry: field(1).toString(),
      priority: Number(field(2).toString()),
      attempts: Number(field(3).toString()),
      maxAttempts: Number(field(4).toString()),
      timeoutMs: Number(field(5).toString()),
      // A copy: a view would keep the whole reply (up to FETCH_BATCH jobs) alive
      // for as long as this job waits in a buffer or runs.
      payload: Buffer.from(field(6)),
      headers: parseHeaders(field(7).toString()),
      createdAt: Number(field(8).toString()),
      runAt: Number(field(9).toString()),
    });
  }
  return { result: { jobs, nextDueAt: nextDue >= 0 ? nextDue : undefined, idle, leased }, next: i };
}

function parseHeaders(text: string): Record<string, string> {
  if (!text) return {};
  return JSON.parse(text) as Record<string, string>;
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
