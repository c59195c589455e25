import { packArgs, ReplyReader } from './cmsgpack.js';
import { encodeHeaders, parseHeaders } from './job-headers.js';
import { groupBy, type JobStoreContext } from './job-store-context.js';
import { sendPacked, type PackedGroup, type PackedReply } from './packed.js';
import { runScript, sendBatch, type ScriptArg } from './scripts.js';
import type { TenantIndexes } from './tenant-indexes.js';
import type {
  EnqueueOutcome,
  EnqueueReply,
  FetchRequest,
  FetchResult,
  FetchedJob,
  NewJob,
} from './types.js';

/** Most delayed jobs one fetch promotes; the rest wait for the next fetch. */
const PROMOTE_LIMIT = 500;
/** Marks a part of a fetch (or an enqueue's claim) whose read failed (see read_ready.lua). */
const PART_FAILED = -2;
/** A read's `above` when it takes jobs of any priority (priorities are 0 and up). */
const ANY_PRIORITY = -1;
/** Jobs one fetch call asks for before the next tenant goes into another call. */
const FETCH_BATCH = 1024;
/** Most records of answered calls one call deletes (see call_record.lua); the rest expire. */
const RECORDS_FORGOTTEN_PER_CALL = 64;
const DEFAULT_RECORD_MS = 30_000;

/** A call that reads jobs, sent to Redis: the key of its record, and the tenant×queues it read. */
export interface StoreCall {
  readonly record: string;
  readonly parts: ReadonlyArray<{ readonly tenant: string; readonly queue: string }>;
}

/**
 * Fetch or enqueue calls whose replies never came (a timeout, a connection
 * that failed for good). They may have run in Redis all the same, and read
 * and leased jobs this broker does not know: JobStore.abandonCall gives them
 * back. The message is the failure's.
 */
export class RepliesLost extends Error {
  constructor(
    readonly calls: readonly StoreCall[],
    cause: unknown,
  ) {
    super(cause instanceof Error ? cause.message : String(cause), { cause });
    this.name = 'RepliesLost';
  }
}

/**
 * Jobs coming in: stored (enqueue) and read into this broker's pending list,
 * by a fetch or by the enqueue that stored them (a claim).
 */
export class Intake {
  /** Calls that keep a record, sent so far: numbers their records. */
  private recordedCalls = 0;
  /** Records of calls whose answers came, for the next calls to delete. */
  private readonly answeredRecords: string[] = [];

  constructor(
    private readonly context: JobStoreContext,
    private readonly indexes: TenantIndexes,
  ) {}

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
    const { redis, keys, options } = this.context;
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
    const tenantOf = new Map<PackedGroup, string>();
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
        if (!request) return [0, ANY_PRIORITY, 0];
        claimedJobs[call] = asked + request.count;
        (claims[call] ??= []).push({ request, indexes, queue });
        const tokens = request.leaseTokens ?? [];
        return [request.count, request.above ?? ANY_PRIORITY, tokens.length, ...tokens];
      };
      const group: PackedGroup = {
        trailer,
        routingKey: keys.delayed(tenant, queue),
        header: [
          keys.queueBase(tenant, queue),
          keys.jobBase(tenant),
          keys.idempotency(tenant, ''),
          maxQueued(tenant, queue),
          queue,
        ],
        items: indexes,
      };
      tenantQueues.push(group);
      tenantOf.set(group, tenant);
    }
    const records: string[] = [];
    const shared = (call: number, first: PackedGroup): ScriptArg[] => {
      const record = this.newRecord(tenantOf.get(first)!);
      records[call] = record;
      const head = this.recordArgs(record, call);
      return [...head, now, options.idempotencyRetentionMs, PROMOTE_LIMIT];
    };
    const calls = (): StoreCall[] =>
      records.map((record, call) => ({
        record,
        parts: (claims[call] ?? []).map(({ request, queue }) => ({
          tenant: request.tenant,
          queue,
        })),
      }));
    let replies: PackedReply[];
    try {
      replies = await sendPacked(
        redis,
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
            for (const [queue, tenants] of tenantsByQueue) {
              this.indexes.indexTenants(batch, queue, tenants);
            }
          },
          after: (batch) => {
            for (const [queue, tenants] of tenantsByQueue) {
              this.indexes.reindexTenants(batch, queue, tenants);
            }
          },
        },
      );
    } catch (error) {
      throw new RepliesLost(calls(), error);
    }
    this.answered(calls());
    const { outcomes, claimed } = reply;
    replies.forEach(({ items, reader }, call) => {
      const values = reader();
      for (const index of items) {
        const code = values.number();
        outcomes[index] =
          code === 0
            ? { kind: 'stored', jobId: values.text() }
            : code === 1
              ? { kind: 'duplicate', jobId: values.text() }
              : { kind: 'full', queued: values.number() };
      }
      for (const { request, indexes, queue } of claims[call] ?? []) {
        const part = readFetchPart(values, request.tenant, queue);
        if (part instanceof Error) {
          claimed.set(request, part);
          continue;
        }
        // The script answers the jobs it has just stored without their payload
        // and headers. The payload is copied: the request's is a view into its
        // whole message, which a buffered or leased job would keep alive.
        const stored = new Map(indexes.map((index) => [jobs[index]!.id, jobs[index]!]));
        const jobsRead = part.jobs.map((job) => {
          const own = stored.get(job.id);
          return own ? { ...job, payload: Buffer.from(own.payload), headers: own.headers } : job;
        });
        claimed.set(request, { ...part, jobs: jobsRead });
      }
    });
  }

  /**
   * Prefetch for many tenants of a queue in one round trip: `count` new jobs at
   * most for each, fewer when its streams run dry. Calls carry many tenants
   * each, up to about FETCH_BATCH jobs asked for. With `above`, only jobs of
   * higher priorities are read. With `leaseTokens`, the first jobs read are
   * leased at once under those tokens (a direct dispatch).
   * Answers per request, in order; a tenant whose read failed gets its Error,
   * and the others their jobs (some of them leased already).
   */
  async fetch(
    queue: string,
    wants: readonly FetchRequest[],
    now: number,
  ): Promise<Array<FetchResult | Error>> {
    const { keys } = this.context;
    const calls: StoreCall[] = [];
    let replies: unknown[];
    try {
      replies = await sendBatch(this.context.redis, (batch) => {
        for (let start = 0; start < wants.length;) {
          const first = wants[start]!.tenant;
          const record = this.newRecord(first);
          const args = [...this.recordArgs(record, calls.length), now, PROMOTE_LIMIT];
          const parts: StoreCall['parts'][number][] = [];
          for (let asked = 0; start < wants.length && asked < FETCH_BATCH; start++) {
            const { tenant, count, above = ANY_PRIORITY, leaseTokens = [] } = wants[start]!;
            args.push(keys.queueBase(tenant, queue), keys.jobBase(tenant), count, above);
            args.push(leaseTokens.length, ...leaseTokens);
            parts.push({ tenant, queue });
            asked += count;
          }
          calls.push({ record, parts });
          batch.script('fetch', [keys.levels(first, queue)], [packArgs(args)], true);
        }
      });
    } catch (error) {
      throw new RepliesLost(calls, error);
    }
    this.answered(calls);
    const results: Array<FetchResult | Error> = [];
    for (const reply of replies) {
      const values = ReplyReader.ofList(reply as Buffer);
      while (values.remaining > 0) {
        results.push(readFetchPart(values, wants[results.length]!.tenant, queue));
      }
    }
    return results;
  }

  /**
   * Gives back what a call whose reply never came had read (see
   * abandon_call.lua), or keeps it from doing anything if it has not run yet.
   * Answers how many jobs went back to their streams.
   */
  async abandonCall(call: StoreCall): Promise<number> {
    const given = await runScript(
      this.context.redis,
      'abandon_call',
      [call.record],
      [this.context.options.consumer, this.recordMs()],
    );
    return Number(given);
  }

  private recordMs(): number {
    return this.context.options.recordMs ?? DEFAULT_RECORD_MS;
  }

  private newRecord(tenant: string): string {
    const { keys, options } = this.context;
    return keys.callRecord(tenant, options.consumer, ++this.recordedCalls);
  }

  /**
   * The arguments every recorded call begins with (see call_record.lua): this
   * broker's consumer name, the call's record key and how long it is kept,
   * and (in a batch's first call) the records of answered calls to delete.
   */
  private recordArgs(record: string, callInBatch: number): ScriptArg[] {
    const forget =
      callInBatch === 0 ? this.answeredRecords.splice(0, RECORDS_FORGOTTEN_PER_CALL) : [];
    return [this.context.options.consumer, record, this.recordMs(), forget.length, ...forget];
  }

  /** The calls answered: their records are deleted by the next calls. */
  private answered(calls: readonly StoreCall[]): void {
    for (const call of calls) this.answeredRecords.push(call.record);
  }
}

/**
 * One tenant×queue's part of a fetch (or claim) reply, read from `values`
 * (see read_ready.lua), or the error its read met.
 */
function readFetchPart(values: ReplyReader, tenant: string, queue: string): FetchResult | Error {
  const nextDue = values.number();
  if (nextDue === PART_FAILED) {
    return new Error(`reading jobs of tenant ${tenant} in ${queue}: ${values.text()}`);
  }
  const idle = values.number() === 1;
  const found = values.number();
  const leased = values.number();
  const jobs: FetchedJob[] = [];
  for (let k = 0; k < found; k++) {
    jobs.push({
      id: values.text(),
      tenant,
      queue,
      entry: values.text(),
      priority: values.number(),
      attempts: values.number(),
      maxAttempts: values.number(),
      timeoutMs: values.number(),
      // A copy: a view would keep the whole reply (up to FETCH_BATCH jobs) alive
      // for as long as this job waits in a buffer or runs.
      payload: values.bytes(),
      headers: parseHeaders(values.text()),
      createdAt: values.number(),
      runAt: values.number(),
    });
  }
  return { jobs, nextDueAt: nextDue >= 0 ? nextDue : undefined, idle, leased };
}
