/**
 * Pages of job records for the Admin listings of a tenant×queue: its dead
 * letter queue, and the jobs that wait to run in it. Read while jobs move on,
 * so a listing is a walk, not a snapshot: a job that moves meanwhile (leased,
 * promoted, replayed) may be missed or met twice across pages.
 */
import type { JobStore } from '../store/job-store.js';
import type { JobRecord, ReadyPosition } from '../store/types.js';
import { guarded, invalidArgument, quoted } from './errors.js';
import { jobBytes } from './session.js';

const MAX_PAGE = 1000;
const DEFAULT_PAGE = 100;
/**
 * Most bytes of job data a page carries (at least one job), like a
 * LeaseBatch: well inside grpc-js's default 4 MiB receive limit, so a client
 * with default options reads a page of large payloads as more, shorter pages.
 */
const PAGE_BYTES = 1024 * 1024;
/** Job records read from Redis at a time, so a page of large ones is not read whole. */
const READ_CHUNK = 16;
/** A page token of the dead letter queue and the delayed set: the decimal offset of the next page. */
const OFFSET_TOKEN = /^\d{1,15}$/;
/** A page token of the ready streams: the priority level and entry a page ended at. */
const ENTRY_TOKEN = /^(\d):(\d{1,20}-\d{1,20})$/;
/**
 * Ready-stream entries one page looks at, at most. The head of a busy stream
 * is entries of jobs out with workers (they stay until completed), which a
 * listing of waiting jobs skips; a page ends at this many, short or empty but
 * with a next token, so one call does not walk a whole stream.
 */
const MAX_ENTRIES_PER_PAGE = 10_000;

export interface JobPage {
  jobs: JobRecord[];
  /** '' on the last page. */
  nextPageToken: string;
}

export class JobPages {
  constructor(private readonly store: JobStore) {}

  /** Dead jobs, newest first, with the dead letter queue's size. */
  dead(
    tenant: string,
    queue: string,
    pageSize: number,
    pageToken: string,
  ): Promise<JobPage & { total: number }> {
    return this.byOffset(
      tenant,
      pageSize,
      pageToken,
      (offset, size) => this.store.listDead(tenant, queue, offset, size),
      () => true,
    );
  }

  /** Delayed jobs and retries waiting out their backoff, soonest due first. */
  async delayed(
    tenant: string,
    queue: string,
    pageSize: number,
    pageToken: string,
  ): Promise<JobPage> {
    const { jobs, nextPageToken } = await this.byOffset(
      tenant,
      pageSize,
      pageToken,
      (offset, size) => this.store.listDelayed(tenant, queue, offset, size),
      (job) => job.state === 'delayed' || job.state === 'retrying',
    );
    return { jobs, nextPageToken };
  }

  /**
   * Jobs ready to run, in the order brokers read them: highest priority
   * first, then oldest first. Jobs already read into a broker's buffer are
   * among them (still WAITING); leased ones are not.
   */
  async waiting(
    tenant: string,
    queue: string,
    pageSize: number,
    pageToken: string,
  ): Promise<JobPage> {
    const size = checkPageSize(pageSize);
    let position = positionOf(pageToken);
    const jobs: JobRecord[] = [];
    let bytes = 0;
    for (let looked = 0; looked < MAX_ENTRIES_PER_PAGE;) {
      const entries = await guarded(this.store.readyEntries(tenant, queue, position, READ_CHUNK));
      if (entries.length === 0) return { jobs, nextPageToken: '' };
      const records = await guarded(
        this.store.getJobs(
          tenant,
          entries.map((e) => e.jobId),
        ),
      );
      const byId = new Map(records.map((job) => [job.id, job]));
      for (const { level, entry, jobId } of entries) {
        const job = byId.get(jobId);
        if (job?.state === 'waiting' && job.entry === entry) {
          const jobSize = dataBytes(job);
          if (jobs.length === size || (jobs.length > 0 && bytes + jobSize > PAGE_BYTES)) {
            return { jobs, nextPageToken: tokenOf(position) };
          }
          jobs.push(job);
          bytes += jobSize;
        }
        position = { level, entry };
        looked++;
      }
    }
    return { jobs, nextPageToken: tokenOf(position) };
  }

  /** A page of a sorted set of job ids, its token the offset of the next page. */
  private async byOffset(
    tenant: string,
    pageSize: number,
    pageToken: string,
    list: (offset: number, size: number) => Promise<{ ids: string[]; total: number }>,
    keep: (job: JobRecord) => boolean,
  ): Promise<JobPage & { total: number }> {
    const size = checkPageSize(pageSize);
    const offset = offsetOf(pageToken);
    const { ids, total } = await guarded(list(offset, size));
    const { jobs, read } = await this.readPage(tenant, ids, keep);
    const next = offset + read;
    return { jobs, nextPageToken: next < total ? String(next) : '', total };
  }

  /**
   * The records of `ids` that `keep` accepts and that fit in PAGE_BYTES (at
   * least one), and how many ids they used up: the next page starts after those.
   */
  private async readPage(
    tenant: string,
    ids: readonly string[],
    keep: (job: JobRecord) => boolean,
  ): Promise<{ jobs: JobRecord[]; read: number }> {
    const jobs: JobRecord[] = [];
    let bytes = 0;
    let read = 0;
    while (read < ids.length) {
      const chunk = ids.slice(read, read + READ_CHUNK);
      const records = await guarded(this.store.getJobs(tenant, chunk));
      const byId = new Map(records.map((job) => [job.id, job]));
      for (const id of chunk) {
        const job = byId.get(id);
        if (job && keep(job)) {
          const size = dataBytes(job);
          if (jobs.length > 0 && bytes + size > PAGE_BYTES) return { jobs, read };
          jobs.push(job);
          bytes += size;
        }
        read++;
      }
    }
    return { jobs, read };
  }
}

function checkPageSize(pageSize: number): number {
  const size = pageSize || DEFAULT_PAGE;
  if (!Number.isInteger(size) || size < 1 || size > MAX_PAGE) {
    throw invalidArgument(`page_size is ${pageSize}; it must be from 1 to ${MAX_PAGE}`);
  }
  return size;
}

function notOurs(pageToken: string): Error {
  return invalidArgument(`page_token ${quoted(pageToken)} is not one this broker returned`);
}

function offsetOf(pageToken: string): number {
  if (pageToken === '') return 0;
  if (!OFFSET_TOKEN.test(pageToken)) throw notOurs(pageToken);
  return Number(pageToken);
}

/** The largest half of a stream entry id (a 64-bit unsigned number). */
const MAX_ENTRY_PART = 2n ** 64n - 1n;

/**
 * The position a ready-stream page token names. Its entry id must be one
 * Redis could have answered: past 64 bits a half is refused by XRANGE, and no
 * page can start after the largest id; either reached Redis as an INTERNAL
 * error, logged as the broker's own.
 */
function positionOf(pageToken: string): ReadyPosition | undefined {
  if (pageToken === '') return undefined;
  const match = ENTRY_TOKEN.exec(pageToken);
  if (!match) throw notOurs(pageToken);
  const [ms, seq] = match[2]!.split('-').map(BigInt) as [bigint, bigint];
  const last = ms === MAX_ENTRY_PART && seq === MAX_ENTRY_PART;
  if (ms > MAX_ENTRY_PART || seq > MAX_ENTRY_PART || last) throw notOurs(pageToken);
  return { level: Number(match[1]), entry: match[2]! };
}

function tokenOf(position: ReadyPosition | undefined): string {
  return position ? `${position.level}:${position.entry}` : '';
}

/** Bytes a job's variable fields take in a Job message, near enough to bound a page. */
function dataBytes(job: JobRecord): number {
  const outcome = (job.progress?.length ?? 0) + (job.result?.length ?? 0) + job.lastError.length;
  return 256 + jobBytes(job) + outcome;
}
