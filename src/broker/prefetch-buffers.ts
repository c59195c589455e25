import { WeightedLine, type TenantLimits } from '../scheduler/index.js';
import type { PrefetchUse } from '../telemetry/metrics.js';
import type { FetchedJob, FetchRequest, FetchResult } from '../store/types.js';
import { jobBytes } from './session.js';
import { MAX_PRIORITY } from './validation.js';

/** The hard bound of a queue's prefetch buffers (see PrefetchBuffers). */
export interface PrefetchBound {
  /** Most jobs the buffers hold. */
  readonly jobs: number;
  /** Most payload and header bytes the buffers hold (one job may go past it). */
  readonly bytes: number;
  /** The largest job the broker accepts: the size assumed before a fetch tells. */
  readonly maxJobBytes: number;
}

/**
 * Prefetch: each active tenant keeps a small buffer of jobs already read into
 * this broker's pending list, so a dispatch never waits on Redis. The buffer is
 * refilled when it falls to half, highest priorities first, and news of jobs
 * that beat the lowest it holds reads those at once (see `told`). Its size is
 * the tenant's share of a budget per queue, with a floor of PREFETCH_MIN jobs
 * (one when jobs are big), so a tenant's jobs still go out in runs of a few per
 * lease and complete call.
 * The shares alone do not bound memory: past about 2,000 active tenants the
 * floors add up past the budget (10,000 tenants buffered 37,300 jobs; 1,000
 * tenants with 256 KiB jobs 256 MiB against a budget of 64 MiB). So the
 * PrefetchBound holds as a hard bound: a fetch that would take the buffers
 * past it waits, its tenant in a line that is served in weighted turns
 * (WeightedLine) as dispatches make room.
 */
export const PREFETCH_MAX = 512;
const PREFETCH_MIN = 4;
/** The job count the shares divide (the byte budget is the bound's). */
const PREFETCH_BUDGET = 8192;
/**
 * A rate-limited tenant buffers about this long of its rate, no more: a
 * backlog read into one broker's pending list is out of reach of the other
 * brokers' workers, and a tenant at 10 jobs/s had 512 jobs (51 s of its
 * rate) held by whichever broker fetched first.
 */
const PREFETCH_RATE_SECONDS = 1;
/**
 * How far past its target (a share of it) a tenant's buffer may grow with jobs
 * that beat the lowest priority it holds (see `told`). Reads of such jobs
 * start again at half this past the target, so a flood of them is read in
 * runs of an eighth of the target, not one fetch per dispatch.
 */
const PRIORITY_HEADROOM = 0.25;

/** A read a tenant's buffer wants: `count` jobs at most, of priorities above `above` only when set. */
export type WantedRead = Pick<FetchRequest, 'count' | 'above'>;

/**
 * A queue's prefetch buffers and their accounting under the PrefetchBound:
 * what the buffers hold, what the fetches in flight are expected to add, the
 * job sizes learnt from fetches, and the line of tenants waiting for room.
 * QueueDispatcher decides when to fetch and dispatch; this says how much.
 */
export class PrefetchBuffers {
  readonly buffers = new Map<string, FetchedJob[]>();
  /**
   * Tenants whose last fetch came back short: their streams had nothing more
   * to hand out, so emptying the buffer does not fetch again (at low rates that
   * was a second, empty round trip per job); new work (onWork) does.
   */
  readonly drained = new Set<string>();
  /**
   * Tenants told of unread jobs that may beat the lowest priority their
   * buffer holds: the highest priority told (MAX_PRIORITY when the news did
   * not say). A buffer at its target once read nothing more until dispatches
   * took it down to half, and a priority-9 job enqueued then went out after
   * half a buffer of priority-0 ones (256 jobs, each as long as a job runs).
   * Such news now reads at once, but only jobs that beat the buffer's lowest,
   * up to PRIORITY_HEADROOM past its target: news of jobs no better than
   * those buffered reads nothing, so a flood of them leaves the buffer at its
   * target.
   */
  private readonly told = new Map<string, number>();
  /** Tenants whose fetch waits for room under the bound, in weighted turns. */
  readonly waiting = new WeightedLine();
  /** Mean job size (bytes) of each tenant's last fetch; unknown until its first. */
  private readonly jobSize = new Map<string, number>();
  /**
   * A tenant's job size until its own is known: the largest mean of a fetch in
   * this queue, and before the first the largest a job may be, so a burst of
   * new tenants cannot take the buffers past the bound on a guess.
   */
  private queueJobSize: number | undefined;
  /** What the buffers hold, and what the fetches in flight are expected to add. */
  private readonly held = { jobs: 0, bytes: 0 };
  private readonly expected = { jobs: 0, bytes: 0 };

  constructor(
    private readonly queue: string,
    private readonly limits: TenantLimits,
    private readonly bound: PrefetchBound,
  ) {}

  /**
   * How many jobs of the tenant to keep buffered: its share of the count and
   * byte budgets, by weight. Why by weight: when the budgets are tight (many
   * tenants, big jobs) a tenant's buffer is all the DRR sees of its backlog; a
   * tenant of weight 4 with one job buffered was dispatched as often as one of
   * weight 1 with one. A tenant under an in-flight cap buffers its cap
   * (PREFETCH_MIN at least), no more, as a rate-limited one buffers its rate:
   * at max_in_flight 1, with its lease held, it read the whole bound ahead (512
   * jobs, or 64 MiB of big ones), and no other tenant of the queue was read
   * until that lease ended.
   */
  target(tenant: string): number {
    const tenants = Math.max(1, this.buffers.size);
    const weight = this.limits.weight(tenant, this.queue);
    const count = Math.max(
      PREFETCH_MIN,
      Math.min(
        PREFETCH_MAX,
        Math.floor((PREFETCH_BUDGET * weight) / tenants),
        Math.ceil(this.limits.rate(tenant, this.queue) * PREFETCH_RATE_SECONDS),
        this.limits.maxInFlight(tenant, this.queue),
      ),
    );
    const size = this.jobSize.get(tenant);
    if (size === undefined) return PREFETCH_MIN; // a first, small fetch learns the job size
    const share = Math.floor((this.bound.bytes * weight) / tenants / Math.max(1, size));
    return Math.max(1, Math.min(count, share));
  }

  /**
   * The read the tenant's buffer wants now, if any: up to its target, of any
   * priority; at its target, only jobs that beat the lowest it holds, when it
   * was told such jobs wait unread, up to PRIORITY_HEADROOM past the target.
   */
  wanted(tenant: string): WantedRead | undefined {
    const buffer = this.buffers.get(tenant) ?? [];
    const target = this.target(tenant);
    if (buffer.length < target) return { count: target - buffer.length };
    const above = this.beaten(tenant, buffer);
    const count = target + headroom(target) - buffer.length;
    return above !== undefined && count > 0 ? { count, above } : undefined;
  }

  /**
   * Whether a buffer a dispatch or a read has left should be read again: at
   * half its target, or at half its headroom past it while it was told of
   * unread jobs that beat its lowest. (A tenant whose streams ran dry is not
   * read again by either: see `drained`.)
   */
  wantsRead(tenant: string, buffer: readonly FetchedJob[]): boolean {
    const target = this.target(tenant);
    if (buffer.length <= target / 2) return true;
    return (
      buffer.length <= target + headroom(target) / 2 && this.beaten(tenant, buffer) !== undefined
    );
  }

  /** The tenant has unread jobs of up to this priority (undefined: not known). */
  tell(tenant: string, priority = MAX_PRIORITY): void {
    this.told.set(tenant, Math.max(priority, this.told.get(tenant) ?? priority));
  }

  /** A read of the tenant is planned: it reads the highest priorities first, so what it was told is heard. */
  reading(tenant: string): void {
    this.told.delete(tenant);
  }

  /**
   * The lowest priority in the buffer, if the tenant was told of unread jobs
   * that beat it. News that beats nothing buffered is dropped: the jobs it
   * told of wait behind those buffered anyway, and each refill reads the
   * highest priorities first.
   */
  private beaten(tenant: string, buffer: readonly FetchedJob[]): number | undefined {
    const told = this.told.get(tenant);
    const lowest = buffer.at(-1)?.priority;
    if (told === undefined || lowest === undefined) return undefined;
    if (told > lowest) return lowest;
    this.told.delete(tenant);
    return undefined;
  }

  /**
   * How many jobs of `size` bytes the bound has room for now, counting the
   * fetches in flight at their expected size. One job always fits while room
   * is left, so a job bigger than the byte bound is not kept out for good.
   */
  roomNow(size: number): number {
    const jobs = this.bound.jobs - this.held.jobs - this.expected.jobs;
    const bytes = this.bound.bytes - this.held.bytes - this.expected.bytes;
    if (jobs <= 0 || bytes <= 0) return 0;
    return size > 0 ? Math.min(jobs, Math.max(1, Math.floor(bytes / size))) : jobs;
  }

  /**
   * Whether the buffers themselves hold at least half the bound. Only then is a
   * wait for room worth a warning that asks for more memory: a wait the fetches
   * in flight cause ends as they answer, and before a queue's first answer each
   * expects jobs of the largest size allowed (a fresh queue of small jobs was
   * "bound reached" with nothing buffered).
   */
  boundHeld(): boolean {
    const { jobs, bytes } = this.bound;
    return this.held.jobs * 2 >= jobs || this.held.bytes * 2 >= bytes;
  }

  expectedSize(tenant: string): number {
    return this.jobSize.get(tenant) ?? this.queueJobSize ?? this.bound.maxJobBytes;
  }

  /** A fetch is planned: its jobs, at their expected size, hold room until it answers. */
  expect(count: number, expectedBytes: number): void {
    this.expected.jobs += count;
    this.expected.bytes += expectedBytes;
  }

  /** A planned fetch has answered (or failed): its expected jobs no longer hold room. */
  settle({ count, expectedBytes }: { count: number; expectedBytes: number }): void {
    this.expected.jobs -= count;
    this.expected.bytes -= expectedBytes;
  }

  /**
   * Takes in a read: learns the job size, whether the streams ran dry, and
   * returns the tenant's buffer with the jobs not leased at once added (not
   * yet stored in `buffers` when new). A read that came back full may have
   * left jobs of its lowest priority or above unread: when those beat the
   * buffer's lowest, the buffer is told of them, so they are read before it.
   */
  add(tenant: string, result: FetchResult, { count, above }: WantedRead): FetchedJob[] {
    let total = 0;
    let kept = 0; // the bytes of the jobs not leased at once, which go to the buffer
    result.jobs.forEach((job, i) => {
      const size = jobBytes(job);
      total += size;
      if (i >= result.leased) kept += size;
    });
    if (result.jobs.length > 0) {
      this.jobSize.set(tenant, total / result.jobs.length);
      this.queueJobSize = Math.max(this.queueJobSize ?? 0, total / result.jobs.length);
    }
    // A read of higher priorities only that came back short says nothing of the others.
    if (result.jobs.length < count) {
      if (above === undefined) this.drained.add(tenant);
    } else this.drained.delete(tenant);
    const current = this.buffers.get(tenant) ?? [];
    for (const job of result.jobs.slice(result.leased)) insertByPriority(current, job);
    this.held.jobs += result.jobs.length - result.leased;
    this.held.bytes += kept;
    const lastRead = result.jobs.at(-1);
    const lowest = current.at(-1);
    if (result.jobs.length === count && lastRead && lowest && lastRead.priority > lowest.priority) {
      this.tell(tenant, lastRead.priority);
    }
    return current;
  }

  /** A job has left its buffer for a dispatch: it holds no room any more. */
  taken(size: number): void {
    this.held.jobs--;
    this.held.bytes -= size;
  }

  /**
   * Keeps the first `keep` jobs of the tenant's buffer (its highest
   * priorities) and returns the others, which hold no room any more.
   */
  trim(tenant: string, keep: number): FetchedJob[] {
    const buffer = this.buffers.get(tenant);
    if (!buffer) return [];
    const rest = buffer.splice(keep);
    for (const job of rest) this.taken(jobBytes(job));
    if (buffer.length === 0) this.buffers.delete(tenant);
    return rest;
  }

  /** Nothing left for the tenant: what is known of it goes. */
  forget(tenant: string): void {
    this.buffers.delete(tenant);
    this.drained.delete(tenant);
    this.jobSize.delete(tenant);
    this.waiting.forget(tenant);
    this.told.delete(tenant);
  }

  /** Jobs this broker holds in its pending list without a lease (to renew them). */
  *jobs(): Iterable<FetchedJob> {
    for (const buffer of this.buffers.values()) yield* buffer;
  }

  /** How many tenants each of its per-tenant tables holds (see QueueDispatcher.tenantTables). */
  tenantTables(): {
    buffered: number;
    drained: number;
    jobSizes: number;
    lineTags: number;
    told: number;
  } {
    return {
      buffered: this.buffers.size,
      drained: this.drained.size,
      jobSizes: this.jobSize.size,
      lineTags: this.waiting.tagged,
      told: this.told.size,
    };
  }

  use(): PrefetchUse {
    return { jobs: this.held.jobs, bytes: this.held.bytes, waiting: this.waiting.size };
  }
}

/** How far past `target` a buffer may grow with jobs that beat its lowest (see PRIORITY_HEADROOM). */
function headroom(target: number): number {
  return Math.ceil(target * PRIORITY_HEADROOM);
}

/**
 * Keeps a buffer ordered by priority, highest first and FIFO within a level, so a
 * high-priority job fetched after lower ones already buffered still goes first.
 */
function insertByPriority(buffer: FetchedJob[], job: FetchedJob): void {
  let index = buffer.length;
  while (index > 0 && buffer[index - 1]!.priority < job.priority) index--;
  buffer.splice(index, 0, job);
}
